# Lopt: the two set-up commands are `make demo` and `make test`; both install what they need.
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT_FILES = git ls-files -z '*.swift'

.PHONY: deps build test demo bench lint format

# System libraries: OpenBLAS (matrix products), zlib (gzipped data sets), pkg-config.
deps:
	@if ! pkg-config --exists openblas 2>/dev/null || [ ! -f /usr/include/zlib.h ]; then \
	  echo "Installing libopenblas-dev, zlib1g-dev and pkg-config with apt-get..."; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libopenblas-dev zlib1g-dev pkg-config; \
	fi

build: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) test

demo: deps
	$(SWIFT) build -c release --product lopt
	.build/release/lopt demo

bench: deps
	scripts/bench.sh

lint:
	$(SWIFT_FILES) | xargs -0 $(SWIFT) format lint --strict --parallel

format:
	$(SWIFT_FILES) | xargs -0 $(SWIFT) format format --parallel --in-place
