#!/bin/sh
# The Compose job redis-cluster-create (profile cluster): assigns the slots
# once (redis-cli --cluster create) to three masters with a replica each
# (REDIS_CLUSTER_NODES: the masters first, then the replicas), then waits
# until the cluster is ok and every replica has synchronised with its
# master. A cluster that already has its slots is left as it is. The admin
# password travels in REDISCLI_AUTH.
set -eu
: "${REDIS_ADMIN_PASSWORD:?REDIS_ADMIN_PASSWORD is not set}"
export REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD"
addrs=""
for node in ${REDIS_CLUSTER_NODES:-redis-node-1 redis-node-2 redis-node-3 redis-node-4 redis-node-5 redis-node-6}; do
	ip=$(getent hosts "$node" | awk '{ print $1 }')
	[ -n "$ip" ] || { echo "cannot resolve $node" >&2; exit 1; }
	addrs="$addrs $ip:6379"
done
first=${addrs# }
first=${first%% *}
assigned=$(redis-cli -h "${first%:*}" cluster info | tr -d '\r' | awk -F: '$1 == "cluster_slots_assigned" { print $2 }')
if [ "$assigned" = 0 ]; then
	# shellcheck disable=SC2086
	redis-cli --cluster create $addrs --cluster-replicas "${REDIS_CLUSTER_REPLICAS:-1}" --cluster-yes
fi
# ready ADDR: the node reports the cluster ok and, when it is a replica,
# its link to its master up.
ready() {
	redis-cli -h "${1%:*}" cluster info | grep -q '^cluster_state:ok' || return 1
	repl=$(redis-cli -h "${1%:*}" info replication | tr -d '\r')
	echo "$repl" | grep -q '^role:master' || echo "$repl" | grep -q '^master_link_status:up'
}
for addr in $addrs; do
	i=0
	until ready "$addr"; do
		i=$((i + 1))
		[ "$i" -lt 120 ] || { echo "$addr: the cluster is not ok, or the replica not in sync, after 120s" >&2; exit 1; }
		sleep 1
	done
done
echo "cluster ok:$addrs"
