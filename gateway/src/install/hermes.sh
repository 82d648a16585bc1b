# --- Hermes (gateway/src/install/hermes.sh) ---------------------------------------------------
# `hermes mcp add` asks its questions on the terminal (and reads the token with getpass), so the
# script writes what it would: `mcp_servers.shellgate` in $HERMES_HOME/config.yaml with the
# header `Authorization: Bearer ${SHELLGATE_MCP_TOKEN}`, and the token in $HERMES_HOME/.env (mode
# 0600), which Hermes loads at start. The YAML is edited with Hermes's own Python (it ships
# PyYAML), else python3 with PyYAML; without either the script stops with the snippet to paste.

HERMES_DIR=${HERMES_HOME:-$HOME/.hermes}
HERMES_CONFIG="$HERMES_DIR/config.yaml"
ENV_NAME=SHELLGATE_MCP_TOKEN

snippet() {
	say "Add this to $HERMES_CONFIG:"
	say "mcp_servers:"
	say "  shellgate:"
	say "    url: \"$SHELLGATE_URL/mcp\""
	say "    headers:"
	say "      Authorization: \"Bearer \${$ENV_NAME}\""
	say "and this line to $HERMES_DIR/.env (mode 0600):"
	say "  $ENV_NAME=<your sg_ token>"
}

# A Python that can read and write YAML: the one Hermes runs on (its launcher's #! line), else
# python3.
yaml_python() {
	if bin=$(command -v hermes 2>/dev/null); then
		py=$(sed -n '1s/^#! *//p' "$bin" | cut -d' ' -f1)
		case $py in
		*python*) if [ -x "$py" ] && "$py" -c 'import yaml' 2>/dev/null; then
			echo "$py"
			return
		fi ;;
		esac
	fi
	if have python3 && python3 -c 'import yaml' 2>/dev/null; then
		echo python3
	fi
}

# Sets (install) or removes (uninstall) mcp_servers.shellgate, keeping every other setting. A
# file that is not a YAML mapping is never rewritten (exit status 3).
# shellcheck disable=SC2016
edit_config() {
	SG_FILE=$HERMES_CONFIG SG_MODE=$2 SG_URL="$SHELLGATE_URL/mcp" SG_ENV=$ENV_NAME "$1" -c '
import os, sys, yaml
file, mode = os.environ["SG_FILE"], os.environ["SG_MODE"]
try:
    with open(file, encoding="utf-8") as f:
        text = f.read()
except FileNotFoundError:
    text = ""
try:
    config = yaml.safe_load(text)
except yaml.YAMLError:
    sys.exit(3)
if config is None:
    if mode == "uninstall":
        sys.exit(0)
    config = {}
if not isinstance(config, dict):
    sys.exit(3)
servers = config.get("mcp_servers") or {}
if not isinstance(servers, dict):
    sys.exit(3)
if mode == "install":
    servers["shellgate"] = {
        "url": os.environ["SG_URL"],
        "headers": {"Authorization": "Bearer ${" + os.environ["SG_ENV"] + "}"},
        "enabled": True,
    }
else:
    servers.pop("shellgate", None)
if servers:
    config["mcp_servers"] = servers
else:
    config.pop("mcp_servers", None)
if "#" in text:
    with open(file + ".shellgate-backup", "w", encoding="utf-8") as f:
        f.write(text)
    print("(the comments of " + file + " are kept in " + file + ".shellgate-backup)")
fd = os.open(file + ".shellgate-tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w", encoding="utf-8") as f:
    yaml.safe_dump(config, f, sort_keys=False, allow_unicode=True)
os.replace(file + ".shellgate-tmp", file)
'
}

install() {
	py=$(yaml_python)
	if [ -z "$py" ]; then
		snippet
		die "no Python with PyYAML here to edit $HERMES_CONFIG; nothing was changed"
	fi
	mkdir -p "$HERMES_DIR"
	status=0
	edit_config "$py" install || status=$?
	if [ "$status" -ne 0 ]; then
		snippet
		die "$HERMES_CONFIG is not a YAML mapping this script can edit safely; nothing was changed"
	fi
	env_line "$HERMES_DIR/.env" "$ENV_NAME" "$SHELLGATE_TOKEN"
	say "Start a new Hermes session (or /reload-mcp) to load it."
}

uninstall() {
	if [ -f "$HERMES_CONFIG" ]; then
		py=$(yaml_python)
		[ -n "$py" ] || die "no Python with PyYAML here: remove mcp_servers.shellgate from $HERMES_CONFIG by hand"
		edit_config "$py" uninstall || die "$HERMES_CONFIG cannot be edited safely: remove mcp_servers.shellgate by hand"
	fi
	env_line "$HERMES_DIR/.env" "$ENV_NAME"
}
