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
    "xor": dict(data="xor", sizes=[2, 8, 1], output="sigmoid", loss="mse", lr=0.5, batch=4, epochs=10_000,
                quick_epochs=500, repeats=5),
    "line": dict(data="line", sizes=[2, 16, 16, 1], output="sigmoid", loss="bce", lr=0.1, batch=32,
                 epochs=50, quick_epochs=5, repeats=5, n=1000),
    "tanh": dict(data="line", sizes=[2, 64, 64, 1], activation="tanh", output="sigmoid", loss="bce", lr=0.1,
                 batch=64, epochs=20, quick_epochs=2, repeats=5, n=1000),
    "deep": dict(data="line", sizes=[2] + [24] * 6 + [1], output="sigmoid", loss="bce", lr=0.1, batch=16,
                 epochs=10, quick_epochs=1, repeats=5, n=1000),
    "tabular": dict(data="tabular", sizes=[16, 256, 256, 8], output="softmax", loss="cross_entropy", lr=0.05,
                    batch=128, epochs=5, quick_epochs=1, repeats=3, n=4096, quick_n=1024),
    "wide": dict(data="normal", sizes=[784, 512, 512, 10], output="softmax", loss="cross_entropy", lr=0.01,
                 batch=256, epochs=2, quick_epochs=1, repeats=3, n=8192, quick_n=1024),
}
# The implementations in the order the tables list them: the strongest peer first.
IMPLEMENTATIONS = ("fastmlp", "jax", "torch", "sklearn", "reference")
LABELS = {
    "fastmlp": "fastmlp",
    "jax": "JAX jit+scan",
    "torch": "PyTorch eager",
    "sklearn": "scikit-learn MLP",
    "reference": "numpy reference",
}
PEERS = IMPLEMENTATIONS[1:]
SEED = 0
# Targets: the least ratio (peer time / fastmlp time per step) against the
# strongest peer, JAX jit+scan, for each workload; and fastmlp's share of
# numpy's GEMM speed on the products of a wide step.
RATIO_TARGETS = [("xor", "jax", 4.0), ("line", "jax", 3.0), ("tanh", "jax", 2.0), ("deep", "jax", 2.0),
                 ("tabular", "jax", 1.5), ("wide", "jax", 1.0)]
BLAS_SHARE_TARGET = 0.85
BUSY_LOAD = 0.7  # 1-minute load average above which the report warns that timings are unreliable
ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")


def workload_data(kind, n, d=None, k=None, seed=SEED):
    """X (n, d) float64 and integer labels or targets y (n,) of a built-in workload's data:
    "xor", "line", "tabular" (normal features, labels from a random linear map, k classes)
    or "normal" (normal features, random labels)."""
    import fastmlp as fm
    if kind == "xor":
        X, y = fm.datasets.xor()
        return X, y.ravel()
    if kind == "line":
        X, y = fm.datasets.line(n, seed=seed)
        return X, y.ravel()
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if kind == "tabular":
        scores = X @ rng.standard_normal((d, k)) + 0.5 * rng.standard_normal((n, k))
        return X, scores.argmax(axis=1).astype(np.float64)
    return X, rng.integers(0, k, size=n).astype(np.float64)


class Workload:
    """One workload's settings and data: a built-in one by name, or a user's own
    (`Workload.custom`). Float32 unless dtype says otherwise."""

    def __init__(self, name, quick=False, spec=None, X=None, y=None, dtype=np.float32):
        import fastmlp as fm

        spec = dict(WORKLOADS[name] if spec is None else spec)
        self.name = name
        self.spec = spec
        self.sizes = list(spec["sizes"])
        self.activation = spec.get("activation", "relu")
        self.output = spec["output"]
        self.loss = spec["loss"]
        self.lr = float(spec["lr"])
        self.batch = int(spec["batch"])
        self.epochs = int(spec["quick_epochs"] if quick else spec["epochs"])
        self.repeats = 1 if quick else int(spec["repeats"])
        self.dtype = np.dtype(dtype).type
        if X is None:
            n = int(spec["quick_n"] if quick and "quick_n" in spec else spec.get("n", 4))
            X, y = workload_data(spec["data"], n, self.sizes[0], self.sizes[-1])
        # The initial weights every implementation starts from.
        self.model0 = fm.MLP(self.sizes, activation=self.activation, output=self.output, dtype=self.dtype,
                             seed=SEED)
        from fastmlp.tasks import model_task
        self.task = spec.get("task") or model_task(self.model0, y)
        y = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
        if self.task == "multiclass":
            labels = y[:, 0].astype(np.int64)
            Y = np.zeros((len(X), self.sizes[-1]))
            Y[np.arange(len(X)), labels] = 1.0
        else:
            labels = y[:, 0].astype(np.int64) if self.task == "binary" else None
            Y = y
        self.X = np.ascontiguousarray(X, dtype=self.dtype)
        self.Y = np.ascontiguousarray(Y, dtype=self.dtype)
        self.labels = labels
        self.n = self.X.shape[0]
        self.batch = min(self.batch, self.n)
        self.steps_per_epoch = -(-self.n // self.batch)
        self.shuffle = self.batch < self.n
        self.weights = [(layer.weight.copy(), layer.bias.copy())
                        for layer in self.model0.layers if layer.name == "Linear"]
        self._orders = {}

    @classmethod
    def custom(cls, X, y, sizes, activation, output, loss, lr, batch, epochs, dtype, task, name="custom"):
        """A user's own architecture and data (fastmlp bench --layers ...)."""
        spec = dict(data=None, sizes=sizes, activation=activation, output=output, loss=loss, lr=lr, batch=batch,
                    epochs=epochs, quick_epochs=max(1, epochs // 10), repeats=3, task=task)
        return cls(name, spec=spec, X=X, y=y, dtype=dtype)

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
        return (f"{self.name}: {arch}, {self.activation} hidden, {self.output} out, {self.loss}, n={self.n}, "
                f"batch {self.batch}, lr {self.lr:g}, {self.epochs} epochs "
                f"({self.epochs * self.steps_per_epoch} steps), {np.dtype(self.dtype).name} SGD")

    def accuracy(self, scores):
        """Training accuracy of output probabilities scores (n, k), or R^2 for a regression."""
        from fastmlp.tasks import score
        return score(self.task, scores, self.Y if self.task == "regression" else self.labels)


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
        self.net = self.Net.from_model(self.wl.model0, dtype=self.wl.dtype)

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
        self.torch_dtype = self.Xt.dtype
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
        hidden = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": nn.Identity}[wl.activation]
        layers = []
        for i, (W, b) in enumerate(wl.weights):
            lin = nn.Linear(W.shape[0], W.shape[1], dtype=self.torch_dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < len(wl.weights) - 1:
                layers.append(hidden())
        # bce and cross-entropy take logits (the fused, stable form, like fastmlp's);
        # mse needs the probabilities.
        self.logit_output = wl.loss in ("bce", "cross_entropy")
        if not self.logit_output and wl.output != "identity":
            layers.append({"sigmoid": nn.Sigmoid, "softmax": lambda: nn.Softmax(dim=1), "tanh": nn.Tanh,
                           "relu": nn.ReLU}[wl.output]())
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
        if wl.dtype == np.float64:
            jax.config.update("jax_enable_x64", True)  # else JAX computes float64 input in float32
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
        # jax.nn.relu's derivative at 0 is 0, as fastmlp's (jnp.maximum's would be 0.5).
        hidden = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid,
                  "identity": lambda v: v}[wl.activation]

        def logits(params, x):
            for i, (W, b) in enumerate(params):
                x = x @ W + b
                if i < len(params) - 1:
                    x = hidden(x)
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
                p = {"sigmoid": jax.nn.sigmoid, "softmax": lambda v: jax.nn.softmax(v, axis=1), "tanh": jnp.tanh,
                     "relu": jax.nn.relu, "identity": lambda v: v}[output](z)
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
            return np.zeros((steps, 1), np.int32), np.zeros((steps, 1), wl.dtype)
        orders = wl.orders(epochs)
        idx = np.zeros((steps, b), np.int32)
        wts = np.zeros((steps, b), wl.dtype)
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
            from sklearn.neural_network import MLPClassifier, MLPRegressor
        except ImportError as exc:
            raise Skipped("not installed") from exc
        wl = self.wl
        self.regression = wl.task == "regression"
        self.estimator = MLPRegressor if self.regression else MLPClassifier
        notes = []
        if not self.regression and wl.loss == "mse":
            notes.append("loss is sklearn's log-loss (its sigmoid+log-loss output is fixed), not mse")
        if self.regression and wl.output != "identity":
            notes.append("identity output (sklearn's regressor has no other)")
        if wl.shuffle:
            notes.append("own shuffle order")
        self.note = "; ".join(notes)
        self.y = (wl.Y[:, 0] if wl.Y.shape[1] == 1 else wl.Y) if self.regression else wl.labels
        self.clf = None

    def reset(self):
        # Weights are set in run(): scikit-learn allocates them on the first fit.
        pass

    def _estimator(self, epochs):
        wl = self.wl
        return self.estimator(
            hidden_layer_sizes=tuple(wl.sizes[1:-1]), activation={"sigmoid": "logistic"}.get(wl.activation,
                                                                                          wl.activation),
            solver="sgd", learning_rate="constant", learning_rate_init=wl.lr, batch_size=wl.batch, momentum=0.0,
            nesterovs_momentum=False, alpha=0.0, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 10,
            shuffle=wl.shuffle, random_state=SEED, early_stopping=False, warm_start=True)

    def run(self, epochs):
        wl = self.wl
        from sklearn.exceptions import ConvergenceWarning
        clf = self._estimator(epochs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # One partial_fit on a batch allocates the network (and the label
            # binarizer); then the weights are replaced by the shared initial
            # ones and fit (warm_start keeps them, with a fresh optimizer)
            # trains `epochs` epochs. Only that fit is timed.
            extra = {} if self.regression else {"classes": np.unique(self.y)}
            clf.partial_fit(wl.X[:wl.batch], self.y[:wl.batch], **extra)
            clf.coefs_ = [W.copy() for W, _ in wl.weights]
            clf.intercepts_ = [b.copy() for _, b in wl.weights]
            clf.loss_curve_ = []
            clf.best_loss_ = np.inf
            clf._no_improvement_count = 0
            clf.t_ = 0
            t0 = time.perf_counter()
            clf.fit(wl.X, self.y)
            seconds = time.perf_counter() - t0
        self.clf = clf
        return seconds, clf.n_iter_ * wl.steps_per_epoch, np.asarray(clf.loss_curve_, dtype=np.float64)

    def scores(self):
        if self.regression:
            return self.clf.predict(self.wl.X).reshape(self.wl.n, -1)
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


def first_call_seconds(dtype=np.float32):
    """Time of the first fastmlp training and predict calls in this process:
    numba compiles the engine for dtype or loads it from its on-disk cache."""
    import fastmlp as fm
    from fastmlp import kernels as K

    X, y = fm.datasets.xor()
    model = fm.MLP([2, 8, 1], output="sigmoid", dtype=dtype, seed=SEED)
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
    """GEMM GFLOP/s of numpy, in wl's dtype, for the products of one training step of
    workload wl (same shapes and transposes). The products are timed round
    robin for about `seconds` and each keeps its best time, so a burst of load
    from other processes does not spoil one product's figure. That sum of best
    calls is a best case no whole step reaches, so the best and median time of
    a whole round (every product once, in the step's order) are kept too."""
    rng = np.random.default_rng(1)
    cases = []
    for m, k, n, ta, tb in wl.gemm_shapes():
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(wl.dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(wl.dtype)
        a = a.T if ta else a
        b = b.T if tb else b
        out = np.empty((m, n), dtype=wl.dtype)
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
    info["simd"] = cpu_simd()
    info["blas"] = blas_libraries()
    info["blas_warning"] = blas_warning(info["blas"], info["simd"])
    return info


def cpu_simd():
    """The widest x86 vector extension the CPU reports ("AVX-512", "AVX2", "AVX",
    "SSE"), or None where /proc/cpuinfo does not say."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX")):
                        if flag in flags:
                            return name
                    return "SSE"
    except OSError:
        pass
    return None


# OpenBLAS kernel families that use AVX-512 (its `architecture` names).
OPENBLAS_AVX512 = ("skylakex", "cooperlake", "sapphirerapids")


def blas_libraries():
    """The BLAS libraries numpy and scipy have loaded (threadpoolctl): which
    library, version, kernel architecture, threads and file, and whose it is.
    numba's compiled matrix products call scipy's."""
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, the one numba calls)
    from threadpoolctl import threadpool_info
    out = []
    for pool in threadpool_info():
        if pool.get("user_api") != "blas":
            continue
        path = pool.get("filepath") or ""
        # Wheels keep their bundled libraries in <package>.libs (numpy's is also named scipy_openblas).
        folder = os.path.basename(os.path.dirname(path))
        owner = next((pkg for pkg in ("numpy", "scipy") if folder.startswith(pkg)), folder or "other")
        out.append({"owner": owner, "library": pool.get("internal_api"), "version": pool.get("version"),
                    "architecture": pool.get("architecture"), "threads": pool.get("num_threads"),
                    "threading_layer": pool.get("threading_layer"), "filepath": path})
    return out


def blas_warning(blas, simd, environ=None):
    """A warning when OPENBLAS_CORETYPE makes OpenBLAS run older kernels than
    the CPU supports (AVX2 kernels on an AVX-512 CPU), else None."""
    environ = os.environ if environ is None else environ
    forced = environ.get("OPENBLAS_CORETYPE")
    if not forced:
        return None
    archs = {b["architecture"] for b in blas if b["library"] == "openblas" and b["architecture"]}
    if simd == "AVX-512" and archs and not any(a.lower() in OPENBLAS_AVX512 for a in archs):
        return (f"OPENBLAS_CORETYPE={forced} is set: OpenBLAS runs its {', '.join(sorted(archs))} kernels "
                f"(AVX2) on a CPU with AVX-512, and matrix products run slower than this CPU allows. "
                f"To let BLAS use the CPU in full, unset it in the benchmark's command: "
                f"env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE fastmlp bench")
    return (f"OPENBLAS_CORETYPE={forced} is set: OpenBLAS runs the kernels it names "
            f"({', '.join(sorted(archs)) or 'unknown'}) whatever the CPU supports.")


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
              "final loss", "acc / R^2", "ratio", "compile", "steps timed"]
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
                               "(JAX, PyTorch, scikit-learn, the numpy reference) in one process and compare. "
                               "With --layers, --data or --dataset (and the options beside them), time your "
                               "own architecture and data instead.",
        epilog="examples:\n  fastmlp bench --workloads xor,tanh --quick\n"
               "  fastmlp bench --layers 2,64,64,1 --activation tanh --batch-size 64 --epochs 20 --dataset line\n"
               "  fastmlp bench --data houses.csv --target price --layers 8,32,32,1 --plot bench.png",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=None,
                   help="comma-separated subset of: " + ",".join(WORKLOADS) + " (default: all)")
    p.add_argument("--impls", default=",".join(IMPLEMENTATIONS),
                   help="comma-separated subset of: " + ",".join(IMPLEMENTATIONS) + " (fastmlp always runs)")
    p.add_argument("--quick", action="store_true", help="smoke run: few epochs, one repeat, small data")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed runs per implementation, best kept (default: 5 for the small workloads, "
                        "3 for tabular, wide and your own)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds a timed run of a Python-loop implementation may take before it is timed on "
                        "fewer epochs (default 5, --quick 1)")
    p.add_argument("--json", metavar="FILE", help="also write all results to FILE as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the comparison (needs the 'plot' extra)")
    own = p.add_argument_group("your own workload")
    own.add_argument("--layers", metavar="D,W,...,K", help="all widths, e.g. 2,64,64,1 (default: D,16,16,K)")
    own.add_argument("--activation", help="hidden activation: " + ", ".join(ACTIVATIONS) + " (default: relu)")
    own.add_argument("--output", help="output activation (default: from the target, as fastmlp train does)")
    own.add_argument("--loss", help="loss (default: from the output, as fastmlp train does)")
    own.add_argument("--lr", type=float, help="SGD learning rate (default: 0.1)")
    own.add_argument("--batch-size", type=int, help="samples per step (default: 32)")
    own.add_argument("--epochs", type=int, help="epochs per timed run (default: 10)")
    src = own.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="FILE", help="a .csv with a header row, or a .npy / .npz table")
    src.add_argument("--dataset", help="a built-in dataset: xor, line, celsius (default: line)")
    own.add_argument("--target", metavar="COLUMN", help="target column of --data (default: the last)")
    own.add_argument("--dtype", help="float32 (default) or float64")
    return p


class _UsageError(Exception):
    """A bad option value: main() prints it and returns 2, as argparse does."""


def _split(value, allowed, what):
    items = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        raise _UsageError(f"unknown {what} {', '.join(bad) or repr(value)}; choose from {', '.join(allowed)}.")
    return items


OWN_OPTIONS = ("layers", "activation", "output", "loss", "lr", "batch_size", "epochs", "data", "dataset",
               "target", "dtype")


def custom_workload(layers=None, activation="relu", output=None, loss=None, lr=0.1, batch_size=32, epochs=10,
                    data=None, target=None, dataset=None, dtype="float32"):
    """A Workload of the caller's architecture and data: a data file (data,
    target) or a built-in dataset (default "line"). The output activation
    and loss follow the target as in `fastmlp train`. Every argument is
    checked before anything is built; bad ones raise ValueError/TypeError.

    >>> wl = custom_workload([2, 64, 64, 1], activation="tanh", batch_size=64, epochs=20)
    >>> wl.describe()
    'custom: 2-64-64-1, tanh hidden, sigmoid out, bce, n=1000, batch 64, lr 0.1, 20 epochs (320 steps), float32 SGD'
    """
    from fastmlp import datasets
    from fastmlp.layers import ACTIVATIONS as LAYER_KINDS
    from fastmlp.losses import NAMES as LOSSES
    from fastmlp.tasks import default_loss, infer_task
    from fastmlp.validation import check_choice, check_dtype, check_float, check_int

    activation = check_choice(activation, "activation", ACTIVATIONS)
    # The peers implement these; none has fastmlp's Exp output and Poisson loss.
    if output is not None:
        output = check_choice(output, "output", tuple(k for k in LAYER_KINDS if k != "exp"))
    if loss is not None:
        loss = check_choice(loss, "loss", tuple(k for k in LOSSES if k != "poisson"))
    lr = check_float(lr, "lr", low=0.0)
    batch_size = check_int(batch_size, "batch_size", low=1)
    epochs = check_int(epochs, "epochs", low=1)
    dtype = check_dtype(dtype)
    if data is not None and dataset is not None:
        raise ValueError("Give either 'data' (a file) or 'dataset' (a built-in dataset), not both.")
    if target is not None and data is None:
        raise ValueError("The 'target' parameter applies to a data file ('data') only.")
    if data is not None:
        X, y, _ = datasets.load(data, target)
        name = os.path.splitext(os.path.basename(os.fspath(data)))[0]
    else:
        name = check_choice("line" if dataset is None else dataset, "dataset", datasets.NAMES)
        X, y = datasets.get(name)
    task, n_out, output = infer_task(y, output, "the target")
    loss = loss or default_loss(output, y)
    d = X.shape[1]
    if layers is None:
        layers = [d, 16, 16, n_out]
    if isinstance(layers, str) or not hasattr(layers, "__len__"):
        raise TypeError(f"The 'layers' parameter must be a list of widths, e.g. [{d}, 16, {n_out}]. "
                        f"Got {layers!r}.")
    layers = [check_int(w, "layers", low=1) for w in layers]
    if len(layers) < 2:
        raise ValueError(f"The 'layers' parameter needs the input and output widths at least, e.g. "
                         f"[{d}, 16, {n_out}]. Got {layers}.")
    if layers[0] != d or layers[-1] != n_out:
        raise ValueError(f"The 'layers' parameter must start with the data's {d} features and end with the "
                         f"target's {n_out} outputs ({task}), e.g. [{d}, 16, {n_out}]. Got {layers}.")
    return Workload.custom(X, y, layers, activation, output, loss, lr, batch_size, epochs, dtype, task,
                           name="custom")


def run(workloads=None, impls=IMPLEMENTATIONS, quick=False, repeats=None, budget=None, echo=_print,
        custom=None):
    """Run the comparison on the named workloads (default: all), or on the
    Workload `custom` alone; returns the JSON-able results dict."""
    if budget is None:
        budget = 1.0 if quick else 5.0
    impls = ["fastmlp"] + [i for i in IMPLEMENTATIONS if i in impls and i != "fastmlp"]
    if custom is not None:
        workloads = [custom]
    elif workloads is None:
        workloads = tuple(WORKLOADS)
    dtype = custom.dtype if custom is not None else np.float32
    results = {"quick": bool(quick), "budget_seconds": budget, "rows": [], "blas": None, "first_call": None,
               "load_average_start": _load()}
    machine = machine_info()
    if machine.get("blas_warning"):
        echo(f"WARNING: {machine['blas_warning']}")
    first = first_call_seconds(dtype)
    results["first_call"] = first
    echo(f"fastmlp first call ({np.dtype(dtype).name} train + predict): {first['seconds']:.3f} s, "
         f"{first['source']} - not included in any step time")
    imports = {}
    for wname in workloads:
        wl = wname if isinstance(wname, Workload) else Workload(wname, quick=quick)
        wname = wl.name
        echo(f"\n{wl.describe()}")
        reps = wl.repeats if repeats is None else max(1, int(repeats))
        if wname in ("wide", "custom"):
            # Measured right before the implementations warm up and run, so all see the same machine.
            results["blas"] = blas_limit(wl)
            echo(f"  BLAS limit: numpy {np.dtype(wl.dtype).name} GEMM on this step's products: "
                 f"{results['blas']['gflops']:.1f} GFLOP/s")
        # Every implementation is prepared and warmed up, then the timed runs go
        # round robin (one run of each, `reps` times): a machine whose speed
        # drifts for seconds at a time (as shared VMs do) then slows all of
        # them alike instead of whichever ran while it was slow.
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
                     f"loss {row['final_loss']:.4g}  {'R^2' if wl.task == 'regression' else 'acc'} "
                     f"{row['accuracy']:.3f}"
                     + (f"  ratio {_ratio(row['ratio'])}" if name != "fastmlp" and row["ratio"] else "")
                     + (f"  compile {row['compile_seconds']:.2f} s" if row["compile_seconds"] else "")
                     + (f"  ({row['note']})" if row["note"] else ""))
            else:
                echo(f"  {row['label']:<18} {row['status']}")
            results["rows"].append(row)
    results["summary"] = summarize(results["rows"])
    results["targets"] = check_targets(results)
    results["machine"] = machine
    results["load_average_end"] = _load()
    results["import_seconds"] = imports
    return results


def summarize(rows):
    """Per workload: fastmlp's time per step, each peer's ratio (peer time /
    fastmlp time) and the fastest peer that ran."""
    out = []
    for wname in dict.fromkeys(r["workload"] for r in rows):
        ok = {r["implementation"]: r for r in rows if r["workload"] == wname and r["status"] == "ok"}
        if "fastmlp" not in ok:
            continue
        peers = [(ok[p]["seconds_per_step"], p) for p in PEERS if p in ok]
        fastest = min(peers)[1] if peers else None
        out.append({"workload": wname, "fastmlp_seconds_per_step": ok["fastmlp"]["seconds_per_step"],
                    "ratios": {p: ok[p]["ratio"] for p in PEERS if p in ok}, "fastest_peer": fastest,
                    "ratio_to_fastest": ok[fastest]["ratio"] if fastest else None})
    return out


def check_targets(results):
    """The targets against this run: a list of {target, measured, met}."""
    rows = {(r["workload"], r["implementation"]): r for r in results["rows"] if r["status"] == "ok"}
    out = []
    for wname, peer, need in RATIO_TARGETS:
        if (wname, "fastmlp") not in rows:
            continue
        r = rows.get((wname, peer))
        got = r["ratio"] if r else None
        out.append({"target": f"{wname}: >= {need:g}x {LABELS[peer]}", "measured":
                    _ratio(got) if got is not None else "not run", "met": None if got is None else got >= need})
    blas, r = results.get("blas"), rows.get(("wide", "fastmlp"))
    if blas and r and blas["workload"] == "wide":
        share = r["gflops"] / blas["gflops"]
        out.append({"target": f"wide: >= {BLAS_SHARE_TARGET:.0%} of numpy's GEMM GFLOP/s",
                    "measured": f"{share:.0%}", "met": share >= BLAS_SHARE_TARGET})
    return out


def format_summary(summary):
    """The comparison in one table: a row per workload, a column per peer."""
    header = ["workload", "fastmlp/step"] + [LABELS[p] for p in PEERS] + ["fastest peer"]
    lines = []
    for s in summary:
        fastest = s["fastest_peer"]
        lines.append([s["workload"], _time(s["fastmlp_seconds_per_step"])]
                     + [_ratio(s["ratios"].get(p)) for p in PEERS]
                     + [f"{LABELS[fastest]} ({_ratio(s['ratio_to_fastest'])})" if fastest else "-"])
    widths = [max(len(h), *(len(str(l[i])) for l in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)), "-+-".join("-" * w for w in widths)]
    out += [" | ".join(str(c).ljust(w) for c, w in zip(l, widths)) for l in lines]
    return "\n".join(out)


def describe_blas(machine):
    """One line: the CPU's vector extension and the BLAS kernels numpy and scipy run."""
    parts = []
    for b in machine.get("blas", []):
        arch = f"{b['architecture']} kernels, " if b.get("architecture") else ""
        parts.append(f"{b['owner']}: {b['library']} {b['version']} ({arch}{b['threads']} threads)")
    return (f"CPU vector extension: {machine.get('simd') or 'unknown'}; BLAS: "
            + ("; ".join(parts) if parts else "none found")
            + ("; OPENBLAS_CORETYPE=" + os.environ["OPENBLAS_CORETYPE"] if os.environ.get("OPENBLAS_CORETYPE")
               else ""))


def report(results):
    """The summary printed after a run."""
    lines = []
    m = results["machine"]
    v = m["versions"]
    start, end = results.get("load_average_start"), results.get("load_average_end")
    fmt = lambda load: ", ".join(f"{x:.2f}" for x in load) if load else "n/a"  # noqa: E731
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); "
                 f"load average before the run {fmt(start)}, after {fmt(end)}")
    if start and start[0] > BUSY_LOAD:
        lines.append(f"WARNING: the machine was busy before the run (1-minute load {start[0]:.2f}): other "
                     f"processes compete for the cores and the timings are not reliable.")
    lines.append(describe_blas(m))
    if m.get("blas_warning"):
        lines.append(f"WARNING: {m['blas_warning']}")
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
        line = (f"BLAS limit ({blas['workload']} shapes, numpy GEMM): {blas['gflops']:.1f} GFLOP/s "
                f"({blas['seconds_per_step'] * 1e3:.3g} ms of products per step, each product's best call; "
                f"all of them back to back: best {blas['sequence_seconds_best'] * 1e3:.3g} ms, median "
                f"{blas['sequence_seconds_median'] * 1e3:.3g} ms)")
        if fm_row:
            line += f"; fastmlp reaches {fm_row['gflops']:.1f} GFLOP/s = {100 * fm_row['gflops'] / blas['gflops']:.0f}%"
        lines.append(line)
    if results.get("summary"):
        lines.append("")
        lines.append("Peer time per step / fastmlp's (above 1: fastmlp is faster):")
        lines.append(format_summary(results["summary"]))
    if results.get("targets"):
        lines.append("")
        lines.append("Targets, this run:")
        for t in results["targets"]:
            mark = "-" if t["met"] is None else ("met" if t["met"] else "MISSED")
            lines.append(f"  {t['target']:<46} {t['measured']:>10}  {mark}")
    return "\n".join(lines)


def plot_results(results, path):
    """One chart of the run: time per step of every implementation on every
    workload (log scale), fastmlp highlighted, and on each group the ratio of
    the fastest peer's time to fastmlp's. Needs matplotlib (the 'plot' extra)."""
    from fastmlp.plot import figure_class
    Figure = figure_class()
    groups = [s["workload"] for s in results["summary"]]
    rows = {(r["workload"], r["implementation"]): r for r in results["rows"] if r["status"] == "ok"}
    impls = [i for i in IMPLEMENTATIONS if any((g, i) in rows for g in groups)]
    fig = Figure(figsize=(max(7.0, 0.35 * len(groups) * max(1, len(impls)) + 2.0), 5.0))
    ax = fig.add_subplot(111)
    width = 0.8 / max(1, len(impls))
    peer_colors = ["#4c72b0", "#8172b2", "#64b5cd", "#999999", "#c4ad66"]
    for q, impl in enumerate(impls):
        xs = [g + (q - (len(impls) - 1) / 2) * width for g in range(len(groups))]
        ys = [rows[(w, impl)]["seconds_per_step"] if (w, impl) in rows else np.nan for w in groups]
        ax.bar(xs, ys, width * 0.95, label=LABELS[impl],
               color="#d62728" if impl == "fastmlp" else peer_colors[(q - 1) % len(peer_colors)],
               edgecolor="black" if impl == "fastmlp" else "none", zorder=3)
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel("time per training step (s, log scale)")
    ax.grid(axis="y", which="both", alpha=0.3, zorder=0)
    top = max((r["seconds_per_step"] for r in rows.values()), default=1.0)
    ax.set_ylim(top=top * 30)
    for g, s in enumerate(results["summary"]):
        if s["fastest_peer"]:
            ax.annotate(f"{_ratio(s['ratio_to_fastest'])} vs\n{LABELS[s['fastest_peer']]}", (g, top * 2.0),
                        ha="center", va="bottom", fontsize=8)
    ax.legend(fontsize=8, loc="upper right", ncol=min(3, len(impls)), framealpha=0.9)
    ax.set_title("fastmlp bench: time per training step, lower is better\n"
                 "(the ratio over each group: the fastest peer's time / fastmlp's)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def main(argv=None):
    """`fastmlp bench` / `python -m fastmlp.bench`. Returns an exit code."""
    args = build_parser().parse_args(argv)
    custom = None
    try:
        own = {k: getattr(args, k) for k in OWN_OPTIONS if getattr(args, k) is not None}
        if own and args.workloads is not None:
            raise _UsageError("--workloads names the built-in workloads; with --layers, --data or the other "
                              "options of your own workload, leave it out.")
        workloads = _split(args.workloads or ",".join(WORKLOADS), tuple(WORKLOADS), "workload")
        impls = _split(args.impls, IMPLEMENTATIONS, "implementation")
        if args.repeats is not None and args.repeats < 1:
            raise _UsageError("--repeats must be >= 1.")
        if args.plot:
            _plot_path(args.plot)
        if own:
            if "layers" in own:
                try:
                    own["layers"] = [int(w) for w in own["layers"].split(",")]
                except ValueError:
                    raise _UsageError(f"--layers takes comma-separated widths like 2,64,64,1; "
                                      f"got {args.layers!r}.") from None
            if "batch_size" in own:
                own["batch_size"] = own.pop("batch_size")
            custom = custom_workload(**own)
            if args.quick:
                custom.epochs = custom.spec["quick_epochs"]
                custom.repeats = 1
    except _UsageError as exc:
        print(f"fastmlp bench: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as exc:
        print(f"fastmlp bench: error: {exc}", file=sys.stderr)
        return 2
    results = run(workloads, impls, quick=args.quick, repeats=args.repeats, budget=args.budget, custom=custom)
    _print("")
    _print(report(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=_json_default)
        _print(f"\nwrote {args.json}")
    if args.plot:
        plot_results(results, args.plot)
        _print(f"wrote {args.plot}")
    return 0


def _plot_path(path):
    """Refuse a --plot path that cannot be written, before anything runs."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise _UsageError("--plot needs matplotlib: pip install 'fastmlp[plot]'.") from None
    if os.path.isdir(path):
        raise _UsageError(f"--plot {path} is a directory; expected an image file name like bench.png.")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise _UsageError(f"--plot {path}: the directory {directory} does not exist.")


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
