#!/usr/bin/env bash
# `make bench`: Lopt's benchmarks, with the JAX peer measured in the same run when it can be.
#
# 1. ordo-one/benchmark suites in Benchmarks/: wall clock and malloc counts per step
#    (a steady-state training step must show 0 mallocs).
# 2. `lopt bench`: training steps/s of the reference MLPs, by the peer's method.
# 3. The JAX peer (bench_peers.py from the peers folder, default ../shared/peers; override with
#    LOPT_PEERS_DIR) when its Python (LOPT_PEER_PYTHON, else ~/.venvs/peers/bin/python, else
#    python3) can import jax and optax; otherwise it says it was skipped.
# 4. A table of Lopt / JAX ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${LOPT_BENCH_OUT:-$root/.build/bench}
mkdir -p "$out"
cd "$root"

echo "== Allocation and kernel benchmarks (Benchmarks/, ordo-one/benchmark)"
(cd Benchmarks && swift package --allow-writing-to-package-directory benchmark --no-progress)

echo "== Training steps/s (lopt bench, one thread)"
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
  "$python" "$peers/bench_peers.py" --only mlp_small,mlp_large --threads 1 --repeats 5 \
    --out "$out/peers.json" >/dev/null
fi
python3 scripts/bench_report.py "$out/lopt.json" "$out/peers.json"
