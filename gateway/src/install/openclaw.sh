# --- OpenClaw (gateway/src/install/openclaw.sh) -----------------------------------------------
# The server goes in OpenClaw's config (`mcp.servers.shellgate`, JSON5) with the token as
# ${SHELLGATE_MCP_TOKEN}, which OpenClaw reads from its state directory's .env (mode 0600). With
# an `openclaw` that has `mcp set`, through it; otherwise the file is edited with Node.js and the
# json5 parser OpenClaw itself ships. A file that cannot be parsed safely is never rewritten: the
# script stops with the snippet to paste.

OPENCLAW_STATE=${OPENCLAW_STATE_DIR:-$HOME/.openclaw}
OPENCLAW_CONFIG=${OPENCLAW_CONFIG_PATH:-$OPENCLAW_STATE/openclaw.json}
ENV_NAME=SHELLGATE_MCP_TOKEN

# The entry, as JSON (the placeholder stays literal: OpenClaw substitutes it).
# shellcheck disable=SC2016
entry() {
	printf '{"url":"%s/mcp","transport":"streamable-http","headers":{"Authorization":"Bearer ${%s}"}}' \
		"$SHELLGATE_URL" "$ENV_NAME"
}

snippet() {
	say "Add this to $OPENCLAW_CONFIG (inside the top-level object):"
	say "  \"mcp\": {\"servers\": {\"shellgate\": $(entry)}}"
	say "and this line to $OPENCLAW_STATE/.env (mode 0600):"
	say "  $ENV_NAME=<your sg_ token>"
}

# The folder OpenClaw's own package is installed in (its json5 module is found from there).
openclaw_package() {
	bin=$(command -v openclaw 2>/dev/null) || return 0
	real=$(readlink -f "$bin" 2>/dev/null) || real=$bin
	dirname "$real"
}

# Sets (install) or removes (uninstall) mcp.servers.shellgate in the config file with Node.js.
# Exit status 3: the file cannot be parsed safely (JSON5 without a json5 parser at hand).
edit_config() {
	SG_FILE=$OPENCLAW_CONFIG SG_MODE=$1 SG_ENTRY=$(entry) SG_PACKAGE=$(openclaw_package) node -e '
const fs = require("fs");
const { SG_FILE: file, SG_MODE: mode, SG_ENTRY: entry, SG_PACKAGE: pkg } = process.env;
let text = "";
try { text = fs.readFileSync(file, "utf8"); } catch (e) { if (e.code !== "ENOENT") throw e; }
if (!text.trim() && mode === "uninstall") process.exit(0);
let config = {};
let plain = true;
if (text.trim()) {
  try { config = JSON.parse(text); } catch {
    plain = false;
    let JSON5;
    try { JSON5 = require(require.resolve("json5", { paths: [pkg || process.cwd(), ...require("module").globalPaths] })); } catch { process.exit(3); }
    try { config = JSON5.parse(text); } catch { process.exit(3); }
  }
}
if (config === null || typeof config !== "object" || Array.isArray(config)) process.exit(3);
const mcp = config.mcp || {};
const servers = mcp.servers || {};
if (mode === "install") servers.shellgate = JSON.parse(entry); else delete servers.shellgate;
if (Object.keys(servers).length) mcp.servers = servers; else delete mcp.servers;
if (Object.keys(mcp).length) config.mcp = mcp; else delete config.mcp;
if (!plain) fs.copyFileSync(file, file + ".shellgate-backup");
fs.writeFileSync(file + ".shellgate-tmp", JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
fs.renameSync(file + ".shellgate-tmp", file);
if (!plain) console.log("(the comments of " + file + " are kept in " + file + ".shellgate-backup)");
'
}

has_mcp_set() {
	have openclaw && openclaw mcp set --help >/dev/null 2>&1
}

install() {
	if has_mcp_set; then
		openclaw mcp unset shellgate >/dev/null 2>&1 || :
		openclaw mcp set shellgate "$(entry)" >/dev/null || die "openclaw mcp set failed; the shellgate entry was not added"
	elif have node; then
		mkdir -p "$(dirname "$OPENCLAW_CONFIG")"
		status=0
		edit_config install || status=$?
		if [ "$status" -eq 3 ]; then
			snippet
			die "$OPENCLAW_CONFIG cannot be parsed safely here; nothing was changed"
		fi
		[ "$status" -eq 0 ] || die "editing $OPENCLAW_CONFIG failed; nothing was changed"
	else
		snippet
		die "Node.js is needed to edit $OPENCLAW_CONFIG; nothing was changed"
	fi
	mkdir -p "$OPENCLAW_STATE"
	env_line "$OPENCLAW_STATE/.env" "$ENV_NAME" "$SHELLGATE_TOKEN"
	say "Restart the OpenClaw gateway to load it."
}

uninstall() {
	if has_mcp_set; then
		openclaw mcp unset shellgate >/dev/null 2>&1 || :
	elif [ -f "$OPENCLAW_CONFIG" ]; then
		have node || die "Node.js is needed to edit $OPENCLAW_CONFIG: remove mcp.servers.shellgate by hand"
		edit_config uninstall || die "$OPENCLAW_CONFIG cannot be parsed safely here: remove mcp.servers.shellgate by hand"
	fi
	env_line "$OPENCLAW_STATE/.env" "$ENV_NAME"
}
