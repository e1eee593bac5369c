#!/usr/bin/env bash
# make deps / make up / make test: the system packages a command needs.
# Missing ones are installed with apt-get when running as root on Debian or
# Ubuntu; otherwise the command stops at once with the exact command to run.
#
#   scripts/deps.sh test   redis-server, PostgreSQL, chromium, Prometheus, and
#                          Debian's Redis and PostgreSQL exporters (every test)
#   scripts/deps.sh up     redis-server, and PostgreSQL for
#                          TEMPORAL_BACKEND=postgres; Prometheus and Debian's
#                          Redis exporter if it can install them (without
#                          them make up runs no Prometheus; under CI=true
#                          they are required)
#   scripts/deps.sh compose  debootstrap (make standins, make compose-test)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

have_postgres() { [ -n "$(pg_bindir)" ]; }
have_redis() { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; }
have_chromium() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
have() { command -v "$1" >/dev/null 2>&1; }

missing=()
case "${1:-test}" in
test)
	have_redis || missing+=(redis-server)
	have_postgres || missing+=(postgresql)
	have_chromium || missing+=(chromium)
	# The dashboard test runs them as Compose's stand-ins do.
	have prometheus-redis-exporter || missing+=(prometheus-redis-exporter)
	have prometheus-postgres-exporter || missing+=(prometheus-postgres-exporter)
	# make docs-test's make up runs Prometheus.
	have prometheus || missing+=(prometheus)
	;;
up)
	have_redis || missing+=(redis-server)
	if [ "$TEMPORAL_BACKEND" = postgres ]; then have_postgres || missing+=(postgresql); fi
	# Prometheus (scripts/up-prometheus.sh): installed along with the rest
	# when this can install; else make up goes on without it.
	optional=()
	have prometheus || optional+=(prometheus)
	have prometheus-redis-exporter || optional+=(prometheus-redis-exporter)
	if [ ${#optional[@]} -gt 0 ]; then
		if [ "${CI:-}" = true ] || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }; then
			missing+=("${optional[@]}")
		else
			warn "make up: no Prometheus (${optional[*]} not installed; sudo apt-get install -y ${optional[*]}); going on without it"
		fi
	fi
	;;
compose)
	command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
	;;
*)
	warn "usage: scripts/deps.sh test|up|compose"
	exit 2
	;;
esac
[ ${#missing[@]} -gt 0 ] || exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	warn "Missing: ${missing[*]}. Install with:"
	warn "  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
	warn "(or your system's packages of the same names), then run the command again."
	exit 1
fi
say "== installing ${missing[*]} (apt-get)"
case " ${missing[*]} " in
*" postgresql "*)
	# The project runs PostgreSQL on a data directory of its own; Debian's
	# package should not create and start a system cluster as well.
	if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
		mkdir -p /etc/postgresql-common
		echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
	fi
	;;
esac
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
