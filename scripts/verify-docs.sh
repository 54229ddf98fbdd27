#!/usr/bin/env bash
# `make docs`: builds the DocC documentation of every target that has a `<Target>.docc`
# catalogue, treating warnings (such as a symbol link that does not resolve) as errors.
# The docc plugin is added to the package only when LOPT_BUILD_DOC=1 (see Package.swift), in
# its own build folder, so ordinary builds never resolve it.
set -euo pipefail
cd "$(dirname "$0")/.."
for catalogue in Sources/*/*.docc; do
  target=$(basename "$(dirname "$catalogue")")
  echo "== documentation for $target"
  LOPT_BUILD_DOC=1 swift package --scratch-path .build-doc generate-documentation \
    --target "$target" --warnings-as-errors
done
