#!/usr/bin/env bash
# make up: the whole saga on this machine without Docker. Starts Temporal
# (the pinned dev server, or with TEMPORAL_BACKEND=postgres the pinned
# Temporal server and Web UI server on PostgreSQL), Redis (one
# redis-server unless one already answers on REDIS_PORT, or with
# REDIS_CLUSTER=3 a cluster of three masters), the orchestration worker and
# the six choreography services, and Prometheus with redis_exporter when
# installed (Debian's prometheus, prometheus-redis-exporter), each a background process with a PID
# file and a log in .state/. Running it again starts only what is not
# running. `make down` stops what it started; the data stay in .state/.
#
# Settings (environment; see scripts/lib.sh and docs/operations.md):
# TEMPORAL_BACKEND (dev), REDIS_CLUSTER (0), TEMPORAL_PORT (7233),
# TEMPORAL_UI_PORT (8233), TEMPORAL_METRICS_PORT (9480), REDIS_PORT (6379), POSTGRES_PORT (5432), WEB_PORT (8080),
# TEMPORAL_HISTORY_SHARDS (4), TEMPORAL_NAMESPACE (default), METRICS_PORT
# (9464: the worker processes' /metrics and /readyz on 9464..9470),
# PROMETHEUS_PORT (9090), REDIS_EXPORTER_PORT (9121),
# REDIS_<NAME>_PASSWORD (a Redis user per process: ORDER, INVENTORY,
# FRAUD, PAYMENT, SHIPPING, NOTIFY, WORKER, STARTER, WEB, EXPORTER), REDIS_ADMIN_PASSWORD,
# TEMPORAL_PG_PASSWORD. The OTEL_*
# variables (e.g. OTEL_EXPORTER_OTLP_ENDPOINT) reach the workers as they are.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/up-redis.sh
. "$(dirname "$0")/up-redis.sh"
# shellcheck source=scripts/up-temporal.sh
. "$(dirname "$0")/up-temporal.sh"
# shellcheck source=scripts/up-prometheus.sh
. "$(dirname "$0")/up-prometheus.sh"
cd "$ROOT"
mkdir -p "$STATE"

fail() {
	warn "make up: $*"
	warn "Whatever did start is still running; 'make down' stops it."
	exit 1
}

case "$TEMPORAL_BACKEND" in dev | postgres) ;; *) fail "TEMPORAL_BACKEND=$TEMPORAL_BACKEND: want dev or postgres" ;; esac
case "$REDIS_CLUSTER" in '' | *[!0-9]*) fail "REDIS_CLUSTER=$REDIS_CLUSTER: want 0 (one Redis) or the number of masters (3 or more)" ;; esac

if command -v flock >/dev/null 2>&1; then
	exec 9>"$STATE/.lock"
	flock -w 300 9 || fail "another make up/down holds .state/.lock"
fi

# A stack that is already up keeps the settings it was started with.
settings=""
for key in "${SETTINGS[@]}"; do settings+="$key=${!key}"$'\n'; done
up=no
for name in "${STOP_ORDER[@]}"; do
	if running_pid "$name" >/dev/null; then up=yes; fi
done
if [ "$up" = yes ] && [ -f "$STATE/settings" ] && [ "$(cat "$STATE/settings")"$'\n' != "$settings" ]; then
	fail "already up with other settings:
$(cat "$STATE/settings")
run 'make down' first, or use those settings"
fi
printf '%s' "$settings" >"$STATE/settings"

# --- what must be installed or built first -------------------------------
"$ROOT/scripts/deps.sh" up
make -s -C "$ROOT" tools GO="$GO"
[ "$TEMPORAL_BACKEND" = dev ] || make -s -C "$ROOT" tools-postgres GO="$GO"

# --- the servers ------------------------------------------------------------
if [ "$REDIS_CLUSTER" -gt 0 ]; then
	up_redis_cluster
	unset REDIS_URL
	eval "$REDIS_ENV_LINE"
	export REDIS_CLUSTER_URL
else
	up_redis_single
	unset REDIS_CLUSTER_URL
	eval "$REDIS_ENV_LINE"
	export REDIS_URL
fi
if [ "$TEMPORAL_BACKEND" = postgres ]; then
	up_postgres_backend
else
	up_dev_server
	say "== waiting for Temporal"
	wait_for 120 temporal temporal_healthy
	wait_for 30 temporal port_open "$TEMPORAL_UI_PORT"
fi

export TEMPORAL_ADDRESS="localhost:$TEMPORAL_PORT" TEMPORAL_NAMESPACE
export TEMPORAL_UI_URL="http://localhost:$TEMPORAL_UI_PORT"
(
	umask 077
	cat >"$STATE/env" <<-EOF
		export TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS
		export TEMPORAL_NAMESPACE=$TEMPORAL_NAMESPACE
		unset REDIS_URL REDIS_CLUSTER_URL
		$REDIS_ENV_LINE
		export TEMPORAL_UI_URL=$TEMPORAL_UI_URL
	EOF
	! have_prometheus || echo "export PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_PORT" >>"$STATE/env"
	for name in "${WORKER_NAMES[@]}"; do
		echo "export $(metrics_env "$name")=$(metrics_addr "$name")"
	done >>"$STATE/env"
	# Each process's own Redis URL, for starting one by hand:
	# REDIS_URL="$ORDERSAGA_REDIS_URL_PAYMENT" bin/worker --services payment
	for name in "${WORKER_NAMES[@]}" web; do
		echo "export ORDERSAGA_REDIS_URL_$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')='$(redis_url "$name")'"
	done >>"$STATE/env"
)

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
	args=(--services "$svc" --metrics-addr "$(metrics_addr "$name")")
	[ "$name" = worker ] || args+=(--consumer-name local-1)
	# WORKER_ACTIVITIES=local: the orchestration runs its participants as
	# local activities (worker --activities, docs/how-it-works.md).
	[ "$name" != worker ] || args+=(--activities "${WORKER_ACTIVITIES:-regular}")
	say "== starting $name (worker ${args[*]})"
	# Its own Redis user, in the environment (never on a command line).
	(
		export "$REDIS_URL_VAR=$(redis_url "$name")"
		exec nohup "$ROOT/bin/worker" "${args[@]}" </dev/null >"$STATE/$name.log" 2>&1 9>&-
	) &
	echo $! >"$STATE/$name.pid"
	started+=("$name")
done

# Ready: /readyz answers 200 (connected to Redis and Temporal, consuming).
for name in ${started[@]+"${started[@]}"}; do
	wait_for 60 "$name" worker_ready "$name"
done
for name in "${WORKER_NAMES[@]}"; do
	running_pid "$name" >/dev/null || {
		tail_log "$name"
		fail "$name is not running"
	}
done

# --- the live page ------------------------------------------------------------
web_ready() { port_open "$WEB_PORT"; }
if pid=$(running_pid web); then
	say "== the live page already running (pid $pid)"
else
	rm -f "$STATE/web.pid"
	port_open "$WEB_PORT" && fail "port $WEB_PORT is already in use; pick another for the live page: WEB_PORT=18080 make up"
	say "== starting the live page (starter serve --addr 127.0.0.1:$WEB_PORT)"
	(
		export "$REDIS_URL_VAR=$(redis_url web)"
		exec nohup "$ROOT/bin/starter" serve --addr "127.0.0.1:$WEB_PORT" </dev/null >"$STATE/web.log" 2>&1 9>&-
	) &
	echo $! >"$STATE/web.pid"
	wait_for 60 web web_ready
fi

# --- Prometheus, scraping all of the above ------------------------------------
up_prometheus

# --- summary ----------------------------------------------------------------
row() { printf '  %-24s %s\n' "$1" "$2"; }
proc() {
	local pid
	if pid=$(running_pid "$1"); then echo "pid $pid, log .state/$1.log"; else echo "$2"; fi
}
say ""
say "ordersaga is up."
row "Temporal Web UI" "$TEMPORAL_UI_URL/namespaces/$TEMPORAL_NAMESPACE/workflows"
row "live page" "http://127.0.0.1:$WEB_PORT ($(proc web -))"
if [ "$TEMPORAL_BACKEND" = postgres ]; then
	row "Temporal frontend" "$TEMPORAL_ADDRESS (server $TEMPORAL_SERVER_VERSION on PostgreSQL; $(proc temporal-server -))"
	row "PostgreSQL" "localhost:$POSTGRES_PORT ($(proc postgres -))"
	row "Temporal Web UI server" "$(proc temporal-ui -)"
else
	row "Temporal frontend" "$TEMPORAL_ADDRESS (dev server; $(proc temporal -))"
fi
row "Redis" "$REDIS_SUMMARY"
if have_prometheus; then
	row "Prometheus" "http://127.0.0.1:$PROMETHEUS_PORT/targets ($(proc prometheus -); redis_exporter $(proc redis-exporter -))"
else
	row "Prometheus" "not installed: apt-get install prometheus prometheus-redis-exporter"
fi
for name in "${WORKER_NAMES[@]}"; do
	row "$(worker_service "$name")" "$(proc "$name" -), metrics http://$(metrics_addr "$name")/metrics"
done
cat <<EOF

Use the starter (the settings are in .state/env):
  source .state/env
  go run ./starter order                   # one order on both engines
  go run ./starter order --fail payment    # payment declined: compensation
  go run ./starter verify                  # check the invariants
Stop everything: make down
EOF
