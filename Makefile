GO ?= go
BIN ?= bin
PROTOC ?= protoc

.PHONY: build run test test-short proto bench soak lint fuzz tidy-check rie

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

test: lint rie
	NIMBUS_RIE=$$(test -x $(RIE) && echo $(RIE)) $(GO) test -race -count=1 -timeout 14m ./...

test-short:
	$(GO) test -short -count=1 ./...

proto:
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" $(PROTOC) --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		proto/nimbus/v1/*.proto proto/cluster/v1/*.proto proto/peer/v1/*.proto

bench:
	$(GO) run ./cmd/nimbus bench queue --producers 4 --consumers 4 --size 1024 --batch 10 --duration 20s

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
