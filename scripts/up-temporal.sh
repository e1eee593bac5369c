# shellcheck shell=bash
# Temporal for make up (sourced by up.sh): the dev server (default), or
# with TEMPORAL_BACKEND=postgres the pinned Temporal server and its Web UI
# server on a PostgreSQL of their own (Debian's package; data directory in
# .state/postgres, not the system cluster). Either way the namespace exists,
# keeps closed workflows for TEMPORAL_RETENTION and has the project's
# search attributes.

# check_temporal_ports: the frontend and UI ports are free (when nothing of
# ours runs).
check_temporal_ports() {
	local p
	for p in "$@"; do
		if port_open "$p"; then
			fail "port $p is already in use (another Temporal server, or 'docker compose up'?).
Stop that, or pick other ports: TEMPORAL_PORT=17233 TEMPORAL_UI_PORT=18233 TEMPORAL_METRICS_PORT=19480 make up"
		fi
	done
}

up_dev_server() {
	if pid=$(running_pid temporal); then
		say "== Temporal dev server already running (pid $pid)"
		return
	fi
	rm -f "$STATE/temporal.pid"
	check_temporal_ports "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT" "$TEMPORAL_METRICS_PORT"
	say "== starting the Temporal dev server on localhost:$TEMPORAL_PORT (UI :$TEMPORAL_UI_PORT, metrics :$TEMPORAL_METRICS_PORT/metrics)"
	local ns=()
	[ "$TEMPORAL_NAMESPACE" = default ] || ns=(--namespace "$TEMPORAL_NAMESPACE")
	nohup "$TEMPORAL_BIN" server start-dev \
		--ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" --metrics-port "$TEMPORAL_METRICS_PORT" \
		--db-filename "$STATE/temporal.db" ${ns[@]+"${ns[@]}"} \
		--log-level warn "${DEV_SERVER_FLAGS[@]}" "${SEARCH_ATTRIBUTE_FLAGS[@]}" \
		</dev/null >"$STATE/temporal.log" 2>&1 9>&- &
	echo $! >"$STATE/temporal.pid"
	wait_for 120 temporal temporal_healthy
	wait_for 60 temporal register_namespace temporal
}

PG_DATA="$STATE/postgres/data"

pg_ready() { "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$POSTGRES_PORT" -q; }

# pg_sql SQL: run SQL as the superuser over the data directory's socket
# (local connections there are trusted; the directory is private to the
# PostgreSQL user). SQL goes on stdin, so no password is on a command line.
pg_sql() {
	printf '%s\n' "$1" | as_postgres "$PG_BIN/psql" -q -v ON_ERROR_STOP=1 -h "$PG_DATA" -p "$POSTGRES_PORT" -U postgres -d postgres >/dev/null
}

up_postgres() {
	if pid=$(running_pid postgres); then
		say "== PostgreSQL already running (pid $pid)"
		return
	fi
	rm -f "$STATE/postgres.pid"
	port_open "$POSTGRES_PORT" && fail "port $POSTGRES_PORT is already in use (the system's PostgreSQL?); pick another: POSTGRES_PORT=15432 make up TEMPORAL_BACKEND=postgres"
	mkdir -p "$STATE/postgres"
	touch "$STATE/postgres.log"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || fail "PostgreSQL will not run as root and there is no postgres user (install the package postgresql)"
		chown postgres: "$STATE/postgres" "$STATE/postgres.log"
		as_postgres test -w "$STATE/postgres" ||
			fail "PostgreSQL runs as the user postgres, which cannot reach $STATE/postgres (a parent directory is private); use a checkout it can reach"
	fi
	if [ ! -f "$PG_DATA/PG_VERSION" ]; then
		say "== creating a PostgreSQL cluster in .state/postgres/data"
		as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
			-E UTF8 >>"$STATE/postgres.log" 2>&1 || {
			tail_log postgres
			fail "initdb failed"
		}
	fi
	say "== starting PostgreSQL on localhost:$POSTGRES_PORT (data in .state/postgres)"
	as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$STATE/postgres.log" -w -t 60 \
		-o "-p $POSTGRES_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null 9>&- || {
		tail_log postgres
		fail "PostgreSQL did not start"
	}
	head -n 1 "$PG_DATA/postmaster.pid" >"$STATE/postgres.pid"
	wait_for 30 postgres pg_ready
	local pw=${TEMPORAL_PG_PASSWORD//\'/\'\'}
	pg_sql "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'temporal') THEN CREATE ROLE temporal LOGIN CREATEDB; END IF;
END \$\$;
ALTER ROLE temporal PASSWORD '$pw';" || fail "could not create the PostgreSQL role temporal"
}

# The Temporal server's and the SQL tool's environment (in a subshell only,
# so the database password reaches no other process): the config template
# (deploy/temporal/config/ordersaga.yaml) reads everything from it.
temporal_server_env() {
	export TEMPORAL_PG_HOST=127.0.0.1 TEMPORAL_PG_PORT="$POSTGRES_PORT" TEMPORAL_PG_USER=temporal
	export TEMPORAL_PG_PASSWORD TEMPORAL_HISTORY_SHARDS
	export TEMPORAL_DYNAMIC_CONFIG="$ROOT/deploy/temporal/dynamicconfig.yaml" TEMPORAL_LOG_LEVEL=warn \
		TEMPORAL_METRICS_ADDRESS="127.0.0.1:$TEMPORAL_METRICS_PORT"
	export SQL_HOST=127.0.0.1 SQL_PORT="$POSTGRES_PORT" SQL_USER=temporal SQL_PASSWORD="$TEMPORAL_PG_PASSWORD"
	export TEMPORAL_SQL_TOOL="$BIN/temporal-sql-tool"
}

# register_namespace LOG: the namespace and the search attributes, if
# missing, and the namespace's retention (deploy/temporal/register.sh, as
# the Compose job temporal-setup does), logged to .state/LOG.log.
register_namespace() {
	TEMPORAL_CLI="$TEMPORAL_BIN" TEMPORAL_ADDRESS="localhost:$TEMPORAL_PORT" TEMPORAL_NAMESPACE="$TEMPORAL_NAMESPACE" \
		TEMPORAL_RETENTION="$TEMPORAL_RETENTION" sh "$ROOT/deploy/temporal/register.sh" >>"$STATE/$1.log" 2>&1
}

up_postgres_backend() {
	PG_BIN=$(pg_bindir) || true
	[ -n "$PG_BIN" ] || fail "PostgreSQL is not installed (Debian: apt-get install -y postgresql)"
	if [ $((TEMPORAL_PORT + 10)) -ge 32768 ]; then
		fail "TEMPORAL_PORT=$TEMPORAL_PORT: the Temporal server keeps its ports in a SMALLINT column; pick a port below 32758"
	fi
	up_postgres
	say "== applying Temporal's schemas (deploy/temporal/setup-schema.sh)"
	(temporal_server_env && sh "$ROOT/deploy/temporal/setup-schema.sh") >"$STATE/temporal-schema.log" 2>&1 || {
		tail_log temporal-schema
		fail "the schema setup failed"
	}
	if pid=$(running_pid temporal-server); then
		say "== Temporal server already running (pid $pid)"
	else
		rm -f "$STATE/temporal-server.pid"
		check_temporal_ports "$TEMPORAL_PORT" "$((TEMPORAL_PORT + 1))" "$((TEMPORAL_PORT + 2))" "$((TEMPORAL_PORT + 6))" "$((TEMPORAL_PORT + 10))"
		say "== starting the Temporal server $TEMPORAL_SERVER_VERSION on PostgreSQL, localhost:$TEMPORAL_PORT ($TEMPORAL_HISTORY_SHARDS history shards)"
		(
			temporal_server_env
			export TEMPORAL_PORT
			nohup "$BIN/temporal-server" --root "$ROOT/deploy/temporal" --config config --env ordersaga \
				--allow-no-auth start </dev/null >"$STATE/temporal-server.log" 2>&1 9>&- &
			echo $! >"$STATE/temporal-server.pid"
		)
	fi
	wait_for 120 temporal-server temporal_healthy
	wait_for 60 temporal-server register_namespace temporal-server
	if pid=$(running_pid temporal-ui); then
		say "== Temporal Web UI server already running (pid $pid)"
	else
		rm -f "$STATE/temporal-ui.pid"
		check_temporal_ports "$TEMPORAL_UI_PORT"
		say "== starting the Temporal Web UI server $TEMPORAL_UI_VERSION on localhost:$TEMPORAL_UI_PORT"
		TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT" TEMPORAL_UI_PORT=$TEMPORAL_UI_PORT \
			nohup "$BIN/temporal-ui-server" --root "$ROOT/deploy/temporal" --config ui --env ordersaga start \
			</dev/null >"$STATE/temporal-ui.log" 2>&1 9>&- &
		echo $! >"$STATE/temporal-ui.pid"
	fi
	wait_for 30 temporal-ui port_open "$TEMPORAL_UI_PORT"
}
