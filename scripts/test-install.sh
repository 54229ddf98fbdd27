#!/usr/bin/env bash
# `make test`'s install check: `make install` into a temporary prefix (the debug build, which
# `swift test` has already made), then the installed lopt trains from another folder with Adam
# and with the shipped learned optimizer, so it finds its data and checkpoint through
# PREFIX/share/lopt, not the build folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
make -C "$root" --no-print-directory install PREFIX="$prefix" CONFIGURATION=debug SWIFT="${SWIFT:-swift}" >/dev/null
for file in bin/lopt share/bash-completion/completions/lopt share/zsh/site-functions/_lopt \
  share/fish/vendor_completions.d/lopt.fish; do
  [ -s "$prefix/$file" ] || { echo "test-install: $file was not installed" >&2; exit 1; }
done
cd "$work"
for optimizer in adam learned; do
  out=$("$prefix/bin/lopt" train --task mlp-fashion8-relu32 --steps 200 --optimizer "$optimizer" 2>&1) || {
    echo "$out" >&2
    echo "test-install: the installed lopt failed to train with $optimizer from $work" >&2
    exit 1
  }
  grep -q "^final: train loss" <<<"$out" || { echo "$out" >&2; exit 1; }
  echo "test-install: installed lopt trains with $optimizer from another folder: $(grep '^final' <<<"$out")"
done
