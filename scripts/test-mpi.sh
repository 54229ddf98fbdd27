#!/usr/bin/env bash
# `make test`, part 2: distributed meta-training under Open MPI on this machine (loopback).
#
# With a tiny meta-training configuration (4 lanes, 3 outer steps of 20 inner steps) it checks:
#   1. `mpirun -np 2 lopt meta-train` gives a byte-identical θ to one process after K steps
#      (the tensors of optimizer.safetensors, and θ plus the outer optimizer's tensors in the
#      last state file; their metadata differ, as they record the core-hours spent);
#   2. a 2-rank run stopped after K1 steps and resumed by one process to K gives the same θ as
#      the uninterrupted run (and θ at K1 differs from θ at K, so the check can fail);
#   3. bad input fails fast with a clear message and a non-zero exit, without hanging:
#      ranks with different configurations (one `--seed` differs), more ranks than lanes,
#      and a missing MPI runtime (LOPT_MPI_LIBRARY pointing nowhere).
# About 30 s on 2 busy cores once `lopt` is built (debug or release).
#
# Environment: SWIFT (default swift); SWIFT_BUILD_FLAGS, extra `swift build` flags (for example
# `--scratch-path .build-mpi` or `-c release`); LOPT_MPI_TIMEOUT, seconds before a run counts
# as hung (default 120).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
swift=${SWIFT:-swift}
read -r -a build_flags <<<"${SWIFT_BUILD_FLAGS:-}"
limit=${LOPT_MPI_TIMEOUT:-120}

if ! command -v mpirun >/dev/null; then
  echo "test-mpi: mpirun not found; install Open MPI with \`make deps\`" \
    "(apt-get install libopenmpi-dev openmpi-bin)" >&2
  exit 1
fi
if ! command -v python3 >/dev/null; then
  echo "test-mpi: python3 not found (it reads safetensors files); apt-get install python3" >&2
  exit 1
fi

echo "== test-mpi: building lopt"
"$swift" build "${build_flags[@]}" --product lopt
lopt="$("$swift" build "${build_flags[@]}" --show-bin-path)/lopt"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Root may run mpirun only with these flags (CI runs as root); --oversubscribe lets 5 ranks
# start on 2 cores for the "too many ranks" check.
mpirun=(timeout "$limit" mpirun --allow-run-as-root --oversubscribe --bind-to none)

# The fast-mlp configuration, shrunk: 4 lanes, constant episodes of 20 steps, a tiny evaluation.
cat >"$work/tiny.yaml" <<'YAML'
learnedOptimizer:
  kind: adafac_mlp
  adafacMLP: {hiddenSize: 4, hiddenLayers: 2}
tasks:
  list:
    - spec:
        family: image-mlp
        model: {hiddenWidths: [32]}
        data: {dataset: fashion8, imageSize: 8}
        batchSize: 64
        activation: relu
      augmentation: {reparameterization: {level: tensor, low: 0.01, high: 100}}
    - spec:
        family: image-mlp
        model: {hiddenWidths: [32]}
        data: {dataset: digits, imageSize: 8}
        batchSize: 64
        activation: relu
      augmentation: {reparameterization: {level: tensor, low: 0.01, high: 100}}
families: {slots: 2, resampleProbability: 0.5}
estimator:
  kind: full-es
  pairs: 4
  standardDeviation: 0.01
  usesSign: true
  objective: last-recompute
  recomputeBatches: 2
truncation: {kind: constant, length: 20}
outer: {steps: 3, learningRate: 0.003, gradientClip: 3}
evaluation: {every: 0, steps: 5, seeds: 1}
threads: 1
YAML
steps=3
stop=2

# Fails the script with a message.
fail() {
  echo "test-mpi: FAIL: $*" >&2
  exit 1
}

# Runs a command that must fail: not hang (timeout's 124), and print $1 on standard error.
expect_failure() {
  local expected=$1 status=0
  shift
  "$@" >"$work/out.txt" 2>"$work/err.txt" || status=$?
  if [ "$status" -eq 0 ]; then fail "'$*' succeeded; expected an error"; fi
  if [ "$status" -eq 124 ]; then fail "'$*' hung (killed after ${limit}s)"; fi
  if ! grep -q -- "$expected" "$work/err.txt"; then
    cat "$work/err.txt" >&2
    fail "'$*' did not say '$expected'"
  fi
  echo "   exit $status, says: $(grep -m1 -- "$expected" "$work/err.txt")"
}

# Compares every tensor of two safetensors files byte for byte (not the metadata, which
# holds the core-hours spent); the files must hold θ (`theta/…` or, in optimizer files, bare
# names).
same_tensors() {
  python3 - "$1" "$2" <<'PY'
import json, struct, sys

def tensors(path):
    blob = open(path, "rb").read()
    size = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + size])
    header.pop("__metadata__", None)
    data = blob[8 + size:]
    return {name: data[e["data_offsets"][0]:e["data_offsets"][1]] for name, e in header.items()}

a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
if a.keys() != b.keys() or not a:
    sys.exit(f"different tensors: {sorted(a.keys() ^ b.keys())}")
differing = [name for name in a if a[name] != b[name]]
sys.exit(f"tensors differ: {differing}" if differing else 0)
PY
}

state=$(printf 'state-%09d.safetensors' "$steps")
start=$SECONDS

echo "== 1. one process, $steps outer steps (reference)"
"$lopt" meta-train "$work/tiny.yaml" --out "$work/one" >/dev/null 2>&1 \
  || fail "the one-process run failed"

echo "== 2. mpirun -np 2, $steps outer steps: θ must equal the reference bit for bit"
"${mpirun[@]}" -np 2 "$lopt" meta-train "$work/tiny.yaml" --out "$work/two" \
  >"$work/two.txt" 2>&1 || { cat "$work/two.txt" >&2; fail "the 2-rank run failed"; }
[ "$(grep -c '^finished' "$work/two.txt")" -eq 1 ] \
  || fail "expected exactly one 'finished' line (from rank 0), got: $(cat "$work/two.txt")"
same_tensors "$work/one/optimizer.safetensors" "$work/two/optimizer.safetensors" \
  || fail "2 ranks and 1 process give different θ after $steps outer steps"
same_tensors "$work/one/$state" "$work/two/$state" \
  || fail "2 ranks and 1 process give different θ or outer-optimizer state"
echo "   identical θ"

echo "== 3. mpirun -np 2 stopped after $stop steps, resumed by one process to $steps"
"${mpirun[@]}" -np 2 "$lopt" meta-train "$work/tiny.yaml" --out "$work/resumed" \
  --outer-steps "$stop" >"$work/stop.txt" 2>&1 || { cat "$work/stop.txt" >&2; fail "2-rank run"; }
cp "$work/resumed/optimizer.safetensors" "$work/theta-at-stop.safetensors"
"$lopt" meta-train --out "$work/resumed" --resume --outer-steps "$steps" >/dev/null 2>&1 \
  || fail "resuming the 2-rank run with one process failed"
if same_tensors "$work/theta-at-stop.safetensors" "$work/one/optimizer.safetensors" 2>/dev/null
then
  fail "θ did not change between outer steps $stop and $steps: the comparison proves nothing"
fi
same_tensors "$work/one/optimizer.safetensors" "$work/resumed/optimizer.safetensors" \
  || fail "the resumed run's θ differs from the uninterrupted run's"
same_tensors "$work/one/$state" "$work/resumed/$state" \
  || fail "the resumed run's θ or outer-optimizer state differs"
echo "   identical θ"

echo "== 4. bad input ends every rank with a clear error"
expect_failure "different configurations" "${mpirun[@]}" \
  -np 1 "$lopt" meta-train "$work/tiny.yaml" --out "$work/mismatch" --seed 1 : \
  -np 1 "$lopt" meta-train "$work/tiny.yaml" --out "$work/mismatch" --seed 2
expect_failure "only 4 lanes" "${mpirun[@]}" \
  -np 5 "$lopt" meta-train "$work/tiny.yaml" --out "$work/crowded"
expect_failure "cannot load Open MPI" "${mpirun[@]}" \
  -np 2 -x LOPT_MPI_LIBRARY=/nonexistent/libmpi.so.40 \
  "$lopt" meta-train "$work/tiny.yaml" --out "$work/no-runtime"

echo "== test-mpi: all checks passed in $((SECONDS - start)) s (after the build)"
