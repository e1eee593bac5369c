# ordersaga: common tasks. `make test` is the test command CI runs.

GO            ?= go
TEMPORAL_CLI  := github.com/temporalio/cli/cmd/temporal@v1.5.1
BIN           := $(CURDIR)/.bin

.PHONY: test vet build tools redis-check clean up down demo

## test: vet, format check and the whole test suite with the race detector;
## the fault tests (internal/chaos) run verbosely so they show what they did
test: vet tools
	$(GO) test -race -count=1 -timeout 15m $$($(GO) list ./... | grep -v '/internal/chaos$$')
	$(GO) test -race -count=1 -timeout 10m -v ./internal/chaos

vet:
	$(GO) vet ./...
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## build: the worker and starter binaries into bin/
build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./worker ./starter

## tools: the pinned Temporal dev server binary into .bin/ (git-ignored)
tools: $(BIN)/temporal

$(BIN)/temporal:
	GOBIN=$(BIN) $(GO) install $(TEMPORAL_CLI)

## up: Temporal dev server, redis-server and the five worker processes in the
## background, without Docker (PID files and logs in .state/; see scripts/up.sh)
up:
	@GO="$(GO)" scripts/up.sh

## down: stop exactly what `make up` started
down:
	@scripts/down.sh

## demo: make up, then one completed and one compensated order on both engines
demo: up
	@scripts/demo.sh

## bench: make up, then the benchmarks of docs/results.md on that stack; the
## tables on stdout, reports with charts in BENCH_DIR (see scripts/bench.sh)
BENCH_DIR ?= .state/bench
.PHONY: bench
bench: up
	@BENCH_DIR="$(BENCH_DIR)" scripts/bench.sh

clean:
	rm -rf bin
