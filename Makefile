# Lopt: the two set-up commands are `make demo` and `make test`; both install what they need.
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT_FILES = git ls-files -z '*.swift'

.PHONY: deps build test demo bench lint format docs install

PREFIX ?= /usr/local
# The build `make install` copies (release; the install test uses the debug build it already has).
CONFIGURATION ?= release

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

# The unit tests, meta-training under mpirun (2 ranks vs 1, resume, bad input), an installed
# lopt run from another folder, and Examples/ (a package that uses Lopt as a dependency).
test: deps
	$(SWIFT) test
	SWIFT=$(SWIFT) scripts/test-mpi.sh
	SWIFT=$(SWIFT) scripts/test-install.sh
	cd Examples && $(SWIFT) run FitACurve

# PREFIX/bin/lopt, its resources (data sets, suites, the shipped learned optimizer) in
# PREFIX/share/lopt, and bash, zsh and fish completions.
install: deps
	$(SWIFT) build -c $(CONFIGURATION) --product lopt
	@bin=$$($(SWIFT) build -c $(CONFIGURATION) --show-bin-path) && \
	  install -d "$(PREFIX)/bin" "$(PREFIX)/share/lopt" "$(PREFIX)/share/bash-completion/completions" \
	    "$(PREFIX)/share/zsh/site-functions" "$(PREFIX)/share/fish/vendor_completions.d" && \
	  install -m 755 "$$bin/lopt" "$(PREFIX)/bin/lopt" && \
	  for bundle in "$$bin"/Lopt_*.resources; do \
	    rm -rf "$(PREFIX)/share/lopt/$$(basename "$$bundle")"; \
	    cp -R "$$bundle" "$(PREFIX)/share/lopt/"; \
	  done && \
	  "$(PREFIX)/bin/lopt" --generate-completion-script bash > "$(PREFIX)/share/bash-completion/completions/lopt" && \
	  "$(PREFIX)/bin/lopt" --generate-completion-script zsh > "$(PREFIX)/share/zsh/site-functions/_lopt" && \
	  "$(PREFIX)/bin/lopt" --generate-completion-script fish > "$(PREFIX)/share/fish/vendor_completions.d/lopt.fish" && \
	  echo "installed $(PREFIX)/bin/lopt, its resources in $(PREFIX)/share/lopt and shell completions"

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
