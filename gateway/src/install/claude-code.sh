# --- Claude Code (gateway/src/install/claude-code.sh) -----------------------------------------
# The server goes in with Claude Code's own CLI, at user scope (`claude mcp add-json`, the entry
# read from standard input so the token never shows in a process listing). A SessionStart hook in
# settings.json prints Shellgate's policy into each new session; it reads the token from a curl
# config file of mode 0600 next to it.

CLAUDE_DIR=${CLAUDE_CONFIG_DIR:-$HOME/.claude}
SETTINGS="$CLAUDE_DIR/settings.json"
CURLRC="$CLAUDE_DIR/shellgate.curlrc"

# Adds (install) or removes (uninstall) our SessionStart hook in settings.json, keeping every
# other setting and hook; with Node.js, else Python. Our hook is the one that reads $CURLRC.
edit_settings() {
	mode=$1
	if [ "$mode" = uninstall ] && [ ! -f "$SETTINGS" ]; then
		return 0
	fi
	command="curl -fsS --max-time 5 -K '$CURLRC' || echo 'Shellgate could not be reached: call the shellgate bootstrap tool before using it.'"
	if have node; then
		SG_FILE=$SETTINGS SG_MODE=$mode SG_COMMAND=$command node -e '
const fs = require("fs");
const { SG_FILE: file, SG_MODE: mode, SG_COMMAND: command } = process.env;
let text = "";
try { text = fs.readFileSync(file, "utf8"); } catch (e) { if (e.code !== "ENOENT") throw e; }
const settings = text.trim() ? JSON.parse(text) : {};
if (settings === null || typeof settings !== "object" || Array.isArray(settings)) throw new Error("not a JSON object");
const hooks = settings.hooks || {};
const ours = (h) => h && typeof h.command === "string" && h.command.includes("shellgate.curlrc");
const groups = (hooks.SessionStart || [])
  .map((g) => (g.hooks || []).some(ours) ? { ...g, hooks: g.hooks.filter((h) => !ours(h)) } : g)
  .filter((g) => !(g.hooks && g.hooks.length === 0));
if (mode === "install") groups.push({ matcher: "startup|resume|clear|compact", hooks: [{ type: "command", command, timeout: 10 }] });
if (groups.length) hooks.SessionStart = groups; else delete hooks.SessionStart;
if (Object.keys(hooks).length) settings.hooks = hooks; else delete settings.hooks;
fs.writeFileSync(file + ".shellgate-tmp", JSON.stringify(settings, null, 2) + "\n", { mode: 0o600 });
fs.renameSync(file + ".shellgate-tmp", file);
'
	elif have python3; then
		SG_FILE=$SETTINGS SG_MODE=$mode SG_COMMAND=$command python3 -c '
import json, os
file, mode, command = os.environ["SG_FILE"], os.environ["SG_MODE"], os.environ["SG_COMMAND"]
try:
    text = open(file, encoding="utf-8").read()
except FileNotFoundError:
    text = ""
settings = json.loads(text) if text.strip() else {}
if not isinstance(settings, dict):
    raise SystemExit("not a JSON object")
hooks = settings.get("hooks") or {}
ours = lambda h: isinstance(h, dict) and "shellgate.curlrc" in str(h.get("command", ""))
groups = []
for g in hooks.get("SessionStart") or []:
    if any(ours(h) for h in g.get("hooks") or []):
        g = dict(g, hooks=[h for h in g["hooks"] if not ours(h)])
        if not g["hooks"]:
            continue
    groups.append(g)
if mode == "install":
    groups.append({"matcher": "startup|resume|clear|compact", "hooks": [{"type": "command", "command": command, "timeout": 10}]})
if groups:
    hooks["SessionStart"] = groups
else:
    hooks.pop("SessionStart", None)
if hooks:
    settings["hooks"] = hooks
else:
    settings.pop("hooks", None)
fd = os.open(file + ".shellgate-tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w", encoding="utf-8") as f:
    f.write(json.dumps(settings, indent=2) + "\n")
os.replace(file + ".shellgate-tmp", file)
'
	else
		say "Neither node nor python3 is here to edit $SETTINGS; to have each session start with"
		say "Shellgate's policy, add this SessionStart hook to it:"
		say "  {\"hooks\": {\"SessionStart\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"curl -fsS -K $CURLRC\"}]}]}}"
	fi
}

install() {
	have claude || die "the claude command is not on PATH: install Claude Code first"
	case $CLAUDE_DIR in
	*"'"*) die "CLAUDE_CONFIG_DIR/HOME may not contain a single quote: $CLAUDE_DIR" ;;
	esac
	mkdir -p "$CLAUDE_DIR"
	edit_settings install || die "$SETTINGS is not valid JSON; nothing was changed"
	claude mcp remove shellgate --scope user >/dev/null 2>&1 || :
	if ! printf '{"type":"http","url":"%s/mcp","headers":{"Authorization":"Bearer %s"}}' \
		"$SHELLGATE_URL" "$SHELLGATE_TOKEN" | claude mcp add-json --scope user shellgate -; then
		edit_settings uninstall || :
		die "claude mcp add-json failed; nothing was changed"
	fi
	printf 'url = "%s/bootstrap?format=text"\nheader = "Authorization: Bearer %s"\n' \
		"$SHELLGATE_URL" "$SHELLGATE_TOKEN" >"$CURLRC.shellgate-tmp"
	chmod 600 "$CURLRC.shellgate-tmp"
	mv "$CURLRC.shellgate-tmp" "$CURLRC"
}

uninstall() {
	if have claude; then
		claude mcp remove shellgate --scope user >/dev/null 2>&1 || :
	fi
	edit_settings uninstall || die "$SETTINGS is not valid JSON; remove the Shellgate hook by hand"
	rm -f "$CURLRC"
}
