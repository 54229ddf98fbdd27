#!/usr/bin/env python3
"""Prints Lopt's training steps/s and optimizer update times beside the JAX peer's, with their
ratios, as Markdown tables.

Usage: bench_report.py LOPT_JSON [PEERS_JSON]   (a missing peers file means "not measured")
"""
import json
import os
import sys

WORKLOADS = {"mlp_small": "MLP 64-32-10, batch 128, Adam", "mlp_large": "MLP 784-256-256-10, batch 128, Adam"}


# VeLO's per-parameter work is about 450 flop; at ~100 GFLOP/s on one core that is 4.5 ns.
FLOOR_NS = 4.5

# learned_optimization's truncated ES with MLPLOpt, one thread (../shared/peers RESULTS.md §iv).
PEER_TRUNCATED_ES = 3218


def fmt(result):
    return f"{result['median']:,.0f} ({result['min']:,.0f}–{result['max']:,.0f})"


def main():
    lopt = {r["name"]: r for r in json.load(open(sys.argv[1]))}
    peers, updates, es = {}, {}, None
    if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
        for r in json.load(open(sys.argv[2]))["results"]:
            if r["threads"] != 1:
                continue
            if r["impl"] == "jax-jit":
                peers[r["bench"]] = r
            elif r["bench"] == "es" and "mlp_lopt" in r["impl"] and "median" in r:
                es = r
            elif r["bench"] == "opt_update" and "median" in r:
                impl = "velo" if r["impl"].startswith("velo") else "adam"
                updates[(impl, r["n"], r["layout"])] = r
    print("| workload | Lopt steps/s | JAX-jit steps/s | Lopt / JAX |")
    print("| --- | ---: | ---: | ---: |")
    for name, title in WORKLOADS.items():
        ours = lopt[name]
        if name in peers:
            theirs = peers[name]
            peer, ratio = fmt(theirs), f"{ours['median'] / theirs['median']:.2f}×"
        else:
            peer, ratio = "not measured", "–"
        print(f"| {title} | {fmt(ours)} | {peer} | {ratio} |")

    ours = lopt.get("meta_train_peer_workload")
    if ours:
        if es:
            peer, source = es["median"], "measured in this run"
        else:
            peer, source = PEER_TRUNCATED_ES, "RESULTS.md §iv, not measured in this run"
        print()
        print("Truncated-ES meta-training with MLPLOpt (learned_optimization's benchmark workload), "
              "inner steps/s, one thread:")
        print()
        print("| Lopt | learned_optimization | Lopt / peer |")
        print("| ---: | ---: | ---: |")
        print(f"| {fmt(ours)} | {peer:,.0f} ({source}) | {ours['median'] / peer:.1f}× |")

    rows = sorted({tuple(k.split("_")[3:]) for k in lopt if k.startswith("opt_update_velo_")},
                  key=lambda k: (int(k[0]), k[1]))
    if not rows:
        return
    print()
    print("One optimizer update, one tensor, µs (ns per parameter); VeLO at the released sizes.")
    print()
    print("| parameters | Lopt VeLO | JAX VeLO | JAX / Lopt | Lopt Adam | JAX Adam | VeLO / Adam (Lopt) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, layout in rows:
        velo, adam = lopt[f"opt_update_velo_{n}_{layout}"], lopt[f"opt_update_adam_{n}_{layout}"]
        count = int(n)
        def cell(r):
            return f"{r['median']:,.1f} ({r['median'] * 1e3 / count:.2f})"
        jax_velo, jax_adam = updates.get(("velo", count, layout)), updates.get(("adam", count, layout))
        speedup = f"{jax_velo['median'] / velo['median']:.1f}×" if jax_velo else "–"
        print(f"| {count:,} ({layout}) | {cell(velo)} | "
              f"{cell(jax_velo) if jax_velo else 'not measured'} | {speedup} | {cell(adam)} | "
              f"{cell(jax_adam) if jax_adam else 'not measured'} | "
              f"{velo['median'] / adam['median']:.1f}× |")
    big = lopt.get("opt_update_velo_1000000_2d")
    if big:
        ns = big["median"] * 1e3 / 1e6
        print()
        print(f"VeLO at 1e6 parameters: {ns:.2f} ns per parameter, {FLOOR_NS / ns:.0%} of the "
              f"compute floor ({FLOOR_NS} ns: ~450 flop at ~100 GFLOP/s).")


if __name__ == "__main__":
    main()
