#!/bin/sh
# Creates Temporal's two databases on PostgreSQL and applies the schemas
# the server module ships (schema/postgresql/v12, embedded in the pinned
# temporal-sql-tool) up to the latest version. Safe to run again: existing
# databases are kept and only missing schema versions are applied. Used by
# `make up TEMPORAL_BACKEND=postgres`, the Compose schema job and the tests.
#
# Environment: SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD (read by the tool
# itself, so the password is never on a command line), TEMPORAL_PG_DB
# (temporal), TEMPORAL_PG_VISIBILITY_DB (temporal_visibility), and
# TEMPORAL_SQL_TOOL (the tool's path; temporal-sql-tool on the PATH).
set -eu
tool=${TEMPORAL_SQL_TOOL:-temporal-sql-tool}
export SQL_PLUGIN="${SQL_PLUGIN:-postgres12}"

apply() { # DATABASE SCHEMA_NAME
	if ! "$tool" --db "$1" create-database >/dev/null 2>&1; then
		echo "database $1: exists (or cannot be created; the next step says which)"
	fi
	# update-schema needs the version table that setup-schema creates once.
	if ! "$tool" --db "$1" update-schema --schema-name "$2" >/dev/null 2>&1; then
		"$tool" --db "$1" setup-schema -v 0.0
		"$tool" --db "$1" update-schema --schema-name "$2"
	fi
	echo "database $1: schema $2 up to date"
}

apply "${TEMPORAL_PG_DB:-temporal}" postgresql/v12/temporal
apply "${TEMPORAL_PG_VISIBILITY_DB:-temporal_visibility}" postgresql/v12/visibility
