#!/usr/bin/env bash
# make compose-test: both Compose stacks for real, on this machine, without
# a registry. It makes sure `docker compose` is new enough for the files
# (building Compose from the module proxy into the CLI plugin folder when it
# is not), builds the stand-ins of every third-party image
# (deploy/standins), vendors the Go modules so the image build reaches no
# network, then runs the tests of internal/tests/deploy tagged `compose`
# (compose_run_test.go). Whatever the run starts is removed when it ends,
# also when it fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

# The Compose files use `required: false` (2.20) and !reset / !override
# (2.24.4); Compose v5.6.0 builds on this machine's Go.
COMPOSE_MIN=2.24.4
COMPOSE_MODULE=github.com/docker/compose/v5
COMPOSE_VERSION=v5.6.0
PLUGINS=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins

compose_version() { docker compose version --short 2>/dev/null | sed 's/^v//'; }

new_enough() {
	local have
	have=$(compose_version)
	[ -n "$have" ] && [ "$(printf '%s\n%s\n' "$COMPOSE_MIN" "$have" | sort -V | head -n 1)" = "$COMPOSE_MIN" ]
}

# build_compose: Compose from its module (whose go.mod has directives
# `go install` refuses, so it is built in its own module directory).
build_compose() {
	local dir
	say "== docker compose $(compose_version || true) is older than $COMPOSE_MIN: building Compose $COMPOSE_VERSION into $PLUGINS"
	dir=$("$GO" mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$dir" ] || { warn "compose-test: cannot download $COMPOSE_MODULE@$COMPOSE_VERSION"; exit 1; }
	mkdir -p "$PLUGINS"
	(cd "$dir" && CGO_ENABLED=0 "$GO" build -trimpath \
		-ldflags "-s -w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" \
		-o "$PLUGINS/docker-compose" ./cmd)
	new_enough || { warn "compose-test: docker compose is still $(compose_version)"; exit 1; }
}

# cleanup: every container, network and volume of a project this run named
# (a test that crashed skipped its own down -v), and the vendored modules.
cleanup() {
	local p
	for p in $(docker ps -a --format '{{.Label "com.docker.compose.project"}}' | grep "^$ORDERSAGA_COMPOSE_PREFIX-" | sort -u); do
		docker compose -p "$p" --profile '*' down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true
	done
	for p in $(docker volume ls -q --filter "label=com.docker.compose.project" | grep "^$ORDERSAGA_COMPOSE_PREFIX-" || true); do
		docker volume rm -f "$p" >/dev/null 2>&1 || true
	done
	docker network ls --format '{{.Name}}' | grep "^$ORDERSAGA_COMPOSE_PREFIX-" | xargs -r docker network rm >/dev/null 2>&1 || true
	rm -rf "$ROOT/vendor"
}

command -v docker >/dev/null && docker info >/dev/null 2>&1 || {
	warn "compose-test: no Docker Engine answers (docker info)"
	exit 1
}
new_enough || build_compose
say "== $(docker compose version)"
"$ROOT/deploy/standins/build.sh"

export ORDERSAGA_COMPOSE_PREFIX="ordersaga-ct$$"
[ ! -e "$ROOT/vendor" ] || { warn "compose-test: $ROOT/vendor exists; remove it first"; exit 1; }
trap cleanup EXIT
say "== go mod vendor (the image build uses GO_MODULES=vendor)"
(cd "$ROOT" && "$GO" mod vendor)
say "== the Compose stacks (go test -tags compose ./internal/tests/deploy)"
cd "$ROOT"
"$GO" vet -tags compose ./internal/tests/deploy
"$GO" test -tags compose -count=1 -v -timeout 50m -run '^TestCompose(Default|PostgresCluster)$' ./internal/tests/deploy
