#!/bin/sh
# The Redis containers' entrypoint in Compose: renders the repository's ACL
# file (users.acl beside this script, by render-acl.sh) with the SHA-256 of
# each user's password (REDIS_<NAME>_PASSWORD: ORDER, INVENTORY, PAYMENT,
# SHIPPING, WORKER, STARTER, WEB, and ADMIN for the default user), writes a
# config file that loads it, and runs redis-server on that file through the
# image's own entrypoint (which drops to the redis user). No password is on
# any command line or in any file in clear text. REDIS_CLUSTER_NODE=yes
# makes the node a Redis Cluster member.
set -eu
here=$(dirname "$0")
conf=${REDIS_CONF_DIR:-/tmp/ordersaga-redis}
mkdir -p "$conf"
sh "$here/render-acl.sh" "$here/users.acl" >"$conf/users.acl"
cat >"$conf/redis.conf" <<CONF
port 6379
bind * -::*
aclfile $conf/users.acl
appendonly yes
dir ${REDIS_DATA_DIR:-/data}
maxmemory ${REDIS_MAXMEMORY:-1gb}
maxmemory-policy noeviction
CONF
if [ "${REDIS_CLUSTER_NODE:-no}" = yes ]; then
	cat >>"$conf/redis.conf" <<CONF
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 5000
CONF
fi
if id redis >/dev/null 2>&1; then chown -R redis:redis "$conf"; fi
chmod 700 "$conf"
exec docker-entrypoint.sh redis-server "$conf/redis.conf"
