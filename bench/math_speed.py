"""Per-element cost of fastmlp's vectorisable exp, log, log1p, tanh and sigmoid,
beside numba's own (libm, one call per element) and numpy's ufuncs.

    .venv/bin/python bench/math_speed.py               # 4,096 values per call, best of 200
    .venv/bin/python bench/math_speed.py --size 1048576 --repeat 50

Three implementations per function and dtype, timed round robin (one call of
each in turn, best call kept), on the same array of values in the function's
usual range:
* fastmlp: `fastmlp.kernels.elementwise`, the loop every activation, softmax,
  loss and predict kernel runs;
* numba libm: the same loop compiled with np.exp / np.log / np.log1p /
  np.tanh (sigmoid: 1 / (1 + np.exp(-x))), as the kernels were before;
* numpy: the ufunc writing into a preallocated array (sigmoid: two ufunc
  calls, np.exp then 1 / (1 + e), as a numpy user writes it).

Then the layers: `fm.Tanh().forward` and `fm.Sigmoid().forward` on a
(4096, 256) array, against np.tanh and np.exp on the same array, each
allocating its result (the target: at most 3x numpy's time).
"""

import argparse
import time

import numba
import numpy as np

import fastmlp as fm
from fastmlp import kernels as K

RANGES = {"exp": (-20.0, 20.0), "log": (1e-3, 1e3), "log1p": (-0.9, 10.0), "tanh": (-5.0, 5.0),
          "sigmoid": (-10.0, 10.0)}


@numba.njit(cache=True, error_model="numpy")
def libm_loop(fn, x, out):
    n = x.shape[0]
    if fn == 0:
        for q in range(n):
            out[q] = np.exp(x[q])
    elif fn == 1:
        for q in range(n):
            out[q] = np.log(x[q])
    elif fn == 2:
        for q in range(n):
            out[q] = np.log1p(x[q])
    elif fn == 3:
        for q in range(n):
            out[q] = np.tanh(x[q])
    else:
        for q in range(n):
            out[q] = 1.0 / (1.0 + np.exp(-x[q]))


def numpy_call(name):
    if name == "sigmoid":
        def sigmoid(x, out):
            np.exp(np.negative(x, out=out), out=out)
            np.add(out, 1.0, out=out)
            np.reciprocal(out, out=out)
        return sigmoid
    ufunc = getattr(np, name)
    return lambda x, out: ufunc(x, out=out)


def best_times(calls, repeat):
    """Best seconds per call of each callable, called round robin."""
    for call in calls:
        call()
    best = [float("inf")] * len(calls)
    for _ in range(repeat):
        for q, call in enumerate(calls):
            t0 = time.perf_counter()
            call()
            best[q] = min(best[q], time.perf_counter() - t0)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=4096, help="values per call (default 4096)")
    p.add_argument("--repeat", type=int, default=200, help="timed calls of each, best kept (default 200)")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"ns per element, {args.size} values per call, best of {args.repeat} (round robin)")
    print(f"{'function':<9} {'dtype':<8} {'fastmlp':>8} {'numba libm':>11} {'numpy':>8} "
          f"{'libm/fastmlp':>13} {'fastmlp/numpy':>14}")
    for dtype in (np.float32, np.float64):
        for code, name in enumerate(K.ELEMENTWISE_FUNCTIONS):
            lo, hi = RANGES[name]
            x = rng.uniform(lo, hi, args.size).astype(dtype)
            out = np.empty_like(x)
            npcall = numpy_call(name)
            calls = [lambda: K.elementwise(code, x, out), lambda: libm_loop(code, x, out), lambda: npcall(x, out)]
            ours, libm, npy = (t / args.size * 1e9 for t in best_times(calls, args.repeat))
            print(f"{name:<9} {np.dtype(dtype).name:<8} {ours:8.3f} {libm:11.3f} {npy:8.3f} "
                  f"{libm / ours:12.1f}x {ours / npy:13.2f}x")

    print("\nLayer forward on a (4096, 256) array against numpy's ufunc on the same array (target: <= 3x)")
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((4096, 256)).astype(dtype) * 2
        tanh, sigmoid = fm.Tanh(), fm.Sigmoid()
        # Both sides allocate their result, as forward() does.
        t_tanh, t_np_tanh, t_sig, t_np_exp = best_times(
            [lambda: tanh.forward(x), lambda: np.tanh(x),
             lambda: sigmoid.forward(x), lambda: np.exp(x)], max(5, args.repeat // 20))
        print(f"  {np.dtype(dtype).name}: Tanh {t_tanh * 1e3:.3f} ms vs np.tanh {t_np_tanh * 1e3:.3f} ms "
              f"= {t_tanh / t_np_tanh:.2f}x; Sigmoid {t_sig * 1e3:.3f} ms vs np.exp {t_np_exp * 1e3:.3f} ms "
              f"= {t_sig / t_np_exp:.2f}x")
    print(f"\nnumpy {np.__version__}, numba {numba.__version__}")


if __name__ == "__main__":
    main()
