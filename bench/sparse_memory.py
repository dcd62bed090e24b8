"""Peak memory of training on a large sparse matrix: X is never densified.

Builds a random CSR matrix (default 100,000 x 50,000, 0.1% non-zeros: 5
million entries, float64 values and int32 indices, about 61 MB; dense it
would be 40 GB), then trains on it and predicts with fastmlp.Trainer and with
fastmlp.MLPClassifier (scikit-learn's shuffling, so the engine reads rows in
a given order), and prints the peak resident memory of each step against
the size of X and of the model.

The peak is the kernel's high-water mark of this process (VmHWM), reset
before each step (writing 5 to /proc/self/clear_refs, Linux only) after a
warm-up on a small matrix, so compiling or loading the kernels is not
counted. It is measured above the memory in use before X was built, so it
includes X itself; the budget is 2 x X + the model (its parameters,
gradients, optimizer state and the engine's saved copies of them).

    python bench/sparse_memory.py                      # the full size (about 1 minute)
    python bench/sparse_memory.py --rows 20000 --cols 10000

Exit code 0 when every step is within the budget. On small matrices the
allocator's fixed costs (a few MB) exceed it: the budget is meant for X of
tens of MB and more.
"""

import argparse
import gc
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import scipy.sparse as sp  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import fastmlp as fm  # noqa: E402

MB = 1 << 20


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def random_csr(rows, cols, density, seed=0):
    """rows x cols CSR with about density * cols entries per row, built from
    its arrays (no COO intermediate): float64 values, int32 indices."""
    rng = np.random.default_rng(seed)
    per_row = rng.poisson(density * cols, rows)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(per_row, out=indptr[1:])
    nnz = int(indptr[-1])
    indices = rng.integers(0, cols, nnz, dtype=np.int32)
    data = rng.random(nnz)
    return sp.csr_matrix((data, indices, indptr.astype(np.int32)), shape=(rows, cols))


def measure(label, fn, base, budget_bytes):
    """Run fn with the peak reset first; print the peak above `base` (the
    memory in use before X was built), against the budget."""
    reset_peak()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    peak = status_kb("VmHWM") * 1024
    extra = peak - base
    verdict = "within" if extra <= budget_bytes else "OVER"
    print(f"{label:<34} {seconds:6.1f} s   peak RSS {peak / MB:6.0f} MB, {extra / MB:5.0f} MB above the "
          f"process before X: {verdict} the budget", flush=True)
    return result, extra


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--cols", type=int, default=50_000)
    ap.add_argument("--density", type=float, default=0.001)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args(argv)
    if not os.path.exists("/proc/self/clear_refs"):
        print("needs Linux's /proc/self/clear_refs to reset the peak; not available here.")
        return 2

    # Warm-up: compile (or load) every kernel the measured steps use, on a small matrix.
    small = random_csr(300, 200, 0.05, seed=1)
    labels = (np.asarray(small.sum(axis=1)).ravel() > 5).astype(float)
    warm = fm.MLP([200, 4, 1], output="sigmoid", seed=0)
    fm.Trainer(warm, loss="bce", lr=0.1, batch_size=32, epochs=1, seed=0).fit(small, labels)
    warm.predict(small)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fm.MLPClassifier((4,), solver="adam", batch_size=32, max_iter=1, random_state=0).fit(small, labels)

    start_rss = status_kb("VmRSS") * 1024
    X = random_csr(args.rows, args.cols, args.density)
    x_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    # A label that depends on a few columns, so that there is something to learn.
    y = (np.asarray(X[:, :200].sum(axis=1)).ravel() > np.median(np.asarray(X[:, :200].sum(axis=1)))).astype(float)
    print(f"X: {args.rows:,} x {args.cols:,} CSR, {X.nnz:,} non-zeros ({X.nnz / args.rows / args.cols:.2%}), "
          f"{x_bytes / MB:.0f} MB ({X.data.dtype} values, {X.indices.dtype} indices; dense: "
          f"{args.rows * args.cols * 8 / 2**30:.0f} GB); process before X: {start_rss / MB:.0f} MB", flush=True)

    model = fm.MLP([args.cols, args.hidden, 1], output="sigmoid", seed=0)
    # parameters, gradients and Adam's two moments (plus the engine's copies
    # of parameters and moments kept to roll a diverged epoch back)
    model_bytes = model.params.nbytes * 7
    budget = 2 * x_bytes + model_bytes
    print(f"model: {args.cols:,}-{args.hidden}-1, {model.n_params:,} parameters; with gradients, Adam's state "
          f"and the engine's saved copies {model_bytes / MB:.0f} MB; budget 2 x X + model = {budget / MB:.0f} MB",
          flush=True)

    trainer = fm.Trainer(model, loss="bce", lr=1e-3, batch_size=args.batch_size, epochs=args.epochs, seed=0,
                         optimizer="adam")
    history, extra_fit = measure(f"Trainer.fit ({args.epochs} epoch, shuffled)", lambda: trainer.fit(X, y),
                                 start_rss, budget)
    _, extra_pred = measure("Model.predict", lambda: model.predict(X), start_rss, budget)
    loss_trainer = history.final_loss
    del trainer, model, history                  # measure the estimator on its own
    gc.collect()
    clf = fm.MLPClassifier((args.hidden,), solver="adam", batch_size=args.batch_size, max_iter=args.epochs,
                           random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, extra_clf = measure(f"MLPClassifier.fit ({args.epochs} epoch)", lambda: clf.fit(X, y.astype(int)),
                               start_rss, budget)
    print(f"final training loss {loss_trainer:.4f} (Trainer), {clf.loss_:.4f} (MLPClassifier)")
    worst = max(extra_fit, extra_pred, extra_clf)
    print(f"largest peak above the process before X: {worst / MB:.0f} MB = X + {(worst - x_bytes) / MB:.0f} MB "
          f"= {worst / x_bytes:.2f} x X ({'within' if worst <= budget else 'OVER'} the budget, 2 x X + model = "
          f"{budget / MB:.0f} MB)")
    return 0 if worst <= budget else 1


if __name__ == "__main__":
    sys.exit(main())
