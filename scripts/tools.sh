#!/usr/bin/env bash
# make tools / make tools-postgres: the pinned Temporal binaries in .bin/
# (git-ignored), each built from its Go module, and built again when the pin
# (scripts/lib.sh) moves past what .bin/ holds.
#
#   temporal            the CLI and dev server (temporalio/cli); a `temporal`
#                       already on the PATH at the pinned minor version or
#                       newer is linked instead of built
#   temporal-server     the server (go.temporal.io/server)
#   temporal-sql-tool   its SQL schema tool (same module)
#   temporal-ui-server  the Web UI server (temporalio/ui-server/v2)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

declare -A MODULE=(
	[temporal]="github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
	[temporal-server]="go.temporal.io/server/cmd/server@v$TEMPORAL_SERVER_VERSION"
	[temporal-sql-tool]="go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_SERVER_VERSION"
	[temporal-ui-server]="github.com/temporalio/ui-server/v2/cmd/server@v$TEMPORAL_UI_VERSION"
)

# module_version PATH: the version of the main module Go recorded in the
# binary at PATH ("v1.9.1"), or nothing.
module_version() {
	"$GO" version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

# at_least HAVE WANT: version HAVE (1.9.3) is WANT's minor version (1.9.x)
# or newer, and not older than WANT.
at_least() {
	[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

# usable_cli PATH: PATH is a Temporal CLI at the pinned version or newer,
# by its own word ("temporal version 1.9.1 (Server ...)").
usable_cli() {
	local have
	have=$("$1" --version 2>/dev/null | awk '{ print $3; exit }')
	[ -n "$have" ] && at_least "$have" "$TEMPORAL_CLI_VERSION"
}

# current NAME: .bin/NAME exists and was built from the pinned version,
# statically (or, for the CLI, is a linked CLI that is still usable).
current() {
	local path="$BIN/$1" want=${MODULE[$1]##*@}
	[ -x "$path" ] || return 1
	if [ "$1" = temporal ] && [ -L "$path" ]; then usable_cli "$path"; return; fi
	[ "$(module_version "$path")" = "$want" ] &&
		"$GO" version -m "$path" | grep -q 'build[[:space:]]*CGO_ENABLED=0'
}

build() { # NAME
	local name=$1 tmp
	current "$name" && return 0
	mkdir -p "$BIN"
	# (a binary in use is replaced by the rename below, never removed first)
	if [ "$name" = temporal ]; then
		local onpath
		onpath=$(command -v temporal 2>/dev/null || true)
		if [ -n "$onpath" ] && usable_cli "$onpath"; then
			say "== using $onpath ($("$onpath" --version | head -n 1)) as .bin/temporal"
			ln -sf "$onpath" "$BIN/temporal"
			return 0
		fi
	fi
	say "== building $name (${MODULE[$name]}) into .bin/ (once; a few minutes)"
	# go install names the binary after its package directory ("server"
	# twice), so each is built alone and renamed. Static, as the official
	# release binaries are (the stand-in images run them FROM scratch).
	tmp=$(mktemp -d "$BIN/.build.XXXXXX")
	if ! CGO_ENABLED=0 GOBIN="$tmp" "$GO" install "${MODULE[$name]}"; then
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
