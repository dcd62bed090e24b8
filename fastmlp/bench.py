"""Side-by-side training benchmark: fastmlp against its peers, in one process.

Run it as ``fastmlp bench``, ``python -m fastmlp.bench`` or ``make compare``::

    python -m fastmlp.bench                       # all workloads, every peer that imports
    python -m fastmlp.bench --workloads xor,line --quick
    python -m fastmlp.bench --json out.json       # also write the results as JSON

Each workload (xor, line, wide; see ``WORKLOADS``) is trained by fastmlp and
then by every peer that can be imported: the plain-numpy reference
(``fastmlp.reference.Net``, always there), PyTorch eager, JAX (``jax.jit`` +
``lax.scan``) and scikit-learn's ``MLPClassifier``. All of them start from the
same initial weights (fastmlp's ``MLP(..., seed=0)``), use float32, plain SGD
and the same hyperparameters; fastmlp, the reference, PyTorch and JAX also see
the same minibatches (``fastmlp.trainer.shuffle_orders``). scikit-learn draws
its own shuffles and always trains a sigmoid/softmax output with log-loss, so
its loss column is its log-loss, reported as it is.

Protocol per workload: each implementation is prepared and does a warm-up run
(which for fastmlp and JAX also pays compilation; compile time is reported in
its own column, never in step times); then ``repeats`` rounds in which every
implementation makes one timed run from the initial weights, round robin, so a
drift of the machine's speed hits them alike. The best (min) time per step of
each is reported. Implementations whose steps are slow (Python loops)
are timed on fewer epochs when a full run would exceed ``budget`` seconds; the
row then says how many steps were timed, and its loss and accuracy are those
after the steps it ran. Peers that are not installed are listed as skipped.

This module imports torch, jax and scikit-learn only inside the functions that
run them; importing fastmlp never imports it.
"""

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import sys
import time
import warnings

import numpy as np

# ---------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------

WORKLOADS = {
    "xor": dict(sizes=[2, 8, 1], output="sigmoid", loss="mse", lr=0.5, batch=4, epochs=10_000,
                quick_epochs=500, repeats=5),
    "line": dict(sizes=[2, 16, 16, 1], output="sigmoid", loss="bce", lr=0.1, batch=32, epochs=50,
                 quick_epochs=5, repeats=5, n=1000),
    "wide": dict(sizes=[784, 512, 512, 10], output="softmax", loss="cross_entropy", lr=0.01, batch=256,
                 epochs=2, quick_epochs=1, repeats=3, n=8192, quick_n=1024),
}
IMPLEMENTATIONS = ("fastmlp", "reference", "torch", "jax", "sklearn")
LABELS = {
    "fastmlp": "fastmlp",
    "reference": "numpy reference",
    "torch": "PyTorch eager",
    "jax": "JAX jit+scan",
    "sklearn": "scikit-learn MLP",
}
SEED = 0
# Issue 3's targets: (workload, peer, minimum ratio peer time / fastmlp time per step).
RATIO_TARGETS = [("xor", "torch", 400.0), ("xor", "jax", 4.0), ("line", "torch", 60.0), ("line", "jax", 4.0),
                 ("line", "reference", 10.0), ("wide", "torch", 1.15), ("wide", "reference", 1.0)]
# Aims for fastmlp's own time per step (seconds), and its share of the BLAS limit on wide.
STEP_AIMS = {"xor": 0.5e-6, "line": 5e-6}
BLAS_SHARE_TARGET = 0.80
BUSY_LOAD = 0.7  # 1-minute load average above which the report warns that timings are unreliable


class Workload:
    """One workload's settings and data (float32)."""

    def __init__(self, name, quick=False):
        import fastmlp as fm

        spec = WORKLOADS[name]
        self.name = name
        self.sizes = list(spec["sizes"])
        self.output = spec["output"]
        self.loss = spec["loss"]
        self.lr = float(spec["lr"])
        self.batch = int(spec["batch"])
        self.epochs = int(spec["quick_epochs"] if quick else spec["epochs"])
        self.repeats = 1 if quick else int(spec["repeats"])
        if name == "xor":
            X, y = fm.datasets.xor()
            labels = y.ravel().astype(np.int64)
            Y = y
        elif name == "line":
            X, y = fm.datasets.line(spec["n"], seed=SEED)
            labels = y.ravel().astype(np.int64)
            Y = y
        else:
            n = int(spec["quick_n"] if quick else spec["n"])
            rng = np.random.default_rng(SEED)
            X = rng.standard_normal((n, self.sizes[0]), dtype=np.float32)
            labels = rng.integers(0, self.sizes[-1], size=n)
            Y = np.zeros((n, self.sizes[-1]), dtype=np.float32)
            Y[np.arange(n), labels] = 1.0
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.Y = np.ascontiguousarray(Y, dtype=np.float32)
        self.labels = labels
        self.n = self.X.shape[0]
        self.batch = min(self.batch, self.n)
        self.steps_per_epoch = -(-self.n // self.batch)
        self.shuffle = self.batch < self.n
        # The initial weights every implementation starts from.
        self.model0 = fm.MLP(self.sizes, activation="relu", output=self.output, dtype=np.float32, seed=SEED)
        self.weights = [(layer.weight.copy(), layer.bias.copy())
                        for layer in self.model0.layers if layer.name == "Linear"]
        self._orders = {}

    def orders(self, epochs):
        """The per-epoch sample orders fastmlp's Trainer(seed=SEED) uses, or None without shuffling."""
        if not self.shuffle:
            return None
        if epochs not in self._orders:
            from fastmlp.trainer import shuffle_orders
            self._orders[epochs] = shuffle_orders(SEED, epochs, self.n)
        return self._orders[epochs]

    @property
    def flops_per_epoch(self):
        """2*m*n*k per matrix product: forward one product per Linear, backward
        two (dW and dX) except dX of the first layer."""
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        per_sample = sum(3 * a * b for a, b in pairs) - pairs[0][0] * pairs[0][1]
        return 2.0 * self.n * per_sample

    def gemm_shapes(self):
        """(m, k, n, a_transposed, b_transposed) of the products of one full step."""
        b = self.batch
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        shapes = [(b, i, o, False, False) for i, o in pairs]                # forward x @ W
        shapes += [(i, b, o, True, False) for i, o in pairs]                # dW = x.T @ g
        shapes += [(b, o, i, False, True) for i, o in pairs[1:]]            # dX = g @ W.T
        return shapes

    def describe(self):
        arch = "-".join(str(s) for s in self.sizes)
        return (f"{self.name}: {arch}, ReLU hidden, {self.output} out, {self.loss}, n={self.n}, "
                f"batch {self.batch}, lr {self.lr:g}, {self.epochs} epochs "
                f"({self.epochs * self.steps_per_epoch} steps), float32 SGD")

    def accuracy(self, scores):
        """Training accuracy of output probabilities scores (n, k)."""
        scores = np.asarray(scores, dtype=np.float64).reshape(self.n, -1)
        if scores.shape[1] == 1:
            pred = (scores[:, 0] > 0.5).astype(np.int64)
        else:
            pred = scores.argmax(axis=1)
        return float(np.mean(pred == self.labels))


class Skipped(Exception):
    """A peer that cannot run here (not installed)."""


# ---------------------------------------------------------------------------
# Implementations. Each has: prepare() (imports, builds), reset() (initial
# weights), run(epochs) -> (seconds, steps, epoch losses), scores() -> (n, k)
# probabilities. compile_seconds is set when it has a separate compile.
# ---------------------------------------------------------------------------


class Peer:
    """What every implementation keeps: its workload, compile time and a note."""

    def __init__(self, wl):
        self.wl = wl
        self.compile_seconds = None
        self.note = ""


class FastMLP(Peer):
    name = "fastmlp"
    python_loop = False

    def prepare(self):
        import fastmlp as fm
        self.fm = fm
        self.reset()

    def reset(self):
        self.model = self.wl.model0.copy()

    def run(self, epochs):
        wl = self.wl
        trainer = self.fm.Trainer(self.model, loss=wl.loss, lr=wl.lr, batch_size=wl.batch, epochs=epochs,
                                  shuffle=True, seed=SEED)
        h = trainer.fit(wl.X, wl.Y)
        return h.seconds, h.steps, np.asarray(h.loss)

    def scores(self):
        return self.model.predict(self.wl.X)


class Reference(Peer):
    name = "reference"
    python_loop = True

    def prepare(self):
        from fastmlp.reference import Net
        self.Net = Net
        self.reset()

    def reset(self):
        self.net = self.Net.from_model(self.wl.model0, dtype=np.float32)

    def run(self, epochs):
        wl = self.wl
        t0 = time.perf_counter()
        losses = self.net.train(wl.X, wl.Y, wl.loss, wl.lr, wl.batch, epochs, orders=wl.orders(epochs))
        return time.perf_counter() - t0, epochs * wl.steps_per_epoch, np.asarray(losses)

    def scores(self):
        return self.net.predict(self.wl.X)


class Torch(Peer):
    name = "torch"
    python_loop = True

    def prepare(self):
        try:
            import torch
        except ImportError as exc:
            raise Skipped("not installed") from exc
        torch.set_num_threads(2)
        self.torch = torch
        wl = self.wl
        self.Xt = torch.from_numpy(wl.X)
        if wl.loss == "cross_entropy":
            self.Yt = torch.from_numpy(wl.labels.astype(np.int64))
            self.loss_fn = torch.nn.CrossEntropyLoss()
        elif wl.loss == "bce":
            self.Yt = torch.from_numpy(wl.Y)
            self.loss_fn = torch.nn.BCEWithLogitsLoss()
        else:
            self.Yt = torch.from_numpy(wl.Y)
            self.loss_fn = torch.nn.MSELoss()
        self.reset()

    def reset(self):
        torch = self.torch
        nn = torch.nn
        wl = self.wl
        layers = []
        for i, (W, b) in enumerate(wl.weights):
            lin = nn.Linear(W.shape[0], W.shape[1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < len(wl.weights) - 1:
                layers.append(nn.ReLU())
        # bce and cross-entropy take logits (the fused, stable form, like fastmlp's);
        # mse needs the probabilities.
        self.logit_output = wl.loss in ("bce", "cross_entropy")
        if not self.logit_output and wl.output == "sigmoid":
            layers.append(nn.Sigmoid())
        elif not self.logit_output and wl.output == "softmax":
            layers.append(nn.Softmax(dim=1))
        self.model = nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=wl.lr, momentum=0.0)

    def run(self, epochs):
        torch = self.torch
        wl = self.wl
        model, opt, loss_fn, Xt, Yt = self.model, self.opt, self.loss_fn, self.Xt, self.Yt
        orders = wl.orders(epochs)
        orders_t = None if orders is None else torch.from_numpy(orders)
        losses = np.empty(epochs)
        b, n = wl.batch, wl.n
        t0 = time.perf_counter()
        for e in range(epochs):
            total = 0.0
            for s in range(0, n, b):
                if orders_t is None and b >= n:
                    xb, yb = Xt, Yt
                else:
                    idx = orders_t[e, s:s + b] if orders_t is not None else slice(s, s + b)
                    xb, yb = Xt[idx], Yt[idx]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item() * xb.shape[0]
            losses[e] = total / n
        return time.perf_counter() - t0, epochs * wl.steps_per_epoch, losses

    def scores(self):
        torch = self.torch
        with torch.no_grad():
            out = self.model(self.Xt)
            if self.logit_output:
                out = torch.sigmoid(out) if self.wl.output == "sigmoid" else torch.softmax(out, dim=1)
        return out.numpy()


class Jax(Peer):
    name = "jax"
    python_loop = False

    def __init__(self, wl):
        super().__init__(wl)
        self._compiled = {}

    def prepare(self):
        try:
            import jax
            import jax.numpy as jnp
        except ImportError as exc:
            raise Skipped("not installed") from exc
        self.jax, self.jnp = jax, jnp
        wl = self.wl
        self.X = jnp.asarray(wl.X)
        self.Y = jnp.asarray(wl.Y)
        self._train = jax.jit(self._make_train())
        self.reset()

    def _make_train(self):
        jax, jnp = self.jax, self.jnp
        lax = jax.lax
        wl = self.wl
        loss_name, output, lr = wl.loss, wl.output, wl.lr
        full_batch = not wl.shuffle

        def logits(params, x):
            for i, (W, b) in enumerate(params):
                x = x @ W + b
                if i < len(params) - 1:
                    x = jax.nn.relu(x)  # derivative 0 at 0 (jnp.maximum would give 0.5)
            return x

        def batch_loss(params, xb, yb, wb):
            # wb: 1 for real rows, 0 for the padding of a short last batch.
            z = logits(params, xb)
            rows = jnp.sum(wb)
            if loss_name == "cross_entropy":
                lse = jax.nn.logsumexp(z, axis=1)
                per = jnp.sum(yb * (lse[:, None] - z), axis=1)
                return jnp.sum(wb * per) / rows
            if loss_name == "bce":
                el = jnp.maximum(z, 0.0) - z * yb + jnp.log1p(jnp.exp(-jnp.abs(z)))
            else:
                p = jax.nn.sigmoid(z) if output == "sigmoid" else (
                    jax.nn.softmax(z, axis=1) if output == "softmax" else z)
                el = (p - yb) ** 2
            return jnp.sum(wb[:, None] * el) / (rows * z.shape[1])

        grad_fn = jax.value_and_grad(batch_loss)

        def sgd(params, grads):
            return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

        if full_batch:
            def train(params, X, Y, idx, wts):
                ones = jnp.ones((X.shape[0],), X.dtype)

                def step(params, _):
                    value, grads = grad_fn(params, X, Y, ones)
                    return sgd(params, grads), value

                return lax.scan(step, params, None, length=idx.shape[0])
        else:
            def train(params, X, Y, idx, wts):
                def step(params, inp):
                    i, w = inp
                    value, grads = grad_fn(params, X[i], Y[i], w)
                    return sgd(params, grads), value

                return lax.scan(step, params, (idx, wts))
        self._logits = jax.jit(logits)
        return train

    def _steps(self, epochs):
        """Index (steps, batch) int32 and weight (steps, batch) arrays of the minibatches."""
        wl = self.wl
        b, n = wl.batch, wl.n
        steps = epochs * wl.steps_per_epoch
        if not wl.shuffle:
            return np.zeros((steps, 1), np.int32), np.zeros((steps, 1), np.float32)
        orders = wl.orders(epochs)
        idx = np.zeros((steps, b), np.int32)
        wts = np.zeros((steps, b), np.float32)
        q = 0
        for e in range(epochs):
            for s in range(0, n, b):
                part = orders[e, s:s + b]
                idx[q, :part.size] = part
                wts[q, :part.size] = 1.0
                q += 1
        return idx, wts

    def reset(self):
        jnp = self.jnp
        self.params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in self.wl.weights]

    def _get(self, epochs):
        if epochs not in self._compiled:
            idx, wts = self._steps(epochs)
            idx, wts = self.jnp.asarray(idx), self.jnp.asarray(wts)
            t0 = time.perf_counter()
            compiled = self._train.lower(self.params, self.X, self.Y, idx, wts).compile()
            seconds = time.perf_counter() - t0
            if self.compile_seconds is None:
                self.compile_seconds = seconds
            self._compiled[epochs] = (compiled, idx, wts, wts.sum(axis=1) if self.wl.shuffle else None)
        return self._compiled[epochs]

    def run(self, epochs):
        wl = self.wl
        compiled, idx, wts, rows = self._get(epochs)
        t0 = time.perf_counter()
        params, values = compiled(self.params, self.X, self.Y, idx, wts)
        values = self.jax.block_until_ready(values)
        params = self.jax.block_until_ready(params)
        seconds = time.perf_counter() - t0
        self.params = params
        values = np.asarray(values, dtype=np.float64).reshape(epochs, wl.steps_per_epoch)
        if rows is None:
            losses = values.mean(axis=1)
        else:
            r = np.asarray(rows, dtype=np.float64).reshape(epochs, wl.steps_per_epoch)
            losses = (values * r).sum(axis=1) / wl.n
        return seconds, epochs * wl.steps_per_epoch, losses

    def scores(self):
        z = np.asarray(self._logits(self.params, self.X), dtype=np.float64)
        if self.wl.output == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        if self.wl.output == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return z


class Sklearn(Peer):
    name = "sklearn"
    python_loop = True

    def prepare(self):
        try:
            from sklearn.neural_network import MLPClassifier
        except ImportError as exc:
            raise Skipped("not installed") from exc
        self.MLPClassifier = MLPClassifier
        wl = self.wl
        notes = []
        if wl.loss == "mse":
            notes.append("loss is sklearn's log-loss (its sigmoid+log-loss output is fixed), not mse")
        if wl.shuffle:
            notes.append("own shuffle order")
        self.note = "; ".join(notes)
        self.clf = None

    def reset(self):
        # Weights are set in run(): scikit-learn allocates them on the first fit.
        pass

    def _classifier(self, epochs):
        wl = self.wl
        return self.MLPClassifier(
            hidden_layer_sizes=tuple(wl.sizes[1:-1]), activation="relu", solver="sgd",
            learning_rate="constant", learning_rate_init=wl.lr, batch_size=wl.batch, momentum=0.0,
            nesterovs_momentum=False, alpha=0.0, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 10,
            shuffle=wl.shuffle, random_state=SEED, early_stopping=False, warm_start=True)

    def run(self, epochs):
        wl = self.wl
        from sklearn.exceptions import ConvergenceWarning
        clf = self._classifier(epochs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # One partial_fit on a batch allocates the network and the label
            # binarizer; then the weights are replaced by the shared initial
            # ones and fit (warm_start keeps them, with a fresh optimizer)
            # trains `epochs` epochs. Only that fit is timed.
            clf.partial_fit(wl.X[:wl.batch], wl.labels[:wl.batch], classes=np.unique(wl.labels))
            clf.coefs_ = [W.copy() for W, _ in wl.weights]
            clf.intercepts_ = [b.copy() for _, b in wl.weights]
            clf.loss_curve_ = []
            clf.best_loss_ = np.inf
            clf._no_improvement_count = 0
            clf.t_ = 0
            t0 = time.perf_counter()
            clf.fit(wl.X, wl.labels)
            seconds = time.perf_counter() - t0
        self.clf = clf
        return seconds, clf.n_iter_ * wl.steps_per_epoch, np.asarray(clf.loss_curve_, dtype=np.float64)

    def scores(self):
        proba = self.clf.predict_proba(self.wl.X)
        if proba.shape[1] == 2 and self.wl.sizes[-1] == 1:
            return proba[:, 1:]
        return proba


CLASSES = {"fastmlp": FastMLP, "reference": Reference, "torch": Torch, "jax": Jax, "sklearn": Sklearn}


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


def _pause():
    """Let the thread pools of the previous implementation go idle (OpenMP
    and XLA worker threads spin for a while after their last task)."""
    gc.collect()
    time.sleep(0.1)


def warm_up(impl, wl, budget):
    """Prepare impl and run its warm-up; returns its result row so far, with
    the number of epochs each timed run will train."""
    row = {"workload": wl.name, "implementation": impl.name, "label": LABELS[impl.name]}
    t0 = time.perf_counter()
    impl.prepare()
    row["prepare_seconds"] = time.perf_counter() - t0
    # Warm-up: a short run (fastmlp: compiles or loads numba's cache; JAX
    # compiles the full-length scan separately in _get, and its warm-up runs
    # the same compiled program that is timed).
    warm_epochs = wl.epochs if impl.name == "jax" else max(1, min(wl.epochs, 1 if wl.n > 1000 else 10))
    impl.reset()
    t0 = time.perf_counter()
    seconds, steps, _ = impl.run(warm_epochs)
    row["warmup_seconds"] = time.perf_counter() - t0
    row["warmup_steps"] = int(steps)
    epochs = wl.epochs
    if impl.python_loop and budget:
        per_epoch = seconds / max(warm_epochs, 1)
        if per_epoch * epochs > budget:
            epochs = max(1, int(budget / per_epoch))
    row.update(epochs=int(epochs), repeats=0, seconds_per_step=math.inf)
    return row


def _failed(exc):
    """The status of a row whose implementation raised exc."""
    return f"failed: {type(exc).__name__}: {exc}"[:200]


def timed_run(impl, wl, row):
    """One timed run of row["epochs"] epochs from the initial weights; keeps
    the best time per step and the last run's losses and scores in row."""
    _pause()
    impl.reset()
    seconds, steps, losses = impl.run(row["epochs"])
    best = min(row["seconds_per_step"], seconds / max(steps, 1))
    scores = impl.scores()
    row.update(
        status="ok",
        compile_seconds=impl.compile_seconds,
        steps=int(steps),
        full_steps=int(wl.epochs * wl.steps_per_epoch),
        repeats=row["repeats"] + 1,
        seconds_per_step=best,
        seconds_per_epoch=best * wl.steps_per_epoch,
        samples_per_second=wl.n / (best * wl.steps_per_epoch),
        gflops=wl.flops_per_epoch / (best * wl.steps_per_epoch) / 1e9,
        final_loss=float(losses[-1]) if len(losses) else float("nan"),
        accuracy=wl.accuracy(scores),
        note=impl.note,
    )
    if row["epochs"] < wl.epochs:
        extra = f"timed on {row['steps']}/{row['full_steps']} steps; loss/acc after those"
        row["note"] = f"{row['note']}; {extra}" if row["note"] else extra
    return row


def first_call_seconds():
    """Time of the first fastmlp training and predict calls in this process:
    numba compiles the float32 engine or loads it from its on-disk cache."""
    import fastmlp as fm
    from fastmlp import kernels as K

    X, y = fm.datasets.xor()
    model = fm.MLP([2, 8, 1], output="sigmoid", dtype=np.float32, seed=SEED)
    t0 = time.perf_counter()
    fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=1, seed=SEED).fit(X, y)
    model.predict(X)
    seconds = time.perf_counter() - t0
    hits = misses = 0
    for fn in (K.train_epochs, K.predict_into):
        stats = getattr(fn, "stats", None)
        if stats is not None:
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
    if misses:
        source = "compiled (numba cache cold)"
    elif hits:
        source = "loaded from numba's cache"
    else:
        source = "already compiled in this process"
    return {"seconds": seconds, "source": source, "cache_hits": hits, "cache_misses": misses}


def blas_limit(wl, seconds=1.0):
    """float32 GEMM GFLOP/s of numpy for the products of one training step of
    workload wl (same shapes and transposes). The products are timed round
    robin for about `seconds` and each keeps its best time, so a burst of load
    from other processes does not spoil one product's figure. That sum of best
    calls is a best case no whole step reaches, so the best and median time of
    a whole round (every product once, in the step's order) are kept too."""
    rng = np.random.default_rng(1)
    cases = []
    for m, k, n, ta, tb in wl.gemm_shapes():
        a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
        a = a.T if ta else a
        b = b.T if tb else b
        out = np.empty((m, n), dtype=np.float32)
        np.matmul(a, b, out=out)
        shape = f"({m}x{k})@({k}x{n})" + (" A transposed" if ta else "") + (" B transposed" if tb else "")
        cases.append([shape, a, b, out, 2.0 * m * n * k, math.inf])
    t_end = time.perf_counter() + seconds
    rounds = []
    while len(rounds) < 5 or time.perf_counter() < t_end:
        round_seconds = 0.0
        for case in cases:
            a, b, out = case[1], case[2], case[3]
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            dt = time.perf_counter() - t0
            case[5] = min(case[5], dt)
            round_seconds += dt
        rounds.append(round_seconds)
    total_flops = sum(c[4] for c in cases)
    total_seconds = sum(c[5] for c in cases)
    products = [{"shape": c[0], "seconds": c[5], "gflops": c[4] / c[5] / 1e9} for c in cases]
    return {"workload": wl.name, "gflops": total_flops / total_seconds / 1e9,
            "seconds_per_step": total_seconds, "rounds": len(rounds),
            "sequence_seconds_best": min(rounds), "sequence_seconds_median": float(np.median(rounds)),
            "products": products}


def _load():
    try:
        return list(os.getloadavg())
    except (OSError, AttributeError):
        return None


def _version(dist):
    """Installed version of a distribution, without importing it."""
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info():
    """CPU, cores, load and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = _load()
    import fastmlp
    import numba
    versions = {"python": platform.python_version(), "fastmlp": fastmlp.__version__,
                "numpy": np.__version__, "numba": numba.__version__, "scipy": _version("scipy"),
                "torch": _version("torch"), "jax": _version("jax"), "jaxlib": _version("jaxlib"),
                "sklearn": _version("scikit-learn")}
    info = {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "load_average": load,
            "platform": platform.platform(), "versions": versions}
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = [{k: p.get(k) for k in ("internal_api", "num_threads", "version", "filepath")}
                               for p in threadpool_info()]
    except Exception:
        pass
    return info


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _time(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def _ratio(r):
    if r is None or not math.isfinite(r):
        return "-"
    return f"{r:.0f}x" if r >= 100 else f"{r:.3g}x"


def _num(value, fmt):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, fmt)


def format_table(rows):
    header = ["workload", "implementation", "time/step", "time/epoch", "samples/s", "GFLOP/s",
              "final loss", "accuracy", "ratio", "compile", "steps timed"]
    lines = []
    for r in rows:
        if r["status"] != "ok":
            lines.append([r["workload"], r["label"], r["status"]] + [""] * (len(header) - 3))
            continue
        lines.append([
            r["workload"], r["label"], _time(r["seconds_per_step"]), _time(r["seconds_per_epoch"]),
            _num(r["samples_per_second"], ".3g"), _num(r["gflops"], ".3g"), _num(r["final_loss"], ".4g"),
            _num(r["accuracy"], ".3f"), ("1 (base)" if r["implementation"] == "fastmlp"
                                         else _ratio(r.get("ratio"))),
            _time(r["compile_seconds"]) if r["compile_seconds"] is not None else "-",
            f"{r['steps']}/{r['full_steps']}" + (f" x{r['repeats']}" if r["repeats"] > 1 else ""),
        ])
    widths = [max(len(h), *(len(str(l[i])) for l in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)),
           "-+-".join("-" * w for w in widths)]
    for l in lines:
        out.append(" | ".join(str(c).ljust(w) for c, w in zip(l, widths)))
    return "\n".join(out)


def _print(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def build_parser(prog="fastmlp bench"):
    p = argparse.ArgumentParser(
        prog=prog, description="Train the benchmark workloads with fastmlp and every installed peer "
                               "(numpy reference, PyTorch, JAX, scikit-learn) in one process and compare.")
    p.add_argument("--workloads", default="xor,line,wide",
                   help="comma-separated subset of: " + ",".join(WORKLOADS) + " (default: all)")
    p.add_argument("--impls", default=",".join(IMPLEMENTATIONS),
                   help="comma-separated subset of: " + ",".join(IMPLEMENTATIONS) + " (fastmlp always runs)")
    p.add_argument("--quick", action="store_true", help="smoke run: few epochs, one repeat, small wide data")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed runs per implementation, best kept (default: 5 for xor/line, 3 for wide)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds a timed run of a Python-loop implementation may take before it is timed on "
                        "fewer epochs (default 5, --quick 1)")
    p.add_argument("--json", metavar="FILE", help="also write all results to FILE as JSON")
    return p


class _UsageError(Exception):
    """A bad option value: main() prints it and returns 2, as argparse does."""


def _split(value, allowed, what):
    items = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        raise _UsageError(f"unknown {what} {', '.join(bad) or repr(value)}; choose from {', '.join(allowed)}.")
    return items


def run(workloads=("xor", "line", "wide"), impls=IMPLEMENTATIONS, quick=False, repeats=None, budget=None,
        echo=_print):
    """Run the comparison; returns the JSON-able results dict."""
    if budget is None:
        budget = 1.0 if quick else 5.0
    impls = ["fastmlp"] + [i for i in impls if i != "fastmlp"]
    results = {"quick": bool(quick), "budget_seconds": budget, "rows": [], "blas": None, "first_call": None,
               "load_average_start": _load()}
    first = first_call_seconds()
    results["first_call"] = first
    echo(f"fastmlp first call (float32 train + predict): {first['seconds']:.3f} s, {first['source']} "
         f"- not included in any step time")
    imports = {}
    for wname in workloads:
        wl = Workload(wname, quick=quick)
        echo(f"\n{wl.describe()}")
        reps = wl.repeats if repeats is None else max(1, int(repeats))
        if wname == "wide":
            # Measured right before the implementations warm up and run, so all see the same machine.
            results["blas"] = blas_limit(wl)
            echo(f"  BLAS limit: numpy float32 GEMM on this step's products: {results['blas']['gflops']:.1f} GFLOP/s")
        # Every implementation is prepared and warmed up, then the timed runs go
        # round robin (one run of each, `reps` times): a machine whose speed
        # drifts for seconds at a time (as shared VMs do) then slows all of
        # them alike instead of whichever ran during the slow spell.
        entries = []
        for name in impls:
            cls = CLASSES[name]
            row = {"workload": wname, "implementation": name, "label": LABELS[name]}
            impl = None
            try:
                if name not in imports:
                    t0 = time.perf_counter()
                    mod = {"torch": "torch", "jax": "jax", "sklearn": "sklearn.neural_network"}.get(name)
                    if mod is not None:
                        try:
                            __import__(mod)
                        except ImportError:
                            pass
                    imports[name] = time.perf_counter() - t0
                _pause()
                impl = cls(wl)
                row = warm_up(impl, wl, None if name == "fastmlp" else budget)
                row["import_seconds"] = imports[name]
            except Skipped as exc:
                row.update(status=f"skipped ({exc})")
            except Exception as exc:  # a broken peer must not hide the others
                row.update(status=_failed(exc))
            entries.append((impl, row))
        for _ in range(reps):
            for impl, row in entries:
                if row.get("status", "ok") != "ok":
                    continue
                try:
                    timed_run(impl, wl, row)
                except Exception as exc:
                    row.update(status=_failed(exc))
        base = None
        for impl, row in entries:
            name = row["implementation"]
            if row["status"] == "ok":
                if name == "fastmlp":
                    base = row["seconds_per_step"]
                row["ratio"] = row["seconds_per_step"] / base if base else None
                echo(f"  {row['label']:<18} {_time(row['seconds_per_step']):>10}/step  "
                     f"loss {row['final_loss']:.4g}  acc {row['accuracy']:.3f}"
                     + (f"  ratio {_ratio(row['ratio'])}" if name != "fastmlp" and row["ratio"] else "")
                     + (f"  compile {row['compile_seconds']:.2f} s" if row["compile_seconds"] else "")
                     + (f"  ({row['note']})" if row["note"] else ""))
            else:
                echo(f"  {row['label']:<18} {row['status']}")
            results["rows"].append(row)
    results["targets"] = check_targets(results)
    results["machine"] = machine_info()
    results["load_average_end"] = results["machine"]["load_average"]
    results["import_seconds"] = imports
    return results


def check_targets(results):
    """Issue 3's targets against this run: a list of {target, measured, met}."""
    rows = {(r["workload"], r["implementation"]): r for r in results["rows"] if r["status"] == "ok"}
    out = []
    for wname, peer, need in RATIO_TARGETS:
        if (wname, "fastmlp") not in rows:
            continue
        r = rows.get((wname, peer))
        got = r["ratio"] if r else None
        out.append({"target": f"{wname}: >= {need:g}x {LABELS[peer]}", "measured":
                    _ratio(got) if got is not None else "not run", "met": None if got is None else got >= need})
    for wname, aim in STEP_AIMS.items():
        r = rows.get((wname, "fastmlp"))
        if r:
            out.append({"target": f"{wname}: fastmlp under {_time(aim)}/step", "measured":
                        _time(r["seconds_per_step"]), "met": r["seconds_per_step"] < aim})
    blas, r = results.get("blas"), rows.get(("wide", "fastmlp"))
    if blas and r:
        share = r["gflops"] / blas["gflops"]
        out.append({"target": f"wide: >= {BLAS_SHARE_TARGET:.0%} of the float32 GEMM GFLOP/s",
                    "measured": f"{share:.0%}", "met": share >= BLAS_SHARE_TARGET})
    return out


def report(results):
    """The summary printed after a run."""
    lines = []
    m = results["machine"]
    v = m["versions"]
    start, end = results.get("load_average_start"), m.get("load_average")
    fmt = lambda load: ", ".join(f"{x:.2f}" for x in load) if load else "n/a"  # noqa: E731
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); "
                 f"load average before the run {fmt(start)}, after {fmt(end)}")
    if start and start[0] > BUSY_LOAD:
        lines.append(f"WARNING: the machine was busy before the run (1-minute load {start[0]:.2f}): other "
                     f"processes compete for the cores and the timings are not reliable.")
    lines.append("Versions: " + ", ".join(f"{k} {val if val else 'not installed'}" for k, val in v.items()))
    lines.append("")
    lines.append(format_table(results["rows"]))
    lines.append("")
    lines.append("time/step: best of the timed runs (taken round robin, after a warm-up run of each); ratio: "
                 "that implementation's time per step / fastmlp's (above 1: fastmlp is faster); GFLOP/s counts "
                 "2*m*n*k per matrix product "
                 "(forward 1 per Linear, backward 2 except dX of the first layer).")
    first = results["first_call"]
    lines.append(f"fastmlp first call in this process: {first['seconds']:.3f} s ({first['source']}); "
                 f"never included in step times. JAX compile time is in the 'compile' column.")
    blas = results.get("blas")
    if blas:
        fm_row = next((r for r in results["rows"] if r["workload"] == blas["workload"]
                       and r["implementation"] == "fastmlp" and r["status"] == "ok"), None)
        line = (f"BLAS limit ({blas['workload']} shapes, numpy float32 GEMM): {blas['gflops']:.1f} GFLOP/s "
                f"({blas['seconds_per_step'] * 1e3:.2f} ms of products per step, each product's best call; "
                f"all of them back to back: best {blas['sequence_seconds_best'] * 1e3:.2f} ms, median "
                f"{blas['sequence_seconds_median'] * 1e3:.2f} ms)")
        if fm_row:
            line += f"; fastmlp reaches {fm_row['gflops']:.1f} GFLOP/s = {100 * fm_row['gflops'] / blas['gflops']:.0f}%"
        lines.append(line)
    if results.get("targets"):
        lines.append("")
        lines.append("Targets (issue 3), this run:")
        for t in results["targets"]:
            mark = "-" if t["met"] is None else ("met" if t["met"] else "MISSED")
            lines.append(f"  {t['target']:<46} {t['measured']:>10}  {mark}")
    return "\n".join(lines)


def main(argv=None):
    """`fastmlp bench` / `python -m fastmlp.bench`. Returns an exit code."""
    args = build_parser().parse_args(argv)
    try:
        workloads = _split(args.workloads, tuple(WORKLOADS), "workload")
        impls = _split(args.impls, IMPLEMENTATIONS, "implementation")
        if args.repeats is not None and args.repeats < 1:
            raise _UsageError("--repeats must be >= 1.")
    except _UsageError as exc:
        print(f"fastmlp bench: error: {exc}", file=sys.stderr)
        return 2
    results = run(workloads, impls, quick=args.quick, repeats=args.repeats, budget=args.budget)
    _print("")
    _print(report(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=_json_default)
        _print(f"\nwrote {args.json}")
    return 0


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
