# --- Codex (gateway/src/install/codex.sh) -----------------------------------------------------
# The server goes in with Codex's own CLI (`codex mcp add --url … --bearer-token-env-var`), which
# writes config.toml; the token goes in $CODEX_HOME/.env (mode 0600), which Codex loads at every
# start — so nobody has to export it in each shell. Codex keeps variables named *TOKEN* out of
# the commands its agent runs.

CODEX_DIR=${CODEX_HOME:-$HOME/.codex}
ENV_NAME=SHELLGATE_MCP_TOKEN

install() {
	have codex || die "the codex command is not on PATH: install Codex first"
	mkdir -p "$CODEX_DIR"
	codex mcp remove shellgate >/dev/null 2>&1 || :
	codex mcp add shellgate --url "$SHELLGATE_URL/mcp" --bearer-token-env-var "$ENV_NAME" >/dev/null ||
		die "codex mcp add failed; the shellgate entry was not added"
	env_line "$CODEX_DIR/.env" "$ENV_NAME" "$SHELLGATE_TOKEN"
}

uninstall() {
	if have codex; then
		codex mcp remove shellgate >/dev/null 2>&1 || :
	fi
	env_line "$CODEX_DIR/.env" "$ENV_NAME"
}
