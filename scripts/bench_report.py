#!/usr/bin/env python3
"""Prints Lopt's training steps/s beside the JAX peer's, with their ratio, as a Markdown table.

Usage: bench_report.py LOPT_JSON [PEERS_JSON]   (a missing peers file means "not measured")
"""
import json
import os
import sys

WORKLOADS = {"mlp_small": "MLP 64-32-10, batch 128, Adam", "mlp_large": "MLP 784-256-256-10, batch 128, Adam"}


def main():
    lopt = {r["name"]: r for r in json.load(open(sys.argv[1]))}
    peers = {}
    if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
        for r in json.load(open(sys.argv[2]))["results"]:
            if r["impl"] == "jax-jit" and r["threads"] == 1:
                peers[r["bench"]] = r
    print("| workload | Lopt steps/s | JAX-jit steps/s | Lopt / JAX |")
    print("| --- | ---: | ---: | ---: |")
    for name, title in WORKLOADS.items():
        ours = lopt[name]
        cell = f"{ours['median']:,.0f} ({ours['min']:,.0f}–{ours['max']:,.0f})"
        if name in peers:
            theirs = peers[name]
            peer = f"{theirs['median']:,.0f} ({theirs['min']:,.0f}–{theirs['max']:,.0f})"
            ratio = f"{ours['median'] / theirs['median']:.2f}×"
        else:
            peer, ratio = "not measured", "–"
        print(f"| {title} | {cell} | {peer} | {ratio} |")


if __name__ == "__main__":
    main()
