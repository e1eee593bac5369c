#!/bin/sh
# The Compose job redis-cluster-create (profile cluster): assigns the slots
# of the three nodes once (redis-cli --cluster create, no replicas) and
# waits until the cluster is ok. A cluster that already has its slots is
# left as it is. The admin password travels in REDISCLI_AUTH.
set -eu
: "${REDIS_ADMIN_PASSWORD:?REDIS_ADMIN_PASSWORD is not set}"
export REDISCLI_AUTH="$REDIS_ADMIN_PASSWORD"
addrs=""
for node in ${REDIS_CLUSTER_NODES:-redis-node-1 redis-node-2 redis-node-3}; do
	ip=$(getent hosts "$node" | awk '{ print $1 }')
	[ -n "$ip" ] || { echo "cannot resolve $node" >&2; exit 1; }
	addrs="$addrs $ip:6379"
done
first=${addrs# }
first=${first%% *}
assigned=$(redis-cli -h "${first%:*}" cluster info | tr -d '\r' | awk -F: '$1 == "cluster_slots_assigned" { print $2 }')
if [ "$assigned" = 0 ]; then
	# shellcheck disable=SC2086
	redis-cli --cluster create $addrs --cluster-replicas 0 --cluster-yes
fi
i=0
until redis-cli -h "${first%:*}" cluster info | grep -q '^cluster_state:ok'; do
	i=$((i + 1))
	[ "$i" -lt 60 ] || { echo "the cluster is not ok after 60s" >&2; exit 1; }
	sleep 1
done
echo "cluster ok:$addrs"
