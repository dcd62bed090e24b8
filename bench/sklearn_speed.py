"""fit() time of fastmlp.MLPClassifier against scikit-learn's MLPClassifier, side by side.

    .venv/bin/python bench/sklearn_speed.py              # all cases, best of 5
    .venv/bin/python bench/sklearn_speed.py --repeat 5 --threads 1 --dtype float32

Each case fits both estimators with the same settings and random_state,
alternately in this process, after a warm-up fit of each (the warm-up
also loads fastmlp's compiled engine from numba's cache, so compile time is
never counted). Printed per case: the best fit time of each, the ratio
scikit-learn / fastmlp, the epochs run (both must agree) and the largest
difference between the two fitted weight sets, which shows that both did
the same computation.

Cases:
* line: 1,000 points of fastmlp.datasets.line(), 2-16-16-1 relu, batch 32,
  50 epochs, shuffled every epoch: sgd with lr 0.1 and no momentum (the
  `line` workload), and adam with lr 0.01.
* digits: scikit-learn's load_digits (1,797 x 64, 10 classes) scaled to
  [0, 1], hidden layer 100 relu, batch 200 ('auto'), 50 epochs: adam with
  lr 0.001 (scikit-learn's defaults) and sgd with lr 0.1, momentum 0.9.

n_iter_no_change is set to max_iter so that every fit runs all its epochs.
"""

import argparse
import os
import platform
import time
import warnings

import numpy as np


def cases():
    import fastmlp as fm
    from sklearn.datasets import load_digits

    X_line, y_line = fm.datasets.line(1000, seed=0)
    y_line = y_line.ravel().astype(int)
    X_dig, y_dig = load_digits(return_X_y=True)
    X_dig = X_dig / 16.0
    line = dict(hidden_layer_sizes=(16, 16), activation="relu", batch_size=32, max_iter=50,
                n_iter_no_change=50, shuffle=True, random_state=0)
    digits = dict(hidden_layer_sizes=(100,), activation="relu", batch_size="auto", max_iter=50,
                  n_iter_no_change=50, shuffle=True, random_state=0)
    return [
        ("line  sgd  (lr 0.1, no momentum)", X_line, y_line,
         dict(line, solver="sgd", learning_rate_init=0.1, momentum=0.0)),
        ("line  adam (lr 0.01)", X_line, y_line, dict(line, solver="adam", learning_rate_init=0.01)),
        ("digits adam (lr 0.001)", X_dig, y_dig, dict(digits, solver="adam", learning_rate_init=0.001)),
        ("digits sgd (lr 0.1, momentum 0.9)", X_dig, y_dig,
         dict(digits, solver="sgd", learning_rate_init=0.1, momentum=0.9)),
    ]


def best_fit_times(make_a, make_b, X, y, repeat):
    """Fit a and b alternately `repeat` times each (so that a change of the
    machine's load hits both alike); return their best times and last fits."""
    best = [float("inf"), float("inf")]
    fitted = [None, None]
    for _ in range(repeat):
        for i, make in enumerate((make_a, make_b)):
            est = make()
            t0 = time.perf_counter()
            est.fit(X, y)
            best[i] = min(best[i], time.perf_counter() - t0)
            fitted[i] = est
    return best, fitted


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fits per estimator and case; the best counts")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="dtype of X (both libraries compute in X's dtype)")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit the BLAS threads of numpy and of numba/scipy (threadpoolctl)")
    args = parser.parse_args(argv)

    import numba
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkMLP

    import fastmlp as fm

    limiter = None
    if args.threads:
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(args.threads)

    from fastmlp.bench import BUSY_LOAD
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    warnings.simplefilter("ignore", ConvergenceWarning)
    if load is not None and load > BUSY_LOAD:
        print(f"WARNING: the machine is busy (1-minute load average {load:.2f}): other processes compete for "
              f"the cores, and since scikit-learn's fit runs mostly in Python, its times suffer more than "
              f"fastmlp's; the ratios come out too high. Rerun on a quiet machine.\n")
    print(f"fastmlp {fm.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}, "
          f"numba {numba.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print(f"X dtype {args.dtype}, best of {args.repeat} fits, BLAS threads: "
          f"{args.threads if args.threads else 'default'}\n")
    header = f"{'case':36s} {'sklearn':>10s} {'fastmlp':>10s} {'ratio':>7s} {'epochs':>7s} {'max |dW|':>9s}"
    print(header)
    print("-" * len(header))
    ratios = []
    for name, X, y, params in cases():
        X = X.astype(args.dtype)
        # Warm-up: loads fastmlp's compiled engine (numba cache) and scikit-learn's code paths.
        warm = dict(params, max_iter=2)
        SkMLP(**warm).fit(X, y)
        fm.MLPClassifier(**warm).fit(X, y)
        (t_sk, t_fm), (sk, ours) = best_fit_times(lambda: SkMLP(**params), lambda: fm.MLPClassifier(**params),
                                                  X, y, args.repeat)
        diff = max(float(np.abs(a - b).max()) for a, b in zip(sk.coefs_ + sk.intercepts_,
                                                              ours.coefs_ + ours.intercepts_))
        epochs = f"{sk.n_iter_}" if sk.n_iter_ == ours.n_iter_ else f"{sk.n_iter_}/{ours.n_iter_}"
        ratios.append(t_sk / t_fm)
        print(f"{name:36s} {t_sk * 1e3:8.1f}ms {t_fm * 1e3:8.2f}ms {t_sk / t_fm:6.1f}x {epochs:>7s} {diff:9.1e}")
    print(f"\nfit-time ratio sklearn/fastmlp: min {min(ratios):.1f}x, geometric mean "
          f"{float(np.exp(np.mean(np.log(ratios)))):.1f}x")
    if load is not None:
        print(f"1-minute load average: {load:.2f} before the run, {os.getloadavg()[0]:.2f} after")
    if limiter is not None:
        limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
