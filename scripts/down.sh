#!/usr/bin/env bash
# make down: stop exactly the processes `make up` started, found by their PID
# files in .state/: workers first, then Temporal, Redis and PostgreSQL. A PID
# whose process is no longer the one make up started is left alone, and so
# is a Redis make up did not start. Data (.state/temporal.db, .state/redis*/,
# .state/postgres/) are kept for the next `make up`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
[ -d "$STATE" ] || {
	say "nothing to stop"
	exit 0
}

if command -v flock >/dev/null 2>&1; then
	exec 9>"$STATE/.lock"
	flock -w 60 9 || warn "make down: another make up/down still holds .state/.lock; going on anyway"
fi

stopped=0
for name in "${STOP_ORDER[@]}"; do
	file="$STATE/$name.pid"
	[ -f "$file" ] || continue
	if ! pid=$(running_pid "$name"); then
		say "== $name: not running (removing a stale PID file)"
		rm -f "$file"
		continue
	fi
	stop_process "$name" "$pid"
	rm -f "$file"
	stopped=$((stopped + 1))
done
rm -f "$STATE/env" "$STATE/settings" "$STATE/ports"
say "make down: stopped $stopped process(es)"
