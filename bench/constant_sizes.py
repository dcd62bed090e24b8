"""Do compile-time layer sizes make a small step faster? A hand-built XOR step.

    python bench/constant_sizes.py

One 2-8-1 relu/sigmoid mse step with batch 4 (the `xor` workload), written
out layer by layer with fastmlp's kernels, timed four ways in one process:
the step inlined into the loop or compiled as a function of its own, and the
layer sizes either read at run time or frozen as compile-time constants
(closure variables). The best of 7 rounds of 100,000 steps each. This is the
measurement behind fastmlp.engines keeping sizes as run-time values: what
makes the specialized engine faster is the straight-line, inlined step, not
constant sizes.
"""

import time

import numba
import numpy as np

import fastmlp as fm
from fastmlp import kernels as K

N, D0, D1, D2 = 4, 2, 8, 1
P = D0 * D1 + D1 + D1 * D2 + D2
OPTS = dict(fastmath=K.FASTMATH, error_model="numpy", nogil=True)


def body(X, Y, lr, params, grads, w0, b0, w1, b1, gw0, gb0, gw1, gb1, z1, h1, z2, p, d2, dh):
    K.linear_forward(X, w0, b0, True, z1)
    K.relu_forward(z1, h1)
    K.linear_forward(h1, w1, b1, True, z2)
    K.sigmoid_forward(z2, p)
    value = K.mse_forward(p, Y)
    K.mse_backward(p, Y, d2)
    K.sigmoid_backward(p, d2, d2)
    K.linear_backward(h1, w1, d2, True, gw1, gb1, True, dh)
    K.relu_backward(h1, dh, dh)
    K.linear_backward(X, w0, dh, True, gw0, gb0, False, dh)
    K.sgd_update(params, grads, lr)
    return value


def layer_views(params, grads, acts, dgrad, n, d0, d1, d2):
    wo1 = d0 * d1 + d1
    bo1 = wo1 + d1 * d2
    w0, b0 = params[0:d0 * d1].reshape((d0, d1)), params[d0 * d1:wo1]
    w1, b1 = params[wo1:bo1].reshape((d1, d2)), params[bo1:bo1 + d2]
    gw0, gb0 = grads[0:d0 * d1].reshape((d0, d1)), grads[d0 * d1:wo1]
    gw1, gb1 = grads[wo1:bo1].reshape((d1, d2)), grads[bo1:bo1 + d2]
    z1 = acts[0:n * d1].reshape((n, d1))
    h1 = acts[n * d1:2 * n * d1].reshape((n, d1))
    z2 = acts[2 * n * d1:2 * n * d1 + n * d2].reshape((n, d2))
    p = acts[2 * n * d1 + n * d2:2 * n * d1 + 2 * n * d2].reshape((n, d2))
    d2v = dgrad[0:n * d2].reshape((n, d2))
    dh = dgrad[n * d2:n * d2 + n * d1].reshape((n, d1))
    return w0, b0, w1, b1, gw0, gb0, gw1, gb1, z1, h1, z2, p, d2v, dh


_layer_views = numba.njit(inline="always", **OPTS)(layer_views)


def make(step, constant_sizes):
    if constant_sizes:
        def views(params, grads, acts, dgrad, n, d0, d1, d2):
            return _layer_views(params, grads, acts, dgrad, N, D0, D1, D2)
    else:
        def views(params, grads, acts, dgrad, n, d0, d1, d2):
            return _layer_views(params, grads, acts, dgrad, n, d0, d1, d2)
    views = numba.njit(inline="always", **OPTS)(views)

    def train(params, grads, X, Y, steps, lr, acts, dgrad, n, d0, d1, d2):
        w0, b0, w1, b1, gw0, gb0, gw1, gb1, z1, h1, z2, p, d2v, dh = views(params, grads, acts, dgrad, n, d0, d1,
                                                                             d2)
        total = 0.0
        for _ in range(steps):
            total += step(X, Y, lr, params, grads, w0, b0, w1, b1, gw0, gb0, gw1, gb1, z1, h1, z2, p, d2v, dh)
        return total
    return numba.njit(**OPTS)(train)


def main():
    X, y = fm.datasets.xor()
    X = X.astype(np.float32)
    Y = y.reshape(-1, 1).astype(np.float32)
    separate = numba.njit(**OPTS)(body)
    inlined = numba.njit(inline="always", **OPTS)(body)
    variants = {"step compiled apart, run-time sizes": make(separate, False),
                "step compiled apart, constant sizes": make(separate, True),
                "step inlined, run-time sizes": make(inlined, False),
                "step inlined, constant sizes": make(inlined, True)}
    best = dict.fromkeys(variants, float("inf"))
    steps = 100_000
    for _ in range(7):
        for name, train in variants.items():
            params = (np.random.default_rng(0).standard_normal(P) * 0.5).astype(np.float32)
            grads = np.zeros(P, np.float32)
            acts = np.zeros(200, np.float32)
            dgrad = np.zeros(200, np.float32)
            train(params, grads, X, Y, 10, 0.5, acts, dgrad, N, D0, D1, D2)
            t = time.perf_counter()
            train(params, grads, X, Y, steps, 0.5, acts, dgrad, N, D0, D1, D2)
            best[name] = min(best[name], (time.perf_counter() - t) / steps * 1e6)
    for name, us in best.items():
        print(f"{name:38s} {us:.3f} us/step")


if __name__ == "__main__":
    main()
