# importd: a contacts-import service on gRPC (nghttp2 + libevent + protobuf-c + SQLite).
#
#   make run     install what is missing, build, start importd on ./data
#   make test    install what is missing, build, run every test
#   make bench   benchmarks against the peers, figures into BENCHMARKS.md
#   make fuzz    the fuzz targets (CSV, messages, HTTP/2), FUZZ_SECONDS each
#   make fresh-clone-check   make test in a clone with nothing beside it and a bare python3
SHELL := /bin/bash
.DEFAULT_GOAL := run

BIN := .build/release
PY := .build/venv/bin/python
LISTEN ?= 127.0.0.1:50051
WEB_LISTEN ?= 127.0.0.1:8080
DATA_DIR ?= ./data
IMPORT_INTERVAL ?= 15m

.PHONY: deps test-deps build test unit-test interop-test check-generated run bench fuzz fresh-clone-check clean

# What building and running need (apt-get, only what is missing; it says what and why).
deps:
	@scripts/install-deps.sh

# What the tests need on top: the tools they drive and a Python virtualenv.
test-deps:
	@scripts/install-deps.sh --test

build: deps
	swift build -c release

check-generated: test-deps
	scripts/generate-protos.sh --check

unit-test: build
	swift build -c release --build-tests
	INTEROP_PYTHON=$(abspath $(PY)) swift test -c release --skip-build

interop-test: build test-deps
	BUILD_DIR=$(BIN) $(PY) -m pytest -q Tests/Interop

test: test-deps check-generated unit-test interop-test

run: build
	@echo "Starting importd on $(LISTEN) with data in $(DATA_DIR); imports run every $(IMPORT_INTERVAL). Ctrl-C stops it."
	@echo "In another shell:  export PATH=\$$PWD/$(BIN):\$$PATH IMPORTCTL_SERVER=$(LISTEN) IMPORTCTL_TOKEN=\$$(cat $(DATA_DIR)/admin.token)"
	@echo "                   importctl template -o contacts.csv && importctl upload contacts.csv --watch"
	@echo "Or in a browser:   http://$(WEB_LISTEN)/  (sign in with the token in $(DATA_DIR)/admin.token)"
	$(BIN)/importd --listen $(LISTEN) --web-listen $(WEB_LISTEN) --data-dir $(DATA_DIR) --import-interval $(IMPORT_INTERVAL)

bench:
	@scripts/install-deps.sh --bench
	swift build -c release
	bench/run.sh

# libFuzzer targets under the address sanitizer, FUZZ_SECONDS each (default 60).
fuzz: deps
	scripts/fuzz.sh

fresh-clone-check:
	scripts/fresh-clone-check.sh

clean:
	rm -rf .build
