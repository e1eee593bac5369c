#!/bin/sh
# render-acl.sh [FILE]: prints the ACL file (users.acl beside this script
# by default) as redis-server loads it: comment and blank lines dropped, an
# indented line joined to the line before it, and every
# ${REDIS_<NAME>_PASSWORD_SHA256} replaced by the SHA-256 (hex) of the
# environment variable REDIS_<NAME>_PASSWORD, which must be set. Used by
# start.sh (Compose) and scripts/lib.sh (make up); internal/testkit/testenv renders
# the same way in Go.
set -eu
acl=${1:-$(dirname "$0")/users.acl}
set --
for name in ADMIN ORDER INVENTORY FRAUD PAYMENT SHIPPING NOTIFY WORKER STARTER WEB EXPORTER; do
	eval "pw=\${REDIS_${name}_PASSWORD:-}"
	if [ -z "$pw" ]; then
		echo "render-acl.sh: REDIS_${name}_PASSWORD is not set" >&2
		exit 1
	fi
	sum=$(printf '%s' "$pw" | sha256sum | cut -d ' ' -f 1)
	set -- "$@" -e "s/\${REDIS_${name}_PASSWORD_SHA256}/$sum/g"
done
out=$(sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$@" "$acl" |
	awk '/^[[:space:]]/ { sub(/^[[:space:]]+/, ""); line = line " " $0; next }
		{ if (line != "") print line; line = $0 }
		END { if (line != "") print line }')
case "$out" in *'${'*)
	echo "render-acl.sh: unknown placeholder left in $acl" >&2
	exit 1
	;;
esac
printf '%s\n' "$out"
