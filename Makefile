GO      ?= go
BIN     := bin/etcdbrctl
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Long end-to-end and benchmark runs honour these.
TEST_TIMEOUT ?= 60m
# How many inputs `make fuzz` tries per fuzz target. A count, not a
# duration: Go 1.26's fuzzer can fail a target with "context deadline
# exceeded" when a -fuzztime duration ends (golang/go#75804). The snapshot
# inspector builds a database per input, so it gets fewer.
FUZZTIME ?= 20000x
FUZZTIME_SLOW ?= 200x

.PHONY: build run test test-short test-tools bench bench-restore bench-stores lint clean fuzz

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) .

run: build
	./$(BIN) run

# The servers the tests run against are installed into .cache/ first;
# the tests start and stop them themselves.
test: lint build test-tools fuzz
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# Every fuzz target of the tracked test files, one after another, briefly;
# the seed corpora under testdata/fuzz also run as plain tests.
fuzz:
	@set -e; for f in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    n=$(FUZZTIME); [ "$$name" = FuzzInspector ] && n=$(FUZZTIME_SLOW); \
	    echo "fuzz $$name in ./$$(dirname $$f): $$n inputs"; \
	    $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $$n ./$$(dirname $$f); \
	  done; \
	done

# A server that cannot be installed fails here, unless ALLOW_SKIP=1 lets
# the tests that need it skip.
test-tools:
	bash scripts/test-tools.sh || [ "$$ALLOW_SKIP" = 1 ]

test-short:
	$(GO) test -short -count=1 ./...

bench:
	$(GO) run ./bench -db-size 1GiB

# Point-in-time restore of a 512 MiB snapshot plus 1,000,000 delta events,
# beside a replay through etcd's client API measured on a sample of them.
bench-restore:
	$(GO) run ./bench/restore -db-size 512MiB -events 1000000 -baseline-events 100000

# 1 GiB (ETCDBR_BENCH_SIZE) through every store provider's test server.
bench-stores: test-tools
	$(GO) test -run '^$$' -bench Transfer -benchtime 1x -timeout 60m ./providers/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
