#!/bin/sh
# The Redis containers' entrypoint in Compose: renders the repository's ACL
# file (users.acl beside this script, by render-acl.sh) with the SHA-256 of
# each user's password (REDIS_<NAME>_PASSWORD: ORDER, INVENTORY, FRAUD, PAYMENT,
# SHIPPING, NOTIFY, WORKER, STARTER, WEB, EXPORTER, and ADMIN for the default user), writes a
# config file that loads it, and runs redis-server on that file through the
# image's own entrypoint (which drops to the redis user). No password is on
# any command line or in any file in clear text. REDIS_CLUSTER_NODE=yes
# makes the node a Redis Cluster member that announces itself to clients
# by the name REDIS_ANNOUNCE_HOSTNAME (its service name: a container cut off
# the network and connected again comes back under a new IP address, and
# its name still leads to it), and that authenticates to its master as the
# default user when it is a replica: that password reaches redis-server on
# its standard input, never in a file.
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
if id redis >/dev/null 2>&1; then chown -R redis:redis "$conf"; fi
chmod 700 "$conf"
if [ "${REDIS_CLUSTER_NODE:-no}" != yes ]; then
	exec docker-entrypoint.sh redis-server "$conf/redis.conf"
fi
: "${REDIS_ANNOUNCE_HOSTNAME:?REDIS_ANNOUNCE_HOSTNAME is not set (the node's service name)}"
: "${REDIS_ADMIN_PASSWORD:?REDIS_ADMIN_PASSWORD is not set}"
cat >>"$conf/redis.conf" <<CONF
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout ${REDIS_CLUSTER_NODE_TIMEOUT:-5000}
cluster-announce-hostname $REDIS_ANNOUNCE_HOSTNAME
cluster-preferred-endpoint-type hostname
masteruser default
CONF
# "-", the last argument, makes redis-server read more configuration from
# its standard input: here the replication password, from a here-document.
exec docker-entrypoint.sh redis-server "$conf/redis.conf" - <<AUTH
masterauth "$REDIS_ADMIN_PASSWORD"
AUTH
