#!/usr/bin/env bash
# stack-servers.sh stop|start temporal|redis: stop or start the Temporal
# server or Redis of the stack `make up` started, by their PID files in
# .state/ (as make down and make up do), keeping their data. It is what
# `starter experiment outage --service coordinator --servers
# scripts/stack-servers.sh` calls to take the coordinator down and bring it
# back. temporal: the dev server, or with the PostgreSQL backend the
# Temporal server (PostgreSQL and the Web UI server stay up); redis: the
# redis-server, or every node of the cluster.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/up-redis.sh
. "$(dirname "$0")/up-redis.sh"
# shellcheck source=scripts/up-temporal.sh
. "$(dirname "$0")/up-temporal.sh"
cd "$ROOT"

fail() {
	warn "stack-servers: $*"
	exit 1
}

[ $# -eq 2 ] || fail "usage: $0 stop|start temporal|redis"
verb=$1 server=$2
[ -f "$STATE/settings" ] || fail "nothing is up (no .state/settings): run make up first"
case "$server" in
temporal) [ "$TEMPORAL_BACKEND" = postgres ] && names=(temporal-server) || names=(temporal) ;;
redis) mapfile -t names < <(redis_names) ;;
*) fail "unknown server $server: want temporal or redis" ;;
esac

case "$verb" in
stop)
	for name in "${names[@]}"; do
		if pid=$(running_pid "$name"); then
			stop_process "$name" "$pid" >&2
		fi
		rm -f "$STATE/$name.pid"
	done
	;;
start)
	if [ "$server" = redis ]; then
		if [ "$REDIS_CLUSTER" -gt 0 ]; then up_redis_cluster; else up_redis_single; fi
	elif [ "$TEMPORAL_BACKEND" = postgres ]; then
		up_postgres_backend
	else
		up_dev_server
	fi >&2
	;;
*) fail "unknown verb $verb: want stop or start" ;;
esac
