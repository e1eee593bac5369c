#!/bin/sh
# Creates PostgreSQL's login role for postgres_exporter, ordersaga_exporter,
# or sets its password again: it may log in and read the statistics views
# and settings (the built-in role pg_monitor), and nothing of Temporal's
# tables. Run as a role that may create roles (in Compose: temporal, the
# image's POSTGRES_USER). Used by the PostgreSQL variant's job
# postgres-exporter-role (profile observability) and the dashboard test.
#
# Environment: the connection's libpq variables (PGHOST, PGPORT, PGUSER,
# PGPASSWORD, PGDATABASE) and POSTGRES_EXPORTER_PASSWORD, which psql reads
# itself (\getenv): no password is on a command line.
set -eu
: "${POSTGRES_EXPORTER_PASSWORD:?POSTGRES_EXPORTER_PASSWORD is not set}"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\getenv pw POSTGRES_EXPORTER_PASSWORD
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ordersaga_exporter') AS missing \gset
\if :missing
CREATE ROLE ordersaga_exporter;
\endif
ALTER ROLE ordersaga_exporter WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw';
GRANT pg_monitor TO ordersaga_exporter;
SQL
echo "role ordersaga_exporter: pg_monitor, password set"
