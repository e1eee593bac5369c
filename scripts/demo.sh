#!/usr/bin/env bash
# make demo (after make up): a short scripted scenario on both engines. One
# order that completes, one whose payment is declined and is compensated,
# then the invariant check. Exits non-zero if any outcome is not the
# expected one, so CI uses it as a smoke test. It deletes nothing: on a stack
# that holds orders it adds its own next to them.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
if [ ! -f "$STATE/env" ]; then
	warn "make demo: nothing is up; run 'make up' first"
	exit 1
fi
# shellcheck source=/dev/null
. "$STATE/env"
STARTER="$ROOT/bin/starter"

fail() {
	warn "make demo: FAILED: $*"
	warn "Logs: .state/*.log"
	exit 1
}
banner() { printf '\n=== %s\n\n' "$*"; }
ui_link() { echo "$TEMPORAL_UI_URL/namespaces/$TEMPORAL_NAMESPACE/workflows/order-$1"; }

# place WANT ARGS...: place one order on both engines and check that both
# reach WANT. Sets ORDER_ID.
place() {
	local want=$1 out mode
	shift
	say "\$ starter order${*:+ $*}"
	if ! out=$("$STARTER" order "$@" 2>&1); then
		say "$out"
		fail "starter order $* did not finish"
	fi
	say "$out"
	for mode in orchestration choreography; do
		grep -Eq "^$mode +$want( |\$)" <<<"$out" || fail "$mode: expected $want"
	done
	ORDER_ID=$(awk 'NR == 1 && $1 == "order" { print $2 }' <<<"$out")
	[ -n "$ORDER_ID" ] || fail "no order ID in the starter's output"
}

# The demo's own check at the end only means something on a consistent
# start: Temporal's history (.state/temporal.db) and Redis must belong together.
if ! before=$("$STARTER" verify 2>&1); then
	say "$before"
	fail "the state left by earlier runs does not add up (above), e.g. Temporal's
history and Redis come from different runs. The demo deletes nothing. To start
afresh, drop all of make up's data (Temporal's, Redis's, PostgreSQL's) with
  make down && make clean-state && make demo
or delete every order in both engines' Redis state (Temporal's histories stay,
no longer counted) with: bin/starter stock --reset"
fi
held=$(awk '$3 == "orders" && $2 ~ /^[0-9]+$/ { n += $2 } END { print n + 0 }' <<<"$before")
if [ "$held" -gt 0 ]; then
	say "The stack holds $held orders from earlier runs; the demo adds its own and deletes none."
fi

banner "1/3  An order that completes: reserve -> charge -> schedule, on both engines"
place COMPLETED
completed=$ORDER_ID

banner "2/3  Payment declined: the saga compensates (release the stock), on both engines"
place COMPENSATED --fail payment
compensated=$ORDER_ID
say ""
say "\$ starter history $compensated"
"$STARTER" history "$compensated" || fail "starter history $compensated"

banner "3/3  Invariants: every order terminal, stock and money conserved, nothing pending"
say "\$ starter verify"
"$STARTER" verify || fail "starter verify found violations"

cat <<EOF

Demo passed: COMPLETED and COMPENSATED on both engines, invariants hold.
  completed order    $(ui_link "$completed")
  compensated order  $(ui_link "$compensated")
  all workflows      $TEMPORAL_UI_URL/namespaces/$TEMPORAL_NAMESPACE/workflows
Stop everything with: make down
EOF
