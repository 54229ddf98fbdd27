# Lopt: the two set-up commands are `make demo` and `make test`; both install what they need.
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT_FILES = git ls-files -z '*.swift'

.PHONY: deps build test demo bench lint format docs

# System libraries: OpenBLAS (matrix products), zlib (gzipped data sets), pkg-config, and
# Open MPI (distributed meta-training: `mpirun`, and libmpi.so.40 that lopt loads at run time).
deps:
	@if ! pkg-config --exists openblas 2>/dev/null || [ ! -f /usr/include/zlib.h ] || \
	  ! pkg-config --exists ompi 2>/dev/null || ! command -v mpirun >/dev/null; then \
	  echo "Installing libopenblas-dev, zlib1g-dev, pkg-config, libopenmpi-dev and openmpi-bin with apt-get..."; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libopenblas-dev zlib1g-dev pkg-config \
	    libopenmpi-dev openmpi-bin; \
	fi

build: deps
	$(SWIFT) build -c release

# The unit tests, then meta-training under mpirun (2 ranks vs 1, resume, bad input).
test: deps
	$(SWIFT) test
	SWIFT=$(SWIFT) scripts/test-mpi.sh

demo: deps
	$(SWIFT) build -c release --product lopt
	.build/release/lopt demo

bench: deps
	scripts/bench.sh

lint:
	$(SWIFT_FILES) | xargs -0 $(SWIFT) format lint --strict --parallel

format:
	$(SWIFT_FILES) | xargs -0 $(SWIFT) format format --parallel --in-place

# DocC for the targets with a catalogue, warnings as errors (scripts/verify-docs.sh).
docs:
	scripts/verify-docs.sh
