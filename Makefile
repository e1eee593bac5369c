# ordersaga: common tasks. `make test` is the test command CI runs.
#
#   make demo                          the whole demo on this machine
#   make test                          vet, format check and every test
#   make up [TEMPORAL_BACKEND=postgres] [REDIS_CLUSTER=3]   the stack, see scripts/up.sh
#   make down                          stop what make up started
#   make compose-test                  both Compose stacks for real (Docker)
#   make docs-test                     every command of the docs on a make up stack
#   make rollout-test                  workers rolled from the previous commit's build, orders in flight
#   make experiments                   the trade-offs measured (docs/tradeoffs.md)

GO            ?= go
BIN           := $(CURDIR)/.bin

# make up settings, passed on to the scripts (see scripts/lib.sh).
STACK := TEMPORAL_BACKEND="$(TEMPORAL_BACKEND)" REDIS_CLUSTER="$(REDIS_CLUSTER)" GO="$(GO)"

.PHONY: test vet build deps tools tools-postgres clean up down demo standins compose-test

## test: vet, format check and the whole test suite with the race detector;
## the fault tests (internal/tests/chaos) run verbosely so they show what they did
test: deps vet tools tools-postgres
	$(GO) test -race -count=1 -timeout 15m $$($(GO) list ./... | grep -v '/internal/tests/chaos$$')
	$(GO) test -race -count=1 -timeout 10m -v ./internal/tests/chaos

vet:
	$(GO) vet ./...
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## build: the worker and starter binaries into bin/
build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./worker ./starter

## deps: the system packages the tests need (redis-server, PostgreSQL,
## chromium): installed with apt-get as root, else the exact command to run
deps:
	@scripts/deps.sh test

## tools: the pinned Temporal CLI (dev server) into .bin/ (git-ignored); a
## `temporal` on the PATH at that version or newer is used instead of
## building one. The pins live in scripts/lib.sh; a moved pin rebuilds.
tools:
	@GO="$(GO)" scripts/tools.sh temporal

## tools-postgres: the pinned Temporal server, SQL tool and Web UI server
tools-postgres:
	@GO="$(GO)" scripts/tools.sh temporal-server temporal-sql-tool temporal-ui-server

## standins: local stand-ins of every third-party image the Compose files
## name, under their tags, built without a registry (deploy/standins)
standins: tools tools-postgres
	@GO="$(GO)" deploy/standins/build.sh

## compose-test: both Compose stacks for real on the stand-ins: orders,
## outages, down and up, the PostgreSQL and cluster variant (needs Docker)
compose-test: tools tools-postgres
	@GO="$(GO)" scripts/compose-test.sh

## up: Temporal (the dev server, or TEMPORAL_BACKEND=postgres), Redis (one,
## or REDIS_CLUSTER=3 masters) and the five worker processes in the
## background, without Docker (PID files and logs in .state/)
up:
	@$(STACK) scripts/up.sh

## down: stop exactly what `make up` started
down:
	@scripts/down.sh

## clean-state: the one way to drop the data make up keeps across make down:
## Temporal's (.state/temporal.db), Redis's (.state/redis*/) and PostgreSQL's
## (.state/postgres/), every order with them; says what it drops, and is
## refused while anything make up started still runs (make down first)
.PHONY: clean-state
clean-state:
	@scripts/clean-state.sh

## demo: make up, then one completed and one compensated order on both engines
demo: up
	@scripts/demo.sh

## docs-test: the commands of README.md and docs/*.md in order on a make up
## stack of its own on free ports (internal/tests/docstest, build tag docs); each
## must succeed and print what its sample output shows; make down at the end
## rollout-test: the orchestration's workers rolled one by one from the
## previous commit's build (HEAD~1, or ROLLOUT_FROM=<git revision>, built from
## a git worktree) to this tree's, with orders in flight; then each change of
## docs/changing.md rolled out on each engine from the commit before it, as
## `starter experiment change` does; ROLLOUT_REPORT=<dir> writes each change's
## report there (change-notify.md, change-fraud.md)
## (internal/tests/chaos, build tag rollout)
.PHONY: rollout-test
rollout-test: tools
	ROLLOUT_FROM="$(ROLLOUT_FROM)" ROLLOUT_REPORT="$(if $(ROLLOUT_REPORT),$(abspath $(ROLLOUT_REPORT)))" $(GO) test -race -tags rollout -count=1 -timeout 25m -v -run 'RollingRestart|ChangeRollout' ./internal/tests/chaos

.PHONY: docs-test
docs-test: tools
	$(GO) test -tags docs -count=1 -timeout 10m -v -run '^TestDocs$$' ./internal/tests/docstest

## bench: make up, then the benchmarks of docs/results.md on that stack; the
## tables on stdout, reports with charts in BENCH_DIR (see scripts/bench.sh)
BENCH_DIR ?= .state/bench
.PHONY: bench
bench: up
	@BENCH_DIR="$(BENCH_DIR)" scripts/bench.sh

## experiments: make up, then the experiments of docs/tradeoffs.md on that
## stack (outages, scale, soak); reports with charts in EXPERIMENTS_DIR
## (docs/experiments), see scripts/experiments.sh
EXPERIMENTS_DIR ?= docs/experiments
.PHONY: experiments
experiments: up
	@EXPERIMENTS_DIR="$(EXPERIMENTS_DIR)" scripts/experiments.sh

clean:
	rm -rf bin
