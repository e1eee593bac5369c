# shellcheck shell=bash disable=SC2034
# Settings and helpers shared by up.sh, down.sh, demo.sh, deps.sh and
# tools.sh (sourced). Every process `make up` starts has a PID file and a
# log in .state/; `make down` stops exactly those.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE="$ROOT/.state"
BIN="$ROOT/.bin"
TEMPORAL_BIN="$BIN/temporal"
GO=${GO:-go}

# A stack that is up keeps the settings it was started with: whatever the
# caller does not set is read back from .state/settings (make up writes it,
# make down removes it), so `make up TEMPORAL_BACKEND=postgres` followed by
# `make demo` stays on PostgreSQL.
SETTINGS=(TEMPORAL_BACKEND REDIS_CLUSTER TEMPORAL_PORT TEMPORAL_UI_PORT TEMPORAL_METRICS_PORT REDIS_PORT POSTGRES_PORT TEMPORAL_HISTORY_SHARDS TEMPORAL_NAMESPACE METRICS_PORT WEB_PORT PROMETHEUS_PORT REDIS_EXPORTER_PORT REDIS_MAXMEMORY TEMPORAL_RETENTION)
if [ -f "$STATE/settings" ]; then
	while IFS='=' read -r key value; do
		case " ${SETTINGS[*]} " in *" $key "*) ;; *) continue ;; esac
		[ -n "${!key:-}" ] || printf -v "$key" '%s' "$value"
	done <"$STATE/settings"
fi

# dev: the Temporal dev server (SQLite, one shard); postgres: the pinned
# Temporal server and its Web UI server on a PostgreSQL of their own.
TEMPORAL_BACKEND=${TEMPORAL_BACKEND:-dev}
# 0: one redis-server; N (at least 3): a Redis Cluster of N masters on
# REDIS_PORT .. REDIS_PORT+N-1.
REDIS_CLUSTER=${REDIS_CLUSTER:-0}
TEMPORAL_PORT=${TEMPORAL_PORT:-7233}
TEMPORAL_UI_PORT=${TEMPORAL_UI_PORT:-8233}
# The dev server's Prometheus metrics (/metrics), on a fixed port.
TEMPORAL_METRICS_PORT=${TEMPORAL_METRICS_PORT:-9480}
# The live page (starter serve).
WEB_PORT=${WEB_PORT:-8080}
REDIS_PORT=${REDIS_PORT:-6379}
POSTGRES_PORT=${POSTGRES_PORT:-5432}
TEMPORAL_HISTORY_SHARDS=${TEMPORAL_HISTORY_SHARDS:-4}
# The worker processes serve /metrics, /healthz and /readyz on 127.0.0.1,
# each on its own port from METRICS_PORT on, in WORKER_NAMES order (see
# metrics_addr); make up writes them to .state/env.
METRICS_PORT=${METRICS_PORT:-9464}
# Prometheus and the redis_exporter it scrapes Redis through (when
# installed; scripts/up-prometheus.sh), both on 127.0.0.1.
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
REDIS_EXPORTER_PORT=${REDIS_EXPORTER_PORT:-9121}
TEMPORAL_NAMESPACE=${TEMPORAL_NAMESPACE:-default}
# Each redis-server's maxmemory (redis.conf units: 512mb, 1gb); every node
# runs with maxmemory-policy noeviction, which the processes require.
REDIS_MAXMEMORY=${REDIS_MAXMEMORY:-1gb}
# How long Temporal keeps a closed workflow's history (the namespace's
# retention, a Go duration in hours: 72h); see docs/operations.md.
TEMPORAL_RETENTION=${TEMPORAL_RETENTION:-72h}
# Local-only defaults, the same as docker-compose.yml; not secrets. Keep
# overrides URL-safe: they become part of the Redis URLs. Each process logs
# in as its own user of deploy/redis/users.acl (REDIS_USERS): its password
# is REDIS_<NAME>_PASSWORD, e.g. REDIS_PAYMENT_PASSWORD for the payment
# service; REDIS_ADMIN_PASSWORD is the default user's, for administration.
REDIS_USERS=(order inventory fraud payment shipping notify worker starter web exporter)
for user in "${REDIS_USERS[@]}" admin; do
	var="REDIS_$(printf '%s' "$user" | tr '[:lower:]' '[:upper:]')_PASSWORD"
	printf -v "$var" '%s' "${!var:-ordersaga-$user-local-only}"
	export "${var?}"
done
unset user var
# redis_user NAME: the Redis user of process NAME (a worker process of
# WORKER_NAMES, starter or web).
redis_user() { echo "ordersaga-$1"; }
# redis_password NAME: its password.
redis_password() {
	local var
	var="REDIS_$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')_PASSWORD"
	echo "${!var}"
}
TEMPORAL_PG_PASSWORD=${TEMPORAL_PG_PASSWORD:-ordersaga-local-only}

# The pinned versions: the one place they are set (docker-compose*.yml name
# the same in their image tags; internal/tests/deploy checks they agree).
TEMPORAL_CLI_VERSION=1.5.1
TEMPORAL_SERVER_VERSION=1.32.1
TEMPORAL_UI_VERSION=2.54.1

# The dev server's dynamic config, as in the tests, docker-compose.yml and
# deploy/temporal/dynamicconfig.yaml (the PostgreSQL backend).
DEV_SERVER_FLAGS=(
	--dynamic-config-value system.enableActivityEagerExecution=true
	--dynamic-config-value system.enableEagerWorkflowStart=true
	--dynamic-config-value history.transferProcessorMaxPollRPS=1000
)
# The project's search attributes, registered wherever a server starts.
SEARCH_ATTRIBUTE_FLAGS=(
	--search-attribute OrderStatus=Keyword
	--search-attribute OrderFailedStep=Keyword
)

# Worker processes: PID-file name and the --services value it runs.
# stack_name: what the reports of make bench and make experiments call the
# stack make up started (the servers add their versions to it).
stack_name() {
	local s="make up"
	[ "$TEMPORAL_BACKEND" = dev ] || s+=" TEMPORAL_BACKEND=$TEMPORAL_BACKEND"
	[ "${REDIS_CLUSTER:-0}" -eq 0 ] || s+=" REDIS_CLUSTER=$REDIS_CLUSTER"
	[ "$TEMPORAL_BACKEND" != dev ] || s+=" (the Temporal dev server on its database file)"
	echo "$s"
}

WORKER_NAMES=(worker order inventory payment shipping notify fraud)
worker_service() {
	if [ "$1" = worker ]; then echo orchestration; else echo "$1"; fi
}

# metrics_addr NAME: the --metrics-addr of worker process NAME.
metrics_addr() {
	local i
	for i in "${!WORKER_NAMES[@]}"; do
		if [ "${WORKER_NAMES[$i]}" = "$1" ]; then
			echo "127.0.0.1:$((METRICS_PORT + i))"
			return
		fi
	done
	return 1
}

# metrics_env NAME: the variable of .state/env that holds NAME's metrics
# address, e.g. ORDERSAGA_METRICS_PAYMENT.
metrics_env() { echo "ORDERSAGA_METRICS_$(printf '%s' "$1" | tr '[:lower:]-' '[:upper:]_')"; }

# worker_ready NAME: NAME's /readyz answers 200 (connected and consuming).
worker_ready() {
	"$ROOT/bin/worker" healthcheck --addr "$(metrics_addr "$1")" --timeout 2s >/dev/null 2>&1
}

# The servers of the chosen settings, in start order.
temporal_names() {
	if [ "$TEMPORAL_BACKEND" = postgres ]; then echo postgres temporal-server temporal-ui; else echo temporal; fi
}
redis_names() {
	local i
	if [ "$REDIS_CLUSTER" -gt 0 ] 2>/dev/null; then
		for ((i = 1; i <= 2 * REDIS_CLUSTER; i++)); do echo "redis-$i"; done
	else
		echo redis
	fi
}
# Every name `make up` may have started, in stop order (make down stops
# whatever of these has a PID file, whatever the settings now).
STOP_ORDER=(prometheus redis-exporter web fraud notify shipping payment inventory order worker temporal-ui temporal-server temporal
	redis redis-{1..18} postgres)

say() { printf '%s\n' "$*"; }
warn() { printf '%s\n' "$*" >&2; }

# signature NAME: the text the command line of NAME's process must contain.
signature() {
	case "$1" in
	temporal) echo "server start-dev" ;;
	temporal-server) echo "temporal-server --root" ;;
	temporal-ui) echo "temporal-ui-server --root" ;;
	postgres) echo "-D $STATE/postgres/data" ;;
	prometheus) echo "--config.file=$STATE/prometheus.yml" ;;
	redis-exporter) echo "prometheus-redis-exporter -web.listen-address" ;;
	redis | redis-*) echo "redis-server" ;;
	web) echo "starter serve" ;;
	*) echo "worker --services $(worker_service "$1")" ;;
	esac
}

# proc_args PID: the command line of a live process.
proc_args() {
	if [ -r "/proc/$1/cmdline" ]; then
		tr '\0' ' ' <"/proc/$1/cmdline"
	else
		ps -o args= -p "$1" 2>/dev/null
	fi
}

# running_pid NAME: print the PID of NAME if its PID file names a live
# process that is still NAME (not a reused PID); fail otherwise.
running_pid() {
	local file="$STATE/$1.pid" pid args
	[ -f "$file" ] || return 1
	pid=$(head -n 1 "$file" 2>/dev/null) || return 1
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	args=$(proc_args "$pid") || return 1
	case "$args" in *"$(signature "$1")"*) ;; *) return 1 ;; esac
	echo "$pid"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

temporal_healthy() {
	"$TEMPORAL_BIN" operator cluster health --address "localhost:$TEMPORAL_PORT" >/dev/null 2>&1
}

# redis_ping PORT [USER PASSWORD]: PONG from the Redis on PORT, as USER
# (default user without USER). The password travels in REDISCLI_AUTH,
# never on the command line.
redis_ping() {
	local out port=$1 user=${2:-} pass=${3:-}
	local args=(-h 127.0.0.1 -p "$port")
	[ -z "$user" ] || args+=(--user "$user")
	out=$(REDISCLI_AUTH="$pass" redis-cli "${args[@]}" ping 2>/dev/null) || return 1
	[ "$out" = PONG ]
}

# render_redis_acl: deploy/redis/users.acl as redis-server loads it (see
# deploy/redis/render-acl.sh): the passwords' SHA-256 filled in.
render_redis_acl() { sh "$ROOT/deploy/redis/render-acl.sh" "$ROOT/deploy/redis/users.acl"; }

# tail_log NAME: the end of NAME's log, to show why it failed.
tail_log() {
	if [ -s "$STATE/$1.log" ]; then
		warn "--- last lines of .state/$1.log"
		tail -n 20 "$STATE/$1.log" >&2
		warn "---"
	fi
}

# pg_bindir: PostgreSQL's server programs (initdb, pg_ctl, postgres, psql):
# $PG_BINDIR, else the newest /usr/lib/postgresql/*/bin (Debian).
pg_bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		[ -x "$PG_BINDIR/postgres" ] && echo "$PG_BINDIR"
		return
	fi
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] && [ -x "$d/postgres" ] && echo "$d"
}

# as_postgres CMD...: PostgreSQL refuses to run as root; as root, run CMD as
# the system's postgres user.
as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# wait_for SECONDS NAME CHECK...: run CHECK until it succeeds; fail early
# when NAME's process (if it has a PID file) dies. The process was just
# started from this script, so its PID alone tells: until it has exec'd,
# its command line is still this script's, not NAME's.
wait_for() {
	local secs=$1 name=$2 pid
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@"; do
		pid=$(head -n 1 "$STATE/$name.pid" 2>/dev/null) || pid=""
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
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

# stop_process NAME PID: stop NAME's process (make up started it) and wait
# up to 30 s for it to exit, then kill it. The PID file stays.
stop_process() {
	local name=$1 pid=$2 sig deadline
	say "== stopping $name (pid $pid)"
	# PostgreSQL: a fast shutdown (SIGINT) rather than waiting for clients.
	sig=TERM
	[ "$name" != postgres ] || sig=INT
	kill "-$sig" "$pid" 2>/dev/null || true
	deadline=$((SECONDS + 30))
	while running_pid "$name" >/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			warn "   $name did not stop within 30s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
}
