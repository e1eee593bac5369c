#!/usr/bin/env bash
# make clean-state: the one way to drop the data `make up` keeps across
# `make down`: Temporal's (the dev server's .state/temporal.db), Redis's
# (.state/redis/ or .state/redis-N/: append-only files, snapshots, cluster
# state), PostgreSQL's (.state/postgres/) and Prometheus's metrics
# (.state/prometheus/). Every order of both engines
# goes with them. It says what it drops, and refuses while anything `make up`
# started still runs. Logs and bench reports in .state/ stay.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
[ -d "$STATE" ] || {
	say "make clean-state: nothing to drop (no .state/)"
	exit 0
}

if command -v flock >/dev/null 2>&1; then
	exec 9>"$STATE/.lock"
	flock -w 60 9 || {
		warn "make clean-state: make up/down still holds .state/.lock; try again when it is done"
		exit 1
	}
fi

running=()
for name in "${STOP_ORDER[@]}"; do
	pid=$(running_pid "$name") && running+=("$name (pid $pid)")
done
if [ "${#running[@]}" -gt 0 ]; then
	warn "make clean-state: the stack is running (${running[*]}); stop it with 'make down' first. Nothing was dropped."
	exit 1
fi

drop=()
for path in "$STATE"/temporal.db "$STATE"/temporal.db-* "$STATE"/redis/ "$STATE"/redis-[0-9]*/ "$STATE"/postgres/ "$STATE"/prometheus/; do
	[ -e "$path" ] && drop+=("${path%/}")
done
if [ "${#drop[@]}" -eq 0 ]; then
	say "make clean-state: nothing to drop"
	exit 0
fi
say "make clean-state: dropping the data of make up, every order of both engines with it:"
for path in "${drop[@]}"; do
	say "  ${path#"$ROOT"/}  $(du -sh "$path" 2>/dev/null | cut -f 1)"
done
rm -rf -- "${drop[@]}"
say "make clean-state: done; the next 'make up' starts empty (logs and bench reports in .state/ are kept)"
