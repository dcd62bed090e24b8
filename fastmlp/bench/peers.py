"""The implementations a workload is trained with: fastmlp itself and its
peers (JAX, PyTorch, scikit-learn, the numpy reference).

Each has: prepare() (imports, builds), reset() (initial weights),
run(epochs) -> (seconds, steps, epoch losses), scores() -> (n, k)
probabilities. compile_seconds is set when it has a separate compile.
torch, jax and scikit-learn are imported only in prepare(), never when
this module is imported."""

import importlib
import time
import warnings

import numpy as np

from ..reference import Net
from ..trainer import Trainer
from .workloads import SEED


class Skipped(Exception):
    """A peer that cannot run here (not installed)."""


def _require(module):
    """Import the module a peer needs, or skip the peer where it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Skipped("not installed") from exc


class Peer:
    """What every implementation keeps: its workload, compile time and a note.

    name: its key in --impls; label: its name in the tables; module: what
    prepare() imports (None: nothing beyond fastmlp); python_loop: its steps
    are a Python loop, timed on fewer epochs when a full run exceeds the budget."""

    name = label = None
    module = None
    python_loop = True

    def __init__(self, wl):
        self.wl = wl
        self.compile_seconds = None
        self.note = ""

    def prepare(self):
        self.reset()

    def scores(self):
        return self.model.predict(self.wl.X)


class FastMLP(Peer):
    name, label = "fastmlp", "fastmlp"
    python_loop = False
    engine = "auto"  # the Trainer's engine option (fastmlp bench --engine)

    def reset(self):
        self.model = self.wl.model0.copy()

    def run(self, epochs):
        wl = self.wl
        trainer = Trainer(self.model, loss=wl.loss, lr=wl.lr, batch_size=wl.batch, epochs=epochs,
                          shuffle=True, seed=SEED, engine=self.engine)
        h = trainer.fit(wl.X, wl.Y)
        self.note = f"{h.engine} engine"
        return h.seconds, h.steps, np.asarray(h.loss)


class Reference(Peer):
    name, label = "reference", "numpy reference"

    def reset(self):
        self.model = Net.from_model(self.wl.model0, dtype=self.wl.dtype)

    def run(self, epochs):
        wl = self.wl
        t0 = time.perf_counter()
        losses = self.model.train(wl.X, wl.Y, wl.loss, wl.lr, wl.batch, epochs, orders=wl.orders(epochs))
        return time.perf_counter() - t0, epochs * wl.steps_per_epoch, np.asarray(losses)


class Torch(Peer):
    name, label = "torch", "PyTorch eager"
    module = "torch"

    def prepare(self):
        torch = self.torch = _require(self.module)
        torch.set_num_threads(2)
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
    name, label = "jax", "JAX jit+scan"
    module = "jax"
    python_loop = False

    def __init__(self, wl):
        super().__init__(wl)
        self._compiled = {}

    def prepare(self):
        jax = self.jax = _require(self.module)
        jnp = self.jnp = _require("jax.numpy")
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
    name, label = "sklearn", "scikit-learn MLP"
    module = "sklearn.neural_network"

    def prepare(self):
        neural_network = _require(self.module)
        wl = self.wl
        self.regression = wl.task == "regression"
        self.estimator = neural_network.MLPRegressor if self.regression else neural_network.MLPClassifier
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
        # Plain SGD for exactly max_iter epochs: a fit of `epochs` epochs has at
        # most that many without improvement, so n_iter_no_change above it
        # never stops the fit early, whatever the loss does.
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
            before = len(clf.loss_curve_)  # the partial_fit's epoch, which fit appends to
            t0 = time.perf_counter()
            clf.fit(wl.X, self.y)
            seconds = time.perf_counter() - t0
        self.clf = clf
        losses = np.asarray(clf.loss_curve_[before:], dtype=np.float64)
        return seconds, len(losses) * wl.steps_per_epoch, losses

    def scores(self):
        if self.regression:
            return self.clf.predict(self.wl.X).reshape(self.wl.n, -1)
        proba = self.clf.predict_proba(self.wl.X)
        if proba.shape[1] == 2 and self.wl.sizes[-1] == 1:
            return proba[:, 1:]
        return proba


# The implementations in the order the tables list them: the strongest peer first.
CLASSES = {cls.name: cls for cls in (FastMLP, Jax, Torch, Sklearn, Reference)}
IMPLEMENTATIONS = tuple(CLASSES)
LABELS = {name: cls.label for name, cls in CLASSES.items()}
PEERS = IMPLEMENTATIONS[1:]
