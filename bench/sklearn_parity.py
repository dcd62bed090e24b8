"""fastmlp's estimators against scikit-learn's on the features of docs/sklearn.md:
the largest difference of the fitted weights (coefs_ and intercepts_) and of
loss_, per case, float64, the same random_state.

    python bench/sklearn_parity.py

Cases: weighted fits (sgd, momentum, Nesterov, adam, lbfgs; binary,
multi-class, multi-label, regression, multi-output; minibatches of 16,
shuffled, alpha > 0), weighted early stopping, weighted partial_fit,
loss="poisson", and sparse X. The tests assert 1e-10 for each
(tests/test_sample_weight.py, test_poisson.py, test_sparse.py).
"""

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import scipy.sparse as sp  # noqa: E402
from sklearn import neural_network as sknn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import fastmlp as fm  # noqa: E402
from fastmlp.estimators import SOLVER_VARIANTS  # noqa: E402


def data(kind, n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    w = rng.uniform(0.0, 3.0, n)
    w[rng.random(n) < 0.1] = 0.0
    y = {"binary": (X[:, 0] + X[:, 1] > 0).astype(int),
         "multiclass": np.digitize(X[:, 0] - X[:, 2], [-0.6, 0.6]),
         "multilabel": np.c_[X[:, 0] > 0, X[:, 1] + X[:, 2] > 0].astype(int),
         "regression": 2 * X[:, 0] - X[:, 1] + 0.5,
         "multioutput": np.c_[2 * X[:, 0] - X[:, 1], X[:, 2] * X[:, 3]],
         "poisson": rng.poisson(np.exp(0.5 * X[:, 0])).astype(float)}[kind]
    return X, y, w


def both(kind, params, fit):
    cls = "MLPClassifier" if kind in ("binary", "multiclass", "multilabel") else "MLPRegressor"
    if kind == "poisson":
        params = dict(params, loss="poisson")
    sk, ours = getattr(sknn, cls)(**params), getattr(fm, cls)(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit(sk)
        fit(ours)
    dw = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
             for a, b in zip(sk.coefs_ + sk.intercepts_, ours.coefs_ + ours.intercepts_))
    return dw, abs(sk.loss_ - ours.loss_)


def main():
    rows = []
    base = dict(hidden_layer_sizes=(6, 4), activation="tanh", random_state=3, batch_size=16, alpha=0.05, max_iter=15)
    for solver, sp_params in SOLVER_VARIANTS.items():
        for kind in ("binary", "multiclass", "multilabel", "regression", "multioutput", "poisson"):
            X, y, w = data(kind)
            rows.append((f"sample_weight {solver}", kind,
                         *both(kind, {**base, **sp_params}, lambda e: e.fit(X, y, sample_weight=w))))
    es = dict(hidden_layer_sizes=(6,), random_state=1, solver="adam", learning_rate_init=0.02, batch_size=16,
              early_stopping=True, validation_fraction=0.25, n_iter_no_change=3, max_iter=40)
    for kind in ("binary", "multiclass", "regression", "multioutput", "poisson"):
        X, y, w = data(kind, n=100)
        rows.append(("sample_weight early stopping", kind, *both(kind, es, lambda e: e.fit(X, y, sample_weight=w))))
    pf = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.9, learning_rate_init=0.02, batch_size=16, alpha=0.1,
              random_state=0)
    for kind in ("binary", "multiclass", "regression", "poisson"):
        X, y, w = data(kind)
        extra = {"classes": np.unique(y)} if kind in ("binary", "multiclass") else {}

        def three_steps(e):
            for _ in range(3):
                e.partial_fit(X, y, sample_weight=w, **extra)
        rows.append(("sample_weight partial_fit", kind, *both(kind, pf, three_steps)))
    Xs = sp.random(120, 30, density=0.15, format="csr", random_state=3)
    Xd = Xs.toarray()
    score = Xd[:, :4].sum(axis=1)
    for kind, y in (("binary", (score > 0.3).astype(int)), ("regression", score)):
        for solver in ("adam", "lbfgs"):
            params = dict(hidden_layer_sizes=(6,), random_state=0, batch_size=16,
                          max_iter=8, **({"solver": "adam", "learning_rate_init": 0.01} if solver == "adam"
                                         else {"solver": "lbfgs"}))
            rows.append((f"sparse X (CSR) {solver}", kind, *both(kind, params, lambda e: e.fit(Xs, y))))
    print(f"{'case':<32} {'target':<12} {'max |weights diff|':>19} {'|loss_ diff|':>13}")
    for case, kind, dw, dl in rows:
        print(f"{case:<32} {kind:<12} {dw:19.1e} {dl:13.1e}")
    worst = max(r[2] for r in rows)
    print(f"largest weight difference over {len(rows)} cases: {worst:.1e}")
    return 0 if worst < 1e-10 else 1


if __name__ == "__main__":
    with threadpool_limits(limits=1, user_api="blas"):
        sys.exit(main())
