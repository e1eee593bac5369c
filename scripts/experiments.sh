#!/usr/bin/env bash
# make experiments (after make up, which `make experiments` runs first): the
# experiments of docs/tradeoffs.md on the stack make up started. The
# experiments run the participants in the starter's own process, so the
# stack's five worker processes are stopped first (they would take the same
# work) and started again at the end (make up starts what is not running).
# The change experiments build the worker of the commit before each change
# (git archive, in .state) and roll it out to bin/worker.
# Each experiment writes its report (Markdown with SVG charts, HTML, JSON)
# to EXPERIMENTS_DIR (docs/experiments), which docs/tradeoffs.md shows.
#
# Settings (environment): EXPERIMENTS_DIR, EXPERIMENT_RATE (10 orders/s: near
# what the orchestration on the dev server carries on 2 cores; at 50/s half
# its placements were refused and the outage drowned in the overload),
# EXPERIMENT_SCALE_ORDERS (600 per step), EXPERIMENT_SOAK_RATE (3/s: what
# the orchestration keeps up with on a 2-core machine; at 20/s its backlog
# grows past the drain), EXPERIMENT_SOAK_FOR (6m), EXPERIMENT_BEFORE (20s) and EXPERIMENT_AFTER (30s)
# around the outage,
# EXPERIMENT_OUTAGE (30s), EXPERIMENT_RESET (1: pass --reset to the first
# experiment, deleting the orders the stack holds; without it a stack that
# holds orders is refused and nothing is deleted).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
if [ ! -f "$STATE/env" ]; then
	warn "make experiments: nothing is up; run 'make up' first"
	exit 1
fi
# shellcheck source=/dev/null
. "$STATE/env"
STARTER="$ROOT/bin/starter"
# Relative to the repository (the reports name the command that wrote them).
OUT=${EXPERIMENTS_DIR:-docs/experiments}
RATE=${EXPERIMENT_RATE:-10}
OUTAGE=${EXPERIMENT_OUTAGE:-30s}
mkdir -p "$OUT"
STACK=$(stack_name)

for name in "${WORKER_NAMES[@]}"; do
	if pid=$(running_pid "$name"); then
		stop_process "$name" "$pid"
	fi
	rm -f "$STATE/$name.pid"
done
trap 'say "== starting the worker processes again"; "$ROOT/scripts/up.sh" >/dev/null' EXIT

reset=()
[ "${EXPERIMENT_RESET:-}" != 1 ] || reset=(--reset)
status=0
# experiment NAME ARGS...: one experiment, its reports named NAME.{md,html,json}.
# One that breaks an invariant (exit 1) is reported and the next ones run.
experiment() {
	local name=$1 code=0
	shift
	printf '\n=== starter experiment %s\n\n' "$*"
	"$STARTER" experiment "$@" --stack "$STACK" ${reset[@]+"${reset[@]}"} \
		--report "$OUT/$name.md" --report "$OUT/$name.html" --report "$OUT/$name.json" || code=$?
	[ "$code" -lt 2 ] || exit "$code"
	[ "$code" -eq 0 ] || status=$code
	reset=(--reset) # the next ones delete the orders of this one
}
phases=(--before "${EXPERIMENT_BEFORE:-20s}" --after "${EXPERIMENT_AFTER:-30s}")
experiment outage-payment outage --service payment --for "$OUTAGE" --rate "$RATE" "${phases[@]}"
experiment outage-coordinator outage --service coordinator --for "$OUTAGE" --rate "$RATE" "${phases[@]}" --servers scripts/stack-servers.sh
# The servers' PIDs, for their CPU time per saga.
procs=()
for name in temporal temporal-server postgres; do
	if pid=$(running_pid "$name"); then procs+=(--proc "$name=$pid"); fi
done
experiment scale scale --orders "${EXPERIMENT_SCALE_ORDERS:-600}" --concurrency 32 --instances 4 ${procs[@]+"${procs[@]}"}
# On a Redis Cluster (make up REDIS_CLUSTER=N), the same against the number
# of partitions the orders spread over the masters by.
if [ "${REDIS_CLUSTER:-0}" -gt 0 ]; then
	experiment scale-partitions scale --orders "${EXPERIMENT_SCALE_ORDERS:-600}" --concurrency 32 --partition-steps 1,3,12 ${procs[@]+"${procs[@]}"}
fi
data=()
[ "$TEMPORAL_BACKEND" != dev ] || data=(--temporal-data "${STATE#"$ROOT/"}/temporal.db")
experiment soak soak --rate "${EXPERIMENT_SOAK_RATE:-3}" --for "${EXPERIMENT_SOAK_FOR:-6m}" --retention 1m --interval 5s ${data[@]+"${data[@]}"}
# build_worker_at REV DIR: the worker of git revision REV, built from a clean
# export of that commit into DIR/worker.
build_worker_at() {
	rm -rf "$2"
	mkdir -p "$2/src"
	git -C "$ROOT" archive "$1" | tar -x -C "$2/src"
	(cd "$2/src" && CGO_ENABLED=0 GOFLAGS= "$GO" build -o "$2/worker" ./worker)
}
# The changes of docs/changing.md, each rolled out from the worker of the
# commit before it to bin/worker, with orders in flight.
while read -r change before _; do
	say "== building the worker of $before (before $change)"
	build_worker_at "$before" "$STATE/change-$change"
	experiment "change-$change" change --change "$change" --old-worker "$STATE/change-$change/worker" --new-worker "$ROOT/bin/worker"
done < <("$STARTER" experiment changes)
"$STARTER" experiment page docs/tradeoffs.md "$OUT"
"$STARTER" experiment page docs/changing.md "$OUT"
say "docs/tradeoffs.md and docs/changing.md regenerated from the reports in ${OUT#"$ROOT/"}"
if [ "$status" -ne 0 ]; then
	warn "make experiments: an experiment broke an invariant or left an order unfinished (above)"
fi
exit "$status"
