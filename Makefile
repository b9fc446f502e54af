# sealgate — see README.md. `make run` to try it, `make test` for every test.

GO        ?= go
BIN       := bin/sealgate
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# Real peers (Postfix, GnuPG, Chromium) must be there under `make test`:
# their tests fail instead of skipping.
TEST_ENV  := SEALGATE_REQUIRE_PEERS=1
FUZZTIME  ?= 60s

.PHONY: all build run test test-deps bench fuzz lint clean assets screenshots

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sealgate

## run: sealgate with the embedded development config (SMTP 127.0.0.1:2525, web http://127.0.0.1:8080)
run: build
	./$(BIN) serve --dev

test-deps:
	@scripts/test-deps.sh

## test: every test, including those with real Postfix, GnuPG and Chromium
test: test-deps
	$(GO) vet ./...
	$(TEST_ENV) $(GO) test -count=1 -timeout 15m ./...

## bench: performance figures as ratios against baselines measured in the same run
bench:
	@scripts/bench.sh

## fuzz: run the fuzz targets for FUZZTIME each
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRewrite$$' -fuzztime $(FUZZTIME) ./smtpproxy/rewrite

## assets: copy OpenPGP.js from npm (package-lock.json) into the embedded assets; the copy is committed
assets:
	@scripts/assets.sh

## screenshots: regenerate docs/screenshots from the real-browser tests
screenshots: test-deps
	@scripts/screenshots.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

clean:
	rm -rf bin
