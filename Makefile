GO ?= go
BIN ?= bin
PROTOC ?= protoc

.PHONY: build run test test-short proto bench bench-baseline bench-queue compare profile benchstat soak lint fuzz tidy-check rie

build:
	$(GO) build ./...
	$(GO) build -o $(BIN)/nimbus ./cmd/nimbus

run:
	$(GO) run ./cmd/nimbus serve

# The Lambda runtime interface emulator, for broker/trigger's TestLambdaRIE
# (a real aws-lambda-go handler as a trigger endpoint). A failed install
# only skips that test.
RIE_VERSION ?= v0.0.0-20261030222936-bef5c4ba774d
RIE := $(CURDIR)/$(BIN)/tools/aws-lambda-rie

rie:
	@test -x $(RIE) || GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION) \
		|| echo "warning: could not install aws-lambda-rie; TestLambdaRIE will skip"

# ./test/ is listed first: its run is the longest (10-11 min under -race), so
# go test builds and starts it first and the other packages share the second
# core meanwhile instead of running before it.
test: lint rie
	NIMBUS_RIE=$$(test -x $(RIE) && echo $(RIE)) $(GO) test -race -count=1 -timeout 14m ./test/ ./...

test-short:
	$(GO) test -short -count=1 ./...

proto:
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" $(PROTOC) --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		proto/nimbus/v1/*.proto proto/cluster/v1/*.proto proto/peer/v1/*.proto

# bench runs the Go benchmark suite (BENCH_PKGS) BENCH_COUNT times into
# bench/current.txt and compares it with the recorded baseline
# (bench/baseline.txt, benchstat format); `make bench-baseline` records a
# new baseline. The machine should be otherwise idle.
BENCH_PKGS ?= ./broker/... ./storage/...
BENCH_COUNT ?= 6
BENCHSTAT_VERSION ?= v0.0.0-20260908200009-22c9c6c9d4da
BENCHSTAT := $(CURDIR)/$(BIN)/tools/benchstat

benchstat:
	@test -x $(BENCHSTAT) || GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)

bench: benchstat
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) $(BENCH_PKGS) > bench/current.txt
	$(BENCHSTAT) bench/baseline.txt bench/current.txt

bench-baseline:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) $(BENCH_PKGS) > bench/baseline.txt

# bench-queue is the end-to-end queue benchmark against the running node
# (make run in another shell; --addr or NIMBUS_ADDR for another).
bench-queue:
	$(GO) run ./cmd/nimbus bench queue --producers 4 --consumers 4 --size 1024 --batch 10 --duration 20s

# compare is issue 12's comparison in one run: Nimbus and the durable peers
# of ../shared/tools/peerbench (installed when missing) back to back,
# PASSES times (default 3), then one markdown table of the targets. Quick
# check: make compare ROWS="queue stream" PASSES=1 DURATION=3s. The
# machine should be otherwise idle.
compare:
	@ROWS="$(ROWS)" PASSES="$(PASSES)" DURATION="$(DURATION)" INFLIGHT="$(INFLIGHT)" bash bench/compare.sh

# profile writes a CPU profile of the server under each comparison row's
# load to bench/profiles (ROWS="queue fifo stream topic" by default).
profile:
	@ROWS="$(ROWS)" bash bench/profile.sh

soak:
	NIMBUS_SOAK=1 $(GO) test -race -count=1 -timeout 60m -run 'Soak|Crash|RetentionExpiry|Cluster' ./test/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

FUZZTIME ?= 30s

# fuzz runs every Fuzz* target of every package for FUZZTIME each; a
# target fails only when it writes a reproducer (test/fuzz.sh).
fuzz:
	FUZZTIME=$(FUZZTIME) bash test/fuzz.sh
