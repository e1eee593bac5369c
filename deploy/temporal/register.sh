#!/bin/sh
# Creates the namespace (if missing), sets its retention (how long closed
# workflows are kept) and registers the project's search attributes in it
# (those missing), on a Temporal server that answers. Used by `make up`
# (both backends) and the Compose job temporal-setup; the dev server
# creates the namespace and the search attributes itself
# (--search-attribute), but not the retention.
#
# Environment: TEMPORAL_ADDRESS (host:port), TEMPORAL_NAMESPACE (default),
# TEMPORAL_RETENTION (72h; longer than the worker's --order-retention,
# shorter than the 7 days settled-order markers are kept: see
# docs/operations.md), TEMPORAL_CLI (the CLI's path; temporal on the PATH).
set -eu
cli=${TEMPORAL_CLI:-temporal}
ns=${TEMPORAL_NAMESPACE:-default}
addr=${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is not set}
retention=${TEMPORAL_RETENTION:-72h}

if ! "$cli" operator namespace describe --address "$addr" --namespace "$ns" >/dev/null 2>&1; then
	"$cli" operator namespace create --address "$addr" --namespace "$ns" --retention "$retention" >/dev/null
	echo "namespace $ns created"
else
	"$cli" operator namespace update --address "$addr" --namespace "$ns" --retention "$retention" >/dev/null
fi
echo "namespace $ns keeps closed workflows for $retention"
# A new namespace reaches every service of the server within its cache's
# refresh (about 10 s): until then it is "not found" here.
tries=0
until have=$("$cli" operator search-attribute list --address "$addr" --namespace "$ns" 2>&1); do
	tries=$((tries + 1))
	[ "$tries" -lt 30 ] || { echo "$have" >&2; exit 1; }
	sleep 2
done
for sa in OrderStatus OrderFailedStep; do
	if ! printf '%s\n' "$have" | grep -qw "$sa"; then
		"$cli" operator search-attribute create --address "$addr" --namespace "$ns" --name "$sa" --type Keyword >/dev/null
		echo "search attribute $sa (Keyword) registered"
	fi
done
