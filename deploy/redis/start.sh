#!/bin/sh
# The Redis containers' entrypoint in Compose: renders the repository's ACL
# file (users.acl beside this script) with the SHA-256 of REDIS_PASSWORD
# (the application user ordersaga) and REDIS_ADMIN_PASSWORD (the default
# user, for administration), writes a config file that loads it, and runs
# redis-server on that file through the image's own entrypoint (which drops
# to the redis user). No password is on any command line or in any file in
# clear text. REDIS_CLUSTER_NODE=yes makes the node a Redis Cluster member.
set -eu
: "${REDIS_PASSWORD:?REDIS_PASSWORD is not set}"
: "${REDIS_ADMIN_PASSWORD:?REDIS_ADMIN_PASSWORD is not set}"
here=$(dirname "$0")
conf=${REDIS_CONF_DIR:-/tmp/ordersaga-redis}
mkdir -p "$conf"
hash() { printf '%s' "$1" | sha256sum | cut -d ' ' -f 1; }
app=$(hash "$REDIS_PASSWORD")
admin=$(hash "$REDIS_ADMIN_PASSWORD")
sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' \
	-e "s/\${REDIS_PASSWORD_SHA256}/$app/g" \
	-e "s/\${REDIS_ADMIN_PASSWORD_SHA256}/$admin/g" \
	"$here/users.acl" >"$conf/users.acl"
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
