#!/usr/bin/env bash
# `make bench`: Lopt's benchmarks, with the JAX peer measured in the same run when it can be.
#
# 1. ordo-one/benchmark suites in Benchmarks/: wall clock and malloc counts per step
#    (a steady-state training step must show 0 mallocs).
# 2. `lopt bench`: training steps/s of the reference MLPs, VeLO and Adam updates, meta-training
#    throughput, by the peer's method.
# 3. The JAX peer (bench_peers.py from the peers folder, default ../shared/peers; override with
#    LOPT_PEERS_DIR) when its Python (LOPT_PEER_PYTHON, else ~/.venvs/peers/bin/python, else
#    python3) can import jax and optax; otherwise it says it was skipped. With
#    LOPT_LEARNED_OPTIMIZATION naming a google/learned_optimization checkout it also times the
#    reference VeLO's update and its truncated-ES meta-training (the same workload as
#    configs/peer-truncated-es.yaml; without it the report uses RESULTS.md's figure, saying so).
# 4. Tables of Lopt / JAX ratios (training steps; VeLO and Adam updates).
# 5. Distributed meta-training (bench_meta_mpi below): outer steps/s of configs/fast-mlp.yaml
#    with 1 and 2 ranks, bytes each rank sends per outer step, the MPI_Allgather latency of
#    the lane payload, and a projection to 64 ranks. `LOPT_BENCH_ONLY=mpi scripts/bench.sh`
#    runs this part alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${LOPT_BENCH_OUT:-$root/.build/bench}
mkdir -p "$out"
cd "$root"

# Distributed meta-training: outer steps/s with 1 and 2 ranks (one thread each), the bytes a
# rank sends per outer step, the latency of one MPI_Allgather of that payload (a C
# micro-benchmark built with mpicc), and a projection to 64 ranks.
#
# The workload is configs/fast-mlp.yaml with a fixed episode length (LOPT_BENCH_MPI_LENGTH,
# default 100 inner steps) and a one-step evaluation; each run does LOPT_BENCH_MPI_STEPS
# (default 6) outer steps and the rate comes from the steps' own timings in metrics.jsonl
# (the first step, a warm-up, is left out). SWIFT_BUILD_FLAGS adds `swift build` flags (for
# example a --scratch-path).
bench_meta_mpi() {
  local steps=${LOPT_BENCH_MPI_STEPS:-6} length=${LOPT_BENCH_MPI_LENGTH:-100}
  local dir="$out/meta-mpi" flags lopt
  read -r -a flags <<<"${SWIFT_BUILD_FLAGS:-}"
  echo "== Distributed meta-training (configs/fast-mlp.yaml, episodes of $length steps)"
  if ! command -v mpirun >/dev/null || ! command -v mpicc >/dev/null; then
    echo "   skipped: Open MPI is not installed (make deps)"
    return
  fi
  swift build -c release "${flags[@]}" --product lopt
  lopt="$(swift build -c release "${flags[@]}" --show-bin-path)/lopt"
  rm -rf "$dir"
  mkdir -p "$dir"
  # fast-mlp with a constant episode length and an evaluation too short to matter.
  python3 - "$length" configs/fast-mlp.yaml "$dir/bench.yaml" <<'PY'
import re, sys
length, source, target = sys.argv[1:]
text = open(source).read()
def section(name, body):
    global text
    text, count = re.subn(rf"^{name}:\n(?:[ #].*\n|\n)*", f"{name}:\n{body}\n", text, flags=re.M)
    if count != 1:
        sys.exit(f"bench: {source} has no '{name}:' section")
section("truncation", f"  kind: constant\n  length: {length}\n")
section("evaluation", "  every: 0\n  steps: 1\n  seeds: 1\n")
text = re.sub(r"^checkpointSeconds:.*\n", "", text, flags=re.M)  # no checkpoints mid-run
open(target, "w").write(text + "checkpointSeconds: 100000\n")
PY
  local mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
  "$lopt" meta-train "$dir/bench.yaml" --out "$dir/ranks-1" --outer-steps "$steps" --threads 1 \
    >/dev/null
  # With LOPT_MPI_TIMING each rank prints its seconds in MPI_Allgather, waiting for slower
  # ranks included: the load imbalance.
  "${mpirun[@]}" -np 2 -x LOPT_MPI_TIMING=1 "$lopt" meta-train "$dir/bench.yaml" \
    --out "$dir/ranks-2" --outer-steps "$steps" --threads 1 >/dev/null 2>"$dir/timing-2"
  # The allGather micro-benchmark: 1000 MPI_Allgathers of one rank's lane payload.
  cat >"$dir/allgather.c" <<'C'
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size, count = atoi(argv[1]), repeats = 1000;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  double *send = calloc(count, sizeof(double)), *receive = calloc(count * size, sizeof(double));
  for (int i = 0; i < 100; i++)
    MPI_Allgather(send, count, MPI_DOUBLE, receive, count, MPI_DOUBLE, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  double start = MPI_Wtime();
  for (int i = 0; i < repeats; i++)
    MPI_Allgather(send, count, MPI_DOUBLE, receive, count, MPI_DOUBLE, MPI_COMM_WORLD);
  double seconds = (MPI_Wtime() - start) / repeats;
  if (rank == 0) printf("%.9f\n", seconds);
  MPI_Finalize();
  return 0;
}
C
  mpicc -O2 -o "$dir/allgather" "$dir/allgather.c"
  local pairs
  pairs=$(sed -n 's/^ *pairs: *\([0-9]*\).*/\1/p' "$dir/bench.yaml" | head -1)
  "${mpirun[@]}" -np 2 "$dir/allgather" $((6 * ((pairs + 1) / 2))) >"$dir/allgather-2.txt"
  python3 - "$dir" "$pairs" "$length" <<'PY'
import json, math, statistics, sys
directory, pairs, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def step_seconds(ranks):
    lines = [json.loads(l) for l in open(f"{directory}/ranks-{ranks}/metrics.jsonl")]
    seconds = [l["seconds"] for l in lines if l.get("kind") != "evaluation" and "seconds" in l]
    return seconds[1:] if len(seconds) > 1 else seconds
one, two = step_seconds(1), step_seconds(2)
rate1, rate2 = 1 / statistics.mean(one), 1 / statistics.mean(two)
allgather2 = float(open(f"{directory}/allgather-2.txt").read())
waits = {}
for line in open(f"{directory}/timing-2"):
    if " s in MPI_Allgather" in line:  # "rank R of N: S s in MPI_Allgather"
        words = line.split()
        waits[int(words[1])] = float(words[4])
def sent(ranks, lanes):  # bytes one rank sends per outer step: slots × 6 doubles × 8 bytes
    return math.ceil(lanes / ranks) * 6 * 8
# 64 ranks, one lane each (estimator.pairs 64): a lane's compute (measured with one rank) plus
# one allGather, modelled as log2(64) = 6 rounds of the measured 2-rank exchange (recursive
# doubling) and, for a cluster network, 6 rounds of 50 µs.
lane = statistics.mean(one) / pairs
loopback64 = 6 * allgather2
network64 = 6 * 50e-6
step64 = lane + network64
result = {
    "pairs": pairs, "episodeLength": length,
    "outerStepsPerSecond": {"1": rate1, "2": rate2}, "speedup2": rate2 / rate1,
    "bytesSentPerRankPerOuterStep": {"1": 0, "2": sent(2, pairs), "64 (pairs 64)": sent(64, 64)},
    "allGatherSeconds2Ranks": allgather2, "laneSeconds": lane,
    "secondsInAllGather2": waits,
    "projection64": {
        "allGatherSecondsLoopbackModel": loopback64, "allGatherSecondsNetworkModel": network64,
        "outerStepSeconds": step64, "outerStepsPerSecond": 1 / step64,
        "speedupOver1RankWith64Lanes": 64 * lane / step64,
    },
}
json.dump(result, open(f"{directory}/meta-mpi.json", "w"), indent=2)
print(f"   1 rank:  {rate1:.3f} outer steps/s ({pairs} lanes, {length}-step episodes, 1 thread)")
print(f"   2 ranks: {rate2:.3f} outer steps/s, {rate2 / rate1:.2f}x (target 1.8x); "
      f"each rank sends {sent(2, pairs)} bytes per outer step")
print(f"   seconds in MPI_Allgather over the 2-rank run (waiting for the other rank): "
      + ", ".join(f"rank {r}: {w:.2f}" for r, w in sorted(waits.items())))
print(f"   MPI_Allgather of {sent(2, pairs)} bytes per rank, 2 ranks on loopback: "
      f"{allgather2 * 1e6:.1f} us")
print(f"   64 ranks (pairs 64, one lane each, {sent(64, 64)} bytes sent per rank), if lanes "
      f"cost the same: mean lane {lane * 1e3:.0f} ms + allGather ~{network64 * 1e6:.0f} us "
      f"(6 rounds of 50 us) -> {1 / step64:.2f} outer steps/s, {64 * lane / step64:.1f}x one "
      "rank; the slowest lane sets the real step time (see README)")
print("   (the machine is shared: these timings are noisy)")
PY
}

if [ "${LOPT_BENCH_ONLY:-}" = mpi ]; then
  bench_meta_mpi
  exit 0
fi

echo "== Allocation and kernel benchmarks (Benchmarks/, ordo-one/benchmark)"
(cd Benchmarks && swift package --allow-writing-to-package-directory benchmark --no-progress)

echo "== Training steps/s, optimizer updates, meta-training (lopt bench)"
swift build -c release --product lopt
.build/release/lopt bench --json "$out/lopt.json"

peers=${LOPT_PEERS_DIR:-$root/../shared/peers}
python=${LOPT_PEER_PYTHON:-}
if [ -z "$python" ]; then
  if [ -x "$HOME/.venvs/peers/bin/python" ]; then python="$HOME/.venvs/peers/bin/python"; else python=python3; fi
fi
rm -f "$out/peers.json"
if [ ! -f "$peers/bench_peers.py" ]; then
  echo "== JAX peer skipped: no bench_peers.py in $peers (set LOPT_PEERS_DIR)"
elif ! "$python" -c "import jax, optax" 2>/dev/null; then
  echo "== JAX peer skipped: $python cannot import jax and optax (see $peers/README.md)"
else
  echo "== JAX peer (same machine, same run)"
  # VeLO's update needs a learned_optimization checkout (LOPT_LEARNED_OPTIMIZATION).
  export PYTHONPATH="${LOPT_LEARNED_OPTIMIZATION:-}${PYTHONPATH:+:$PYTHONPATH}"
  only=mlp_small,mlp_large
  if "$python" -c "import learned_optimization.research.general_lopt.hyper_v2" 2>/dev/null; then
    only="$only,opt_update,es"
  else
    echo "   VeLO update and truncated-ES rows skipped: set LOPT_LEARNED_OPTIMIZATION to a"
    echo "   learned_optimization checkout (see $peers/README.md)"
  fi
  "$python" "$peers/bench_peers.py" --only "$only" --threads 1 --repeats 5 \
    --out "$out/peers.json" >/dev/null
fi
python3 scripts/bench_report.py "$out/lopt.json" "$out/peers.json"

bench_meta_mpi
