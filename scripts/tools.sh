#!/usr/bin/env bash
# make tools / make tools-postgres: the pinned Temporal binaries in .bin/
# (git-ignored), each built once from its Go module.
#
#   temporal            the CLI and dev server (temporalio/cli v1.5.1); a
#                       `temporal` already on the PATH at that version is
#                       linked instead of built
#   temporal-server     the server (go.temporal.io/server v1.29.1)
#   temporal-sql-tool   its SQL schema tool (same module)
#   temporal-ui-server  the Web UI server (temporalio/ui-server v2.42.1)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

declare -A MODULE=(
	[temporal]="github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
	[temporal-server]="go.temporal.io/server/cmd/server@v$TEMPORAL_SERVER_VERSION"
	[temporal-sql-tool]="go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_SERVER_VERSION"
	[temporal-ui-server]="github.com/temporalio/ui-server/v2/cmd/server@v$TEMPORAL_UI_VERSION"
)

# pinned_cli PATH: PATH is the Temporal CLI at the pinned version, by its
# own word or by the module version Go recorded in it.
pinned_cli() {
	"$1" --version 2>/dev/null | grep -q "version $TEMPORAL_CLI_VERSION " && return 0
	"$GO" version -m "$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/temporalio/cli[[:space:]]+v$TEMPORAL_CLI_VERSION[[:space:]]"
}

build() { # NAME
	local name=$1 tmp
	[ -x "$BIN/$name" ] && return 0
	mkdir -p "$BIN"
	if [ "$name" = temporal ]; then
		local onpath
		onpath=$(command -v temporal 2>/dev/null || true)
		if [ -n "$onpath" ] && pinned_cli "$onpath"; then
			say "== using $onpath (Temporal CLI $TEMPORAL_CLI_VERSION) as .bin/temporal"
			ln -sf "$onpath" "$BIN/temporal"
			return 0
		fi
	fi
	say "== building $name (${MODULE[$name]}) into .bin/ (once; a few minutes)"
	# go install names the binary after its package directory ("server"
	# twice), so each is built alone and renamed.
	tmp=$(mktemp -d "$BIN/.build.XXXXXX")
	if ! GOBIN="$tmp" "$GO" install "${MODULE[$name]}"; then
		rm -rf "$tmp"
		exit 1
	fi
	mv "$tmp"/* "$BIN/$name"
	rm -rf "$tmp"
}

[ $# -gt 0 ] || set -- temporal
for name in "$@"; do
	[ -n "${MODULE[$name]:-}" ] || {
		warn "tools.sh: unknown tool $name (want ${!MODULE[*]})"
		exit 2
	}
	build "$name"
done
