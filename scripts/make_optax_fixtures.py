#!/usr/bin/env python3
"""Writes the optimizer reference fixtures in Tests/LoptOptimizersTests/Resources/.

Run by hand (not by CI) with a Python that has jax, optax and numpy:

    /root/.venvs/peers/bin/python scripts/make_optax_fixtures.py

Every fixture runs one optimizer for STEPS steps on a few tensors (a scalar, a vector, a 2-D
and a 4-D tensor; Adafactor adds a 130x128 matrix so that factoring happens, Shampoo a 6x5
matrix so that blocking happens, Muon a wide and a larger matrix). The initial parameters and
the gradients are a formula the Swift test evaluates too (`FixtureInputs` in the test), so a
fixture stores only the parameters after each step: every element of small tensors and every
SAMPLE_STRIDE-th element of large ones. Shampoo has no optax implementation: `shampoo_reference` below implements the
formula documented on Lopt's `Shampoo` type in NumPy (float32 statistics, float64 eigh).
"""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

STEPS = 8
SAMPLE_LIMIT = 512
SAMPLE_STRIDE = 37
BASE_SHAPES = [("s", []), ("b", [4]), ("w", [5, 3]), ("conv", [2, 3, 2, 2])]
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "LoptOptimizersTests", "Resources")


def initial(index, shape):
    n = int(np.prod(shape, dtype=np.int64))
    j = np.arange(n, dtype=np.float64)
    return np.cos(0.11 * j + index).astype(np.float32).reshape(shape)


def gradient(index, shape, step):
    n = int(np.prod(shape, dtype=np.int64))
    j = np.arange(n, dtype=np.float64)
    g = np.sin(0.37 * j + 1.7 * step + 0.5 * index) * (1 + 0.1 * step)
    return g.astype(np.float32).reshape(shape)


def sampled(x):
    flat = np.asarray(x, dtype=np.float32).reshape(-1)
    if flat.size > SAMPLE_LIMIT:
        flat = flat[::SAMPLE_STRIDE]
    return [float(v) for v in flat]


def run_optax(tx, shapes):
    params = {name: jnp.asarray(initial(i, s)) for i, (name, s) in enumerate(shapes)}
    state = tx.init(params)
    trajectory = []
    for step in range(STEPS):
        grads = {name: jnp.asarray(gradient(i, s, step)) for i, (name, s) in enumerate(shapes)}
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append({name: sampled(params[name]) for name, _ in shapes})
    return trajectory


def inverse_fourth_root(a, eps):
    values, vectors = np.linalg.eigh(a.astype(np.float64))
    weights = (np.maximum(values, 0) + np.float64(np.float32(eps))) ** -0.25
    return ((vectors * weights) @ vectors.T).astype(np.float32)


def shampoo_reference(shapes, lr, beta1=0.9, beta2=0.999, eps=1e-8, matrix_eps=1e-6,
                      block=128, max_size=4096, start=1, interval=1, grafting="adam"):
    f32 = np.float32
    b1, b2, lr = f32(beta1), f32(beta2), f32(lr)
    params = [initial(i, s).astype(f32) for i, (_, s) in enumerate(shapes)]
    mom = [np.zeros_like(p) for p in params]
    nu = [np.zeros_like(p) for p in params]
    stats, roots = {}, {}
    trajectory = []
    for step in range(STEPS):
        t = step + 1
        recompute = t >= start and (t - start) % interval == 0
        for i, (name, shape) in enumerate(shapes):
            g = gradient(i, shape, step)
            if grafting == "adam":
                nu[i] = b2 * nu[i] + (f32(1) - b2) * g * g
                correction = f32(1) / (f32(1) - b2 ** f32(t))
                d = g / (np.sqrt(nu[i] * correction) + f32(eps))
            else:
                d = g.copy()
            columns = shape[-1] if shape else 1
            rows = g.size // max(columns, 1)
            if len(shape) >= 2 and max(rows, columns) <= max_size:
                gm, dm = g.reshape(rows, columns), d.reshape(rows, columns)
                for r0 in range(0, rows, block):
                    for c0 in range(0, columns, block):
                        key = (i, r0, c0)
                        gb = gm[r0:r0 + block, c0:c0 + block]
                        if key not in stats:
                            stats[key] = [np.zeros((gb.shape[0],) * 2, f32),
                                          np.zeros((gb.shape[1],) * 2, f32)]
                            roots[key] = [np.zeros_like(stats[key][0]),
                                          np.zeros_like(stats[key][1])]
                        left, right = stats[key]
                        left[...] = b2 * left + (f32(1) - b2) * (gb @ gb.T)
                        right[...] = b2 * right + (f32(1) - b2) * (gb.T @ gb)
                        if recompute:
                            roots[key] = [inverse_fourth_root(left, matrix_eps),
                                          inverse_fourth_root(right, matrix_eps)]
                        if t >= start:
                            s = roots[key][0] @ gb @ roots[key][1]
                            db = dm[r0:r0 + block, c0:c0 + block]
                            norm = np.sqrt(np.sum(s.astype(np.float64) ** 2))
                            if norm > 0:
                                graft = np.sqrt(np.sum(db.astype(np.float64) ** 2))
                                db[...] = s * f32(graft / norm)
                d = dm.reshape(shape)
            mom[i] = b1 * mom[i] + (f32(1) - b1) * d
            params[i] = params[i] - lr * mom[i]
        trajectory.append({name: sampled(params[i]) for i, (name, _) in enumerate(shapes)})
    return trajectory


def fixture(name, optimizer, hyper, trajectory, shapes):
    data = {
        "name": name,
        "optimizer": optimizer,
        "hyper": hyper,
        "steps": STEPS,
        "sample_limit": SAMPLE_LIMIT,
        "sample_stride": SAMPLE_STRIDE,
        "tensors": [{"name": n, "shape": s} for n, s in shapes],
        "parameters": trajectory,
    }
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(data, f, separators=(",", ":"))
    print("wrote", name)


def main():
    jax.config.update("jax_enable_x64", False)
    os.makedirs(OUT, exist_ok=True)
    base = BASE_SHAPES
    cases = [
        ("sgd", "momentum", {"lr": 0.1, "beta": 0.0}, optax.sgd(0.1)),
        ("momentum", "momentum", {"lr": 0.05, "beta": 0.9}, optax.sgd(0.05, momentum=0.9)),
        ("nesterov", "momentum", {"lr": 0.05, "beta": 0.9, "nesterov": 1},
         optax.sgd(0.05, momentum=0.9, nesterov=True)),
        ("rmsprop", "rmsprop", {"lr": 0.01}, optax.rmsprop(0.01)),
        ("rmsprop_momentum", "rmsprop",
         {"lr": 0.01, "momentum": 0.9, "nesterov": 1, "eps_outside": 1},
         optax.rmsprop(0.01, momentum=0.9, nesterov=True, eps_in_sqrt=False)),
        ("adam", "adam", {"lr": 0.01}, optax.adam(0.01)),
        ("adamw", "adam", {"lr": 0.01, "weight_decay": 0.1},
         optax.adamw(0.01, weight_decay=0.1)),
        ("nadamw", "adam", {"lr": 0.01, "weight_decay": 0.1, "nesterov": 1},
         optax.nadamw(0.01, weight_decay=0.1)),
        ("lion", "lion", {"lr": 0.01, "weight_decay": 0.1}, optax.lion(0.01, weight_decay=0.1)),
        ("adam_clip_warmup_cosine", "adam",
         {"lr": 0.01, "clip": 1.0, "warmup": 3, "decay": "cosine"},
         optax.chain(optax.clip_by_global_norm(1.0), optax.adam(
             optax.warmup_cosine_decay_schedule(0.0, 0.01, 3, STEPS)))),
    ]
    for name, optimizer, hyper, tx in cases:
        fixture(name, optimizer, hyper, run_optax(tx, base), base)
    factored = base + [("big", [130, 128])]
    fixture("adafactor", "adafactor", {"lr": 0.1}, run_optax(optax.adafactor(0.1), factored),
            factored)
    blocked = base + [("m", [6, 5])]
    fixture("shampoo", "shampoo",
            {"lr": 0.01, "block": 4, "start": 2, "interval": 2, "grafting": "adam"},
            shampoo_reference(blocked, 0.01, block=4, start=2, interval=2), blocked)
    fixture("shampoo_sgd", "shampoo", {"lr": 0.01, "grafting": "sgd"},
            shampoo_reference(blocked, 0.01, grafting="sgd"), blocked)
    # Muon orthogonalises rank-2 tensors: a tall one (w), a wide one and a larger one.
    matrices = base + [("wide", [3, 7]), ("big", [40, 24])]
    fixture("muon", "muon", {"lr": 0.02}, run_optax(optax.contrib.muon(0.02), matrices),
            matrices)
    fixture("muon_decay", "muon", {"lr": 0.05, "weight_decay": 0.1, "adam_lr": 0.005},
            run_optax(optax.contrib.muon(0.05, weight_decay=0.1, adam_learning_rate=0.005),
                      matrices), matrices)


if __name__ == "__main__":
    main()
