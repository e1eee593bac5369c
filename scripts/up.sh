#!/usr/bin/env bash
# make up: the whole saga on this machine without Docker. Starts the pinned
# Temporal dev server, redis-server (unless one already answers on
# REDIS_PORT), the orchestration worker and the four choreography services,
# each a background process with a PID file and a log in .state/. Running it
# again starts only what is not running. `make down` stops what it started.
#
# Settings (environment): TEMPORAL_PORT (7233), TEMPORAL_UI_PORT (8233),
# REDIS_PORT (6379), REDIS_PASSWORD, TEMPORAL_NAMESPACE (default).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
mkdir -p "$STATE"

fail() {
	warn "make up: $*"
	warn "Whatever did start is still running; 'make down' stops it."
	exit 1
}

if command -v flock >/dev/null 2>&1; then
	exec 9>"$STATE/.lock"
	flock -w 300 9 || fail "another make up/down holds .state/.lock"
fi

# wait_for SECONDS NAME CHECK...: run CHECK until it succeeds; fail early
# when NAME's process (if it has a PID file) dies.
wait_for() {
	local secs=$1 name=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@"; do
		if [ -f "$STATE/$name.pid" ] && ! running_pid "$name" >/dev/null; then
			tail_log "$name"
			fail "$name exited during start-up"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			tail_log "$name"
			fail "$name is not ready after ${secs}s"
		fi
		sleep 0.3
	done
}

# A stack that is already up keeps the ports it was started with.
ports="TEMPORAL_PORT=$TEMPORAL_PORT TEMPORAL_UI_PORT=$TEMPORAL_UI_PORT REDIS_PORT=$REDIS_PORT"
up=no
for name in "${ALL_NAMES[@]}"; do
	if running_pid "$name" >/dev/null; then up=yes; fi
done
if [ "$up" = no ] || [ ! -f "$STATE/ports" ]; then
	echo "$ports" >"$STATE/ports"
elif [ "$(cat "$STATE/ports")" != "$ports" ]; then
	fail "already up with $(cat "$STATE/ports"); run 'make down' first, or use those settings"
fi

# --- checks before anything starts ---------------------------------------
if [ ! -x "$TEMPORAL_BIN" ]; then
	say "== building the pinned Temporal dev server into .bin/ (make tools; once)"
	make -s -C "$ROOT" tools
fi

START_TEMPORAL=no
if pid=$(running_pid temporal); then
	say "== Temporal dev server already running (pid $pid)"
else
	rm -f "$STATE/temporal.pid"
	for p in "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT"; do
		if port_open "$p"; then
			fail "port $p is already in use (another Temporal server, or 'docker compose up'?).
Stop that, or pick other ports: TEMPORAL_PORT=17233 TEMPORAL_UI_PORT=18233 make up"
		fi
	done
	START_TEMPORAL=yes
fi

# Redis: ours if running, else one already answering on REDIS_PORT (used,
# never stopped), else a new redis-server.
START_REDIS=no
REDIS_MANAGED=yes
REDIS_AUTH=$REDIS_PASSWORD
if pid=$(running_pid redis); then
	say "== redis-server already running (pid $pid)"
elif port_open "$REDIS_PORT"; then
	rm -f "$STATE/redis.pid"
	REDIS_MANAGED=no
	command -v redis-cli >/dev/null 2>&1 ||
		fail "port $REDIS_PORT is in use and redis-cli (package redis-tools) is missing to check it; set REDIS_PORT"
	if redis_ping ""; then
		REDIS_AUTH=""
		say "== using the Redis already running on port $REDIS_PORT (no password; not started by make up, make down leaves it)"
	elif redis_ping "$REDIS_PASSWORD"; then
		say "== using the Redis already running on port $REDIS_PORT (not started by make up, make down leaves it)"
	else
		fail "port $REDIS_PORT is in use by something that does not answer as Redis with REDIS_PASSWORD.
Stop it, or pick another port: REDIS_PORT=16379 make up"
	fi
else
	rm -f "$STATE/redis.pid"
	if ! command -v redis-server >/dev/null 2>&1; then
		fail "redis-server is not installed. Install the package redis-server
(Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis),
or run any Redis 7 on port $REDIS_PORT with REDIS_PASSWORD, or use 'docker compose up -d'."
	fi
	START_REDIS=yes
fi

# --- start the servers ------------------------------------------------------
if [ "$START_REDIS" = yes ]; then
	mkdir -p "$STATE/redis"
	(
		umask 077
		cat >"$STATE/redis/redis.conf" <<-EOF
			port $REDIS_PORT
			bind 127.0.0.1 -::1
			requirepass "$REDIS_PASSWORD"
			appendonly yes
			dir "$STATE/redis"
			daemonize no
		EOF
	)
	say "== starting redis-server on localhost:$REDIS_PORT (append-only file in .state/redis)"
	nohup redis-server "$STATE/redis/redis.conf" </dev/null >"$STATE/redis.log" 2>&1 9>&- &
	echo $! >"$STATE/redis.pid"
fi

if [ "$START_TEMPORAL" = yes ]; then
	say "== starting the Temporal dev server on localhost:$TEMPORAL_PORT (UI :$TEMPORAL_UI_PORT)"
	ns=()
	[ "$TEMPORAL_NAMESPACE" = default ] || ns=(--namespace "$TEMPORAL_NAMESPACE")
	nohup "$TEMPORAL_BIN" server start-dev \
		--ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
		--db-filename "$STATE/temporal.db" ${ns[@]+"${ns[@]}"} \
		--log-level warn "${DEV_SERVER_FLAGS[@]}" \
		</dev/null >"$STATE/temporal.log" 2>&1 9>&- &
	echo $! >"$STATE/temporal.pid"
fi

if [ -n "$REDIS_AUTH" ]; then
	REDIS_URL="redis://:$REDIS_AUTH@localhost:$REDIS_PORT/0"
else
	REDIS_URL="redis://localhost:$REDIS_PORT/0"
fi
export TEMPORAL_ADDRESS="localhost:$TEMPORAL_PORT" TEMPORAL_NAMESPACE REDIS_URL
export TEMPORAL_UI_URL="http://localhost:$TEMPORAL_UI_PORT"
(
	umask 077
	cat >"$STATE/env" <<-EOF
		export TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS
		export TEMPORAL_NAMESPACE=$TEMPORAL_NAMESPACE
		export REDIS_URL=$REDIS_URL
		export TEMPORAL_UI_URL=$TEMPORAL_UI_URL
	EOF
)

say "== waiting for Redis and Temporal"
wait_for 30 redis redis_ping "$REDIS_AUTH"
wait_for 120 temporal temporal_healthy
wait_for 30 temporal port_open "$TEMPORAL_UI_PORT"

# --- worker and choreography services ------------------------------------------
say "== building bin/worker and bin/starter"
mkdir -p "$ROOT/bin" "$STATE/build"
CGO_ENABLED=0 "$GO" build -o "$STATE/build/" ./worker ./starter
mv -f "$STATE/build/worker" "$STATE/build/starter" "$ROOT/bin/"
rmdir "$STATE/build" 2>/dev/null || true

started=()
for name in "${WORKER_NAMES[@]}"; do
	if pid=$(running_pid "$name"); then
		say "== $name already running (pid $pid)"
		continue
	fi
	rm -f "$STATE/$name.pid"
	svc=$(worker_service "$name")
	args=(--services "$svc")
	[ "$name" = worker ] || args+=(--consumer-name local-1)
	say "== starting $name (worker ${args[*]})"
	nohup "$ROOT/bin/worker" "${args[@]}" </dev/null >"$STATE/$name.log" 2>&1 9>&- &
	echo $! >"$STATE/$name.pid"
	started+=("$name")
done

worker_ready() { grep -q 'msg="worker running"' "$STATE/$1.log" 2>/dev/null; }
for name in ${started[@]+"${started[@]}"}; do
	wait_for 60 "$name" worker_ready "$name"
done
for name in "${WORKER_NAMES[@]}"; do
	running_pid "$name" >/dev/null || {
		tail_log "$name"
		fail "$name is not running"
	}
done

# --- summary ----------------------------------------------------------------
row() { printf '  %-24s %s\n' "$1" "$2"; }
proc() {
	local pid
	if pid=$(running_pid "$1"); then echo "pid $pid, log .state/$1.log"; else echo "$2"; fi
}
say ""
say "ordersaga is up."
row "Temporal Web UI" "$TEMPORAL_UI_URL/namespaces/$TEMPORAL_NAMESPACE/workflows"
row "Temporal frontend" "$TEMPORAL_ADDRESS ($(proc temporal -))"
if [ "$REDIS_MANAGED" = yes ]; then
	row "Redis" "localhost:$REDIS_PORT ($(proc redis -))"
else
	row "Redis" "localhost:$REDIS_PORT (already running; not managed by make up)"
fi
for name in "${WORKER_NAMES[@]}"; do
	row "$(worker_service "$name")" "$(proc "$name" -)"
done
cat <<EOF

Use the starter (the settings are in .state/env):
  source .state/env
  go run ./starter order                   # one order on both engines
  go run ./starter order --fail payment    # payment declined: compensation
  go run ./starter verify                  # check the invariants
Stop everything: make down
EOF
