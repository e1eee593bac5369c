#!/bin/sh
# Creates the namespace (if missing) and registers the project's search
# attributes in it (those missing), on a Temporal server that answers.
# Used by `make up TEMPORAL_BACKEND=postgres` and the Compose job
# temporal-setup; the dev server registers them itself (--search-attribute).
#
# Environment: TEMPORAL_ADDRESS (host:port), TEMPORAL_NAMESPACE (default),
# TEMPORAL_CLI (the CLI's path; temporal on the PATH).
set -eu
cli=${TEMPORAL_CLI:-temporal}
ns=${TEMPORAL_NAMESPACE:-default}
addr=${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is not set}

if ! "$cli" operator namespace describe --address "$addr" --namespace "$ns" >/dev/null 2>&1; then
	"$cli" operator namespace create --address "$addr" --namespace "$ns" --retention 72h >/dev/null
	echo "namespace $ns created"
fi
have=$("$cli" operator search-attribute list --address "$addr" --namespace "$ns")
for sa in OrderStatus OrderFailedStep; do
	if ! printf '%s\n' "$have" | grep -qw "$sa"; then
		"$cli" operator search-attribute create --address "$addr" --namespace "$ns" --name "$sa" --type Keyword >/dev/null
		echo "search attribute $sa (Keyword) registered"
	fi
done
