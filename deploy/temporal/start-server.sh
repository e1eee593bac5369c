#!/bin/sh
# The Temporal server container's entrypoint in Compose
# (docker-compose.postgres.yml): it listens on every interface and
# announces the container's own address to the cluster, then runs the
# server with the repository's config template (config/ordersaga.yaml).
set -eu
export TEMPORAL_BIND_IP="${TEMPORAL_BIND_IP:-0.0.0.0}"
if [ -z "${TEMPORAL_BROADCAST_ADDRESS:-}" ]; then
	TEMPORAL_BROADCAST_ADDRESS=$(hostname -i | awk '{ print $1 }')
	export TEMPORAL_BROADCAST_ADDRESS
fi
exec temporal-server --root /etc/ordersaga/temporal --config config --env ordersaga --allow-no-auth start
