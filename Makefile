# ordersaga: common tasks. `make test` is the test command CI runs.

GO            ?= go
TEMPORAL_CLI  := github.com/temporalio/cli/cmd/temporal@v1.5.1
BIN           := $(CURDIR)/.bin

.PHONY: test vet build tools redis-check clean

## test: vet, format check and the whole test suite with the race detector
test: vet
	$(GO) test -race -count=1 -timeout 15m ./...

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

clean:
	rm -rf bin
