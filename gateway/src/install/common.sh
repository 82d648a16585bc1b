# --- Shared by every agent's script (gateway/src/install/common.sh) -------------------------
# Everything this script creates is readable by the user alone: it may hold the token.
umask 077
set -eu

say() { printf '%s\n' "$*"; }
die() {
	printf 'shellgate: %s\n' "$*" >&2
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

usage() {
	cat <<USAGE
Connects $SHELLGATE_AGENT to Shellgate as the MCP server "shellgate".

  curl -fsSL $SHELLGATE_DEFAULT_URL/install/$SHELLGATE_AGENT.sh | SHELLGATE_TOKEN=sg_... sh
  curl -fsSL $SHELLGATE_DEFAULT_URL/install/$SHELLGATE_AGENT.sh | sh -s -- --uninstall

SHELLGATE_TOKEN  the agent's token (asked for on the terminal when not set)
SHELLGATE_URL    the gateway's URL (default $SHELLGATE_DEFAULT_URL)

Running it again replaces the entry (that is also how a new token is installed);
--uninstall removes exactly what it added.
USAGE
}

# The gateway's URL: SHELLGATE_URL, else the one this script was served with. Only characters
# that are inert in a shell word and in JSON, TOML and YAML strings are accepted.
gateway_url() {
	url=${SHELLGATE_URL:-$SHELLGATE_DEFAULT_URL}
	while :; do
		case $url in
		*/) url=${url%/} ;;
		*) break ;;
		esac
	done
	case $url in
	http://?* | https://?*) ;;
	*) die "SHELLGATE_URL must start with http:// or https:// (got: $url)" ;;
	esac
	case ${url#*://} in
	*[!A-Za-z0-9._~:/%[\]-]*) die "SHELLGATE_URL may hold only letters, digits and -._~:/[]% (got: $url)" ;;
	esac
	SHELLGATE_URL=$url
}

# The token: SHELLGATE_TOKEN, else read from the terminal without echo (so it is not left in
# the shell's history). It must look like a Shellgate token: sg_ and 64 hex digits.
read_token() {
	token=${SHELLGATE_TOKEN:-}
	if [ -z "$token" ]; then
		if ! (exec </dev/tty) 2>/dev/null; then
			die "no token: set SHELLGATE_TOKEN=sg_... (no terminal to ask on)"
		fi
		printf 'Shellgate token for %s (sg_..., not shown): ' "$SHELLGATE_AGENT" >/dev/tty
		stty -echo </dev/tty 2>/dev/null || :
		IFS= read -r token </dev/tty || token=
		stty echo </dev/tty 2>/dev/null || :
		printf '\n' >/dev/tty
	fi
	case $token in
	sg_*) ;;
	*) die "that is not a Shellgate token (it starts with sg_)" ;;
	esac
	hex=${token#sg_}
	case $hex in
	*[!0-9a-f]*) die "that is not a Shellgate token (sg_ and 64 hex digits)" ;;
	esac
	[ ${#hex} -eq 64 ] || die "that is not a Shellgate token (sg_ and 64 hex digits)"
	SHELLGATE_TOKEN=$token
}

# Asks the gateway who the token is, before anything is written. The token goes to curl on its
# standard input (a config line), never on its command line. Leaves the answer in $BOOTSTRAP.
check_token() {
	have curl || die "curl is needed"
	BOOTSTRAP_FILE=$(mktemp)
	trap 'rm -f "$BOOTSTRAP_FILE"' EXIT
	status=$(printf 'header = "Authorization: Bearer %s"\n' "$SHELLGATE_TOKEN" |
		curl -sS --max-time 20 -K - -o "$BOOTSTRAP_FILE" -w '%{http_code}' "$SHELLGATE_URL/bootstrap") ||
		die "cannot reach Shellgate at $SHELLGATE_URL"
	case $status in
	200) ;;
	401 | 403)
		code=$(sed -n 's/.*"error":"\([a-z_]*\)".*/\1/p' "$BOOTSTRAP_FILE")
		die "Shellgate refused the token (${code:-HTTP $status}); nothing was changed"
		;;
	*) die "Shellgate at $SHELLGATE_URL answered HTTP $status; nothing was changed" ;;
	esac
	BOOTSTRAP=$(cat "$BOOTSTRAP_FILE")
}

# The targets the token may use, one per line, from the bootstrap answer (slugs and kinds are
# plain words; inside JSON strings every quote is escaped, so these patterns match keys only).
print_targets() {
	slugs=$(printf '%s' "$BOOTSTRAP" | grep -o '"slug":"[a-z0-9-]*"' | sed 's/.*:"\(.*\)"/\1/') || :
	if [ -z "$slugs" ]; then
		say "This token may not use any target yet: ask an administrator to grant one."
		return
	fi
	kinds=$(printf '%s' "$BOOTSTRAP" | grep -o '"kind":"[a-z]*"' | sed 's/.*:"\(.*\)"/\1/') || :
	say "Targets this agent can use through Shellgate:"
	printf '%s\n' "$slugs" >"$BOOTSTRAP_FILE.slugs"
	printf '%s\n' "$kinds" | paste "$BOOTSTRAP_FILE.slugs" - | while IFS='	' read -r slug kind; do
		say "  - $slug ($kind)"
	done
	rm -f "$BOOTSTRAP_FILE.slugs"
}

main() {
	mode=install
	for arg in "$@"; do
		case $arg in
		--uninstall) mode=uninstall ;;
		-h | --help)
			usage
			exit 0
			;;
		*) die "unknown option: $arg (see --help)" ;;
		esac
	done
	gateway_url
	if [ "$mode" = uninstall ]; then
		uninstall
		say "Removed Shellgate from $SHELLGATE_AGENT."
		return
	fi
	read_token
	check_token
	install
	say "Connected $SHELLGATE_AGENT to Shellgate at $SHELLGATE_URL/mcp."
	print_targets
}

# Sets NAME=VALUE in an env file (other lines kept; created 0600 if missing), or with no VALUE
# removes NAME's line (and the file, when nothing else is left in it).
env_line() {
	file=$1
	name=$2
	tmp="$file.shellgate-tmp"
	if [ -f "$file" ]; then
		grep -v "^$name=" "$file" >"$tmp" || :
	else
		: >"$tmp"
	fi
	if [ $# -ge 3 ]; then
		printf '%s=%s\n' "$name" "$3" >>"$tmp"
	fi
	if [ -s "$tmp" ]; then
		chmod 600 "$tmp"
		mv "$tmp" "$file"
	else
		rm -f "$tmp" "$file"
	fi
}
