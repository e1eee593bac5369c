#!/usr/bin/env bash
# make bench (after make up, which `make bench` runs first): the benchmark
# commands of docs/results.md on the stack `make up` started, i.e. the
# Temporal dev server on its database file, redis-server with its
# append-only file and the worker processes. Both engines with their bare
# baselines, at 64 in flight with 10% payment declines and at one in
# flight. Each run prints its table, naming the stack it measured, and
# writes a Markdown report with SVG charts next to it, an HTML page and the
# JSON document under BENCH_DIR.
#
# Settings (environment): BENCH_DIR (.state/bench), BENCH_ORDERS (2000, at
# 64 in flight), BENCH_ORDERS_ONE (200, at one in flight), BENCH_RESET.
#
# It deletes no order it did not place: the first run passes no reset flag,
# so on a stack that holds orders (placed by hand, or by an earlier make
# bench) it is refused and nothing is deleted; BENCH_RESET=1 makes it pass
# --reset (see `starter bench --help` for what a reset deletes). The second
# run passes --reset, which deletes the orders the first one placed (and
# any placed while it ran).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
if [ ! -f "$STATE/env" ]; then
	warn "make bench: nothing is up; run 'make up' first"
	exit 1
fi
# shellcheck source=/dev/null
. "$STATE/env"
STARTER="$ROOT/bin/starter"
OUT=${BENCH_DIR:-$STATE/bench}
ORDERS=${BENCH_ORDERS:-2000}
ORDERS_ONE=${BENCH_ORDERS_ONE:-200}
for n in "$ORDERS" "$ORDERS_ONE"; do
	case "$n" in '' | *[!0-9]*)
		warn "make bench: BENCH_ORDERS and BENCH_ORDERS_ONE must be whole numbers, got '$n'"
		exit 2
		;;
	esac
done
[ -x "$STARTER" ] || {
	warn "make bench: $STARTER is missing; 'make up' builds it"
	exit 1
}
mkdir -p "$OUT"
# The servers add their versions and how they keep their data.
STACK=$(stack_name)

status=0
# bench NAME ARGS...: one bench run, its reports named NAME.{md,html,json}.
bench() {
	local name=$1 code=0
	shift
	printf '\n=== starter bench %s\n\n' "$*"
	"$STARTER" bench "$@" --stack "$STACK" \
		--report "$OUT/$name.md" --report "$OUT/$name.html" --report "$OUT/$name.json" || code=$?
	if [ "$code" -eq 2 ] && [ "$name" = concurrent-64 ] && [ "${BENCH_RESET:-}" != 1 ]; then
		warn "make bench: nothing was deleted. When the stack holds orders (above), 'make bench BENCH_RESET=1'
deletes them first; 'make down && make clean-state && make up' drops all of make up's data instead"
	fi
	if [ "$code" -ge 2 ]; then
		exit "$code"
	fi
	if [ "$code" -ne 0 ]; then
		status=$code
	fi
}

first=()
[ "${BENCH_RESET:-}" != 1 ] || first=(--reset)
bench concurrent-64 --mode both --orders "$ORDERS" --concurrency 64 --seed 1 --faults payment=decline:0.1 --baseline ${first[@]+"${first[@]}"}
bench one-in-flight --mode both --orders "$ORDERS_ONE" --concurrency 1 --seed 2 --baseline --reset

# The orchestration again with its participants as local activities: the
# orchestration worker restarts with --activities local, and with what it
# ran before at the end.
restart_worker() {
	local pid
	if pid=$(running_pid worker); then stop_process worker "$pid"; fi
	rm -f "$STATE/worker.pid"
	WORKER_ACTIVITIES=$1 "$ROOT/scripts/up.sh" >/dev/null
}
trap 'restart_worker "${WORKER_ACTIVITIES:-regular}"' EXIT
restart_worker local
bench local-activities --mode orchestration --orders "$ORDERS" --concurrency 64 --seed 1 --faults payment=decline:0.1 --baseline --reset

cat <<EOF

Reports (Markdown with its SVG charts next to it, one HTML page each, JSON):
  $OUT/concurrent-64.md   $OUT/concurrent-64.html   $OUT/concurrent-64.json
  $OUT/one-in-flight.md   $OUT/one-in-flight.html   $OUT/one-in-flight.json
  $OUT/local-activities.md   $OUT/local-activities.html   $OUT/local-activities.json
Every figure above was measured on the stack its "measured on:" line names.
EOF
if [ "$status" -ne 0 ]; then
	warn "make bench: a run broke an invariant or left an order unfinished (above)"
fi
exit "$status"
