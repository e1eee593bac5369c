# shellcheck shell=bash
# Prometheus for make up (sourced by up.sh): Debian's prometheus and
# prometheus-redis-exporter, when installed, on PROMETHEUS_PORT and
# REDIS_EXPORTER_PORT (127.0.0.1), with a config made in .state/ from the
# ports this stack uses. The jobs are those of the Compose profile
# observability (deploy/observability/prometheus/prometheus.yml), so the
# dashboard's queries work on both: ordersaga (each worker process),
# temporal (the server's metrics port), redis (the one Redis, with its
# streams) or redis-cluster (each node), both through redis_exporter
# logged in as the Redis user ordersaga-exporter, as Compose runs it.
# Without them, make up goes on without Prometheus (scripts/deps.sh says so).

COMPOSE_PROMETHEUS_YML="$ROOT/deploy/observability/prometheus/prometheus.yml"

# check_streams: the job redis's check-streams patterns, as Compose has them.
check_streams() { grep -A1 'check-streams:' "$COMPOSE_PROMETHEUS_YML" | sed -n '2s/^ *- *//p'; }

# redis_node_ports: the port of each Redis make up runs.
redis_node_ports() {
	local i
	if [ "$REDIS_CLUSTER" -gt 0 ]; then
		for ((i = 0; i < 2 * REDIS_CLUSTER; i++)); do echo $((REDIS_PORT + i)); done
	else
		echo "$REDIS_PORT"
	fi
}

# prometheus_config: the scrape config of this stack (stdout).
prometheus_config() {
	local name port i=1 exporter="127.0.0.1:$REDIS_EXPORTER_PORT"
	cat <<-EOF
		# Made by make up (scripts/up-prometheus.sh) from this stack's ports;
		# the jobs of deploy/observability/prometheus/prometheus.yml.
		global:
		  scrape_interval: 5s
		  evaluation_interval: 5s
		scrape_configs:
		  - job_name: ordersaga
		    metrics_path: /metrics
		    static_configs:
	EOF
	for name in "${WORKER_NAMES[@]}"; do
		printf '      - targets: ["%s"]\n        labels: {process: %s}\n' "$(metrics_addr "$name")" "$(worker_service "$name")"
	done
	cat <<-EOF
		  - job_name: temporal
		    metrics_path: /metrics
		    static_configs:
		      - targets: ["127.0.0.1:$TEMPORAL_METRICS_PORT"]
		        labels: {process: temporal-server}
	EOF
	if [ "$REDIS_CLUSTER" -eq 0 ]; then
		cat <<-EOF
			  - job_name: redis
			    metrics_path: /scrape
			    params:
			      target: ["127.0.0.1:$REDIS_PORT"]
			      check-streams:
			        - $(check_streams)
			    static_configs:
			      - targets: ["$exporter"]
			        labels: {process: redis}
		EOF
		return
	fi
	# As Compose's job redis-cluster: each node through the exporter.
	printf '  - job_name: redis-cluster\n    metrics_path: /scrape\n    static_configs:\n'
	for port in $(redis_node_ports); do
		printf '      - targets: ["127.0.0.1:%s"]\n        labels: {process: redis-node-%s}\n' "$port" "$i"
		i=$((i + 1))
	done
	cat <<-EOF
		    relabel_configs:
		      - source_labels: [__address__]
		        target_label: __param_target
		      - source_labels: [__param_target]
		        target_label: instance
		      - target_label: __address__
		        replacement: "$exporter"
	EOF
}

# prometheus_ready: its /-/ready answers 200 (bash's /dev/tcp; no curl needed).
prometheus_ready() {
	local status
	status=$(
		exec 2>/dev/null
		exec 3<>"/dev/tcp/127.0.0.1/$PROMETHEUS_PORT" || exit 1
		printf 'GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
		head -n 1 <&3
	) || return 1
	case "$status" in "HTTP/"*" 200"*) ;; *) return 1 ;; esac
}
redis_exporter_ready() { port_open "$REDIS_EXPORTER_PORT"; }

start_redis_exporter() {
	if pid=$(running_pid redis-exporter); then
		say "== redis-exporter already running (pid $pid)"
		return
	fi
	rm -f "$STATE/redis-exporter.pid"
	port_open "$REDIS_EXPORTER_PORT" &&
		fail "port $REDIS_EXPORTER_PORT is already in use (Debian's prometheus-redis-exporter service?); pick another: REDIS_EXPORTER_PORT=19121 make up"
	say "== starting redis_exporter on 127.0.0.1:$REDIS_EXPORTER_PORT (Redis user $(redis_user exporter))"
	(
		# Its password in the environment only, as Compose passes it.
		export REDIS_ADDR="redis://127.0.0.1:$REDIS_PORT" REDIS_PASSWORD="$REDIS_EXPORTER_PASSWORD" \
			REDIS_EXPORTER_SET_CLIENT_NAME=false REDIS_EXPORTER_CONFIG_COMMAND=-
		# A Redis make up did not start and that has no ACL: no user.
		if [ "$REDIS_URL_AUTH" = no ]; then
			unset REDIS_PASSWORD
		else
			REDIS_USER=$(redis_user exporter)
			export REDIS_USER
		fi
		exec nohup prometheus-redis-exporter -web.listen-address "127.0.0.1:$REDIS_EXPORTER_PORT" \
			</dev/null >"$STATE/redis-exporter.log" 2>&1 9>&-
	) &
	echo $! >"$STATE/redis-exporter.pid"
	wait_for 30 redis-exporter redis_exporter_ready
}

start_prometheus() {
	(umask 077 && prometheus_config >"$STATE/prometheus.yml")
	if pid=$(running_pid prometheus); then
		say "== Prometheus already running (pid $pid)"
		return
	fi
	rm -f "$STATE/prometheus.pid"
	port_open "$PROMETHEUS_PORT" &&
		fail "port $PROMETHEUS_PORT is already in use (Debian's prometheus service?); pick another: PROMETHEUS_PORT=19090 make up"
	say "== starting Prometheus on 127.0.0.1:$PROMETHEUS_PORT (config .state/prometheus.yml, data .state/prometheus/)"
	mkdir -p "$STATE/prometheus"
	nohup prometheus --config.file="$STATE/prometheus.yml" --storage.tsdb.path="$STATE/prometheus" \
		--web.listen-address="127.0.0.1:$PROMETHEUS_PORT" </dev/null >"$STATE/prometheus.log" 2>&1 9>&- &
	echo $! >"$STATE/prometheus.pid"
	wait_for 60 prometheus prometheus_ready
}

# have_prometheus: both programs are installed.
have_prometheus() { command -v prometheus >/dev/null 2>&1 && command -v prometheus-redis-exporter >/dev/null 2>&1; }

# up_prometheus: the exporter and Prometheus, when both are installed.
up_prometheus() {
	have_prometheus || return 0
	start_redis_exporter
	start_prometheus
}
