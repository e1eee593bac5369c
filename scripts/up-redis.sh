# shellcheck shell=bash
# Redis for make up (sourced by up.sh): one redis-server, or a Redis Cluster
# of REDIS_CLUSTER masters with a replica each (2 x REDIS_CLUSTER nodes: a
# replica takes over when its master is down for longer than the node
# timeout), each with an append-only file and the project's
# ACL file (deploy/redis/users.acl): every process logs in as its own user,
# ordersaga-<name> (see redis_url); the default user is for administration
# only, with REDIS_ADMIN_PASSWORD. No password is ever on a command line:
# the ACL file holds their SHA-256, redis-cli reads REDISCLI_AUTH, the
# processes get their URL in the environment. Every node has a maxmemory
# of REDIS_MAXMEMORY and never evicts (maxmemory-policy noeviction): a
# full Redis refuses writes instead of deleting orders.
#
# Sets REDIS_ENV_LINE (the starter's export line for .state/env),
# REDIS_URL_VAR (REDIS_URL or REDIS_CLUSTER_URL) and REDIS_SUMMARY.

# redis_conf DIR PORT [cluster]: a node's config file and ACL file in DIR.
redis_conf() {
	local dir=$1 port=$2
	mkdir -p "$dir"
	(
		umask 077
		render_redis_acl >"$dir/users.acl"
		cat >"$dir/redis.conf" <<-EOF
			port $port
			bind 127.0.0.1 -::1
			aclfile "$dir/users.acl"
			appendonly yes
			dir "$dir"
			daemonize no
			maxmemory $REDIS_MAXMEMORY
			maxmemory-policy noeviction
		EOF
		if [ "${3:-}" = cluster ]; then
			cat >>"$dir/redis.conf" <<-EOF
				cluster-enabled yes
				cluster-config-file nodes.conf
				cluster-node-timeout 5000
				masteruser default
				masterauth "$REDIS_ADMIN_PASSWORD"
			EOF
		fi
	)
}

# start_redis_node NAME DIR PORT [cluster]
start_redis_node() {
	local name=$1 dir=$2 port=$3
	if pid=$(running_pid "$name"); then
		say "== $name already running (pid $pid)"
		return
	fi
	rm -f "$STATE/$name.pid"
	port_open "$port" && fail "port $port is already in use; stop that, or pick another port: REDIS_PORT=16379 make up"
	redis_conf "$dir" "$port" "${4:-}"
	say "== starting $name on localhost:$port (append-only file in ${dir#"$ROOT/"})"
	nohup redis-server "$dir/redis.conf" </dev/null >"$STATE/$name.log" 2>&1 9>&- &
	echo $! >"$STATE/$name.pid"
}

redis_app_ping() { redis_ping "$1" "$(redis_user starter)" "$REDIS_STARTER_PASSWORD"; }

# redis_url NAME: the Redis URL process NAME (a worker process of
# WORKER_NAMES, starter or web) logs in with, as its own user; without a
# user on a Redis make up did not start and that has no ACL.
REDIS_URL_AUTH=yes
redis_url() {
	local user=""
	[ "$REDIS_URL_AUTH" = no ] || user="$(redis_user "$1"):$(redis_password "$1")@"
	if [ "$REDIS_URL_VAR" = REDIS_CLUSTER_URL ]; then
		echo "redis://${user}127.0.0.1:$REDIS_PORT?$REDIS_CLUSTER_QUERY"
	else
		echo "redis://${user}localhost:$REDIS_PORT/0"
	fi
}

# up_redis_single: ours if running, else one already answering on
# REDIS_PORT (used, never stopped), else a new redis-server.
up_redis_single() {
	REDIS_SUMMARY="localhost:$REDIS_PORT"
	REDIS_URL_VAR=REDIS_URL
	if ! running_pid redis >/dev/null && port_open "$REDIS_PORT"; then
		rm -f "$STATE/redis.pid"
		command -v redis-cli >/dev/null 2>&1 ||
			fail "port $REDIS_PORT is in use and redis-cli (package redis-tools) is missing to check it; set REDIS_PORT"
		if redis_app_ping "$REDIS_PORT"; then
			say "== using the Redis already running on port $REDIS_PORT as user $(redis_user starter) (not started by make up, make down leaves it)"
		elif redis_ping "$REDIS_PORT"; then
			REDIS_URL_AUTH=no
			warn "== using the Redis already running on port $REDIS_PORT WITHOUT a password or the limited user (not started by make up, make down leaves it)"
		else
			fail "port $REDIS_PORT is in use by something that does not answer as Redis with the user $(redis_user starter) and REDIS_STARTER_PASSWORD.
Stop it, or pick another port: REDIS_PORT=16379 make up"
		fi
		REDIS_SUMMARY="$REDIS_SUMMARY (already running; not managed by make up)"
	else
		start_redis_node redis "$STATE/redis" "$REDIS_PORT"
		REDIS_SUMMARY="$REDIS_SUMMARY (a user per process; pid file .state/redis.pid, log .state/redis.log)"
	fi
	REDIS_ENV_LINE="export REDIS_URL=$(redis_url starter)"
	if [ "$REDIS_URL_AUTH" = no ]; then
		wait_for 30 redis redis_ping "$REDIS_PORT"
	else
		wait_for 30 redis redis_app_ping "$REDIS_PORT"
	fi
}

cluster_ok() {
	local info
	info=$(REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD" redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null) || return 1
	grep -q '^cluster_state:ok' <<<"${info//$'\r'/}"
}

cluster_slots_assigned() {
	REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD" redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null |
		tr -d '\r' | awk -F: '$1 == "cluster_slots_assigned" { print $2 }'
}

# move_cluster_ports DIR_PREFIX N FIRST_PORT: the nodes.conf files of a
# cluster that ran before (DIR_PREFIX1..N) name the ports it ran on; when
# the cluster now starts on FIRST_PORT.., every node's view of every node
# (port, and bus port = port + 10000) is rewritten to the new ports, so the
# nodes find each other again. Nothing to do on a first start.
move_cluster_ports() {
	local prefix=$1 n=$2 first=$3 i conf old map=""
	for ((i = 1; i <= n; i++)); do
		conf="$prefix$i/nodes.conf"
		[ -f "$conf" ] || return 0
		old=$(awk '$3 ~ /myself/ { split($2, a, "[:@]"); print a[2] }' "$conf")
		[ -n "$old" ] || fail "$conf names no node as myself; drop that cluster's data: rm -rf ${prefix}[1-$n]"
		[ "$old" = "$((first + i - 1))" ] || map+="$old=$((first + i - 1)) "
	done
	[ -n "$map" ] || return 0
	say "== the Redis Cluster in ${prefix%-}-N ran on other ports: moving its nodes to $first-$((first + n - 1))"
	for ((i = 1; i <= n; i++)); do
		conf="$prefix$i/nodes.conf"
		awk -v map="$map" '
			BEGIN { k = split(map, kv, " "); for (j = 1; j <= k; j++) { split(kv[j], p, "="); to[p[1]] = p[2] } }
			$2 ~ /:[0-9]+@[0-9]+/ && match($2, /:[0-9]+@[0-9]+/) {
				port = substr($2, RSTART + 1, index(substr($2, RSTART), "@") - 2)
				if (port in to) $2 = substr($2, 1, RSTART) to[port] "@" (to[port] + 10000) substr($2, RSTART + RLENGTH)
			}
			{ print }' "$conf" >"$conf.tmp" && mv "$conf.tmp" "$conf"
	done
}

# up_redis_cluster: REDIS_CLUSTER masters and as many replicas on
# REDIS_PORT.., slots assigned once with redis-cli --cluster create (the
# first REDIS_CLUSTER nodes become the masters); later starts reload
# nodes.conf (moved to the new ports when REDIS_PORT changed since).
up_redis_cluster() {
	[ "$REDIS_CLUSTER" -ge 3 ] || fail "REDIS_CLUSTER=$REDIS_CLUSTER: a Redis Cluster needs at least 3 masters (or 0 for one Redis)"
	local i port addrs=() query="" nodes=$((2 * REDIS_CLUSTER))
	running_pid redis-1 >/dev/null || move_cluster_ports "$STATE/redis-" "$nodes" "$REDIS_PORT"
	for ((i = 1; i <= nodes; i++)); do
		port=$((REDIS_PORT + i - 1))
		start_redis_node "redis-$i" "$STATE/redis-$i" "$port" cluster
		addrs+=("127.0.0.1:$port")
		[ "$i" = 1 ] || query+="${query:+&}addr=127.0.0.1:$port"
	done
	for ((i = 1; i <= nodes; i++)); do
		wait_for 30 "redis-$i" redis_app_ping "$((REDIS_PORT + i - 1))"
	done
	if [ "$(cluster_slots_assigned "$REDIS_PORT")" = 0 ]; then
		say "== creating the Redis Cluster (${addrs[*]}, a replica per master)"
		REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD" redis-cli --cluster create "${addrs[@]}" \
			--cluster-replicas 1 --cluster-yes >"$STATE/redis-cluster-create.log" 2>&1 || {
			tail_log redis-cluster-create
			fail "redis-cli --cluster create failed"
		}
	fi
	for ((i = 1; i <= nodes; i++)); do
		wait_for 60 "redis-$i" cluster_ok "$((REDIS_PORT + i - 1))"
	done
	REDIS_URL_VAR=REDIS_CLUSTER_URL REDIS_CLUSTER_QUERY=$query
	REDIS_ENV_LINE="export REDIS_CLUSTER_URL='$(redis_url starter)'"
	REDIS_SUMMARY="cluster of $REDIS_CLUSTER masters and $REDIS_CLUSTER replicas on ports $REDIS_PORT-$((REDIS_PORT + nodes - 1)) (a user per process; logs .state/redis-N.log)"
}
