# shellcheck shell=bash disable=SC2034
# Settings and helpers shared by up.sh, down.sh and demo.sh (sourced).
# Every process `make up` starts has a PID file and a log in .state/;
# `make down` stops exactly those.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE="$ROOT/.state"
TEMPORAL_BIN="$ROOT/.bin/temporal"
GO=${GO:-go}

TEMPORAL_PORT=${TEMPORAL_PORT:-7233}
TEMPORAL_UI_PORT=${TEMPORAL_UI_PORT:-8233}
REDIS_PORT=${REDIS_PORT:-6379}
TEMPORAL_NAMESPACE=${TEMPORAL_NAMESPACE:-default}
# The same local-only default as docker-compose.yml; not a secret. Keep an
# override URL-safe: it becomes part of REDIS_URL.
REDIS_PASSWORD=${REDIS_PASSWORD:-ordersaga-local-only}

# The dev server's dynamic config, as in the tests and docker-compose.yml.
DEV_SERVER_FLAGS=(
	--dynamic-config-value system.enableActivityEagerExecution=true
	--dynamic-config-value system.enableEagerWorkflowStart=true
	--dynamic-config-value history.transferProcessorMaxPollRPS=1000
)

# Worker processes: PID-file name and the --services value it runs.
WORKER_NAMES=(worker order inventory payment shipping)
worker_service() {
	if [ "$1" = worker ]; then echo orchestration; else echo "$1"; fi
}

# Every name `make up` may start, in start order.
ALL_NAMES=(temporal redis "${WORKER_NAMES[@]}")

say() { printf '%s\n' "$*"; }
warn() { printf '%s\n' "$*" >&2; }

# signature NAME: the text the command line of NAME's process must contain.
signature() {
	case "$1" in
	temporal) echo "server start-dev" ;;
	redis) echo "redis-server" ;;
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
	pid=$(cat "$file" 2>/dev/null) || return 1
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

# redis_ping [PASSWORD]: PONG from the Redis on REDIS_PORT.
redis_ping() {
	local out
	if [ -n "${1:-}" ]; then
		out=$(REDISCLI_AUTH="$1" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) || return 1
	else
		out=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) || return 1
	fi
	[ "$out" = PONG ]
}

# tail_log NAME: the end of NAME's log, to show why it failed.
tail_log() {
	if [ -s "$STATE/$1.log" ]; then
		warn "--- last lines of .state/$1.log"
		tail -n 20 "$STATE/$1.log" >&2
		warn "---"
	fi
}
