"""The workloads every implementation trains: the built-in ones (``WORKLOADS``)
and a user's own architecture and data (``custom_workload``)."""

import os

import numpy as np

from .. import datasets
from ..layers import ACTIVATIONS as LAYER_KINDS
from ..losses import NAMES as LOSSES
from ..model import MLP
from ..tasks import default_loss, infer_task, model_task, score
from ..trainer import shuffle_orders
from ..validation import check_choice, check_dtype, check_float, check_int

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
SEED = 0
# The hidden activations every peer implements.
ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")


def workload_data(kind, n, d=None, k=None, seed=SEED):
    """X (n, d) float64 and integer labels or targets y (n,) of a built-in workload's data:
    "xor", "line", "tabular" (normal features, labels from a random linear map, k classes)
    or "normal" (normal features, random labels)."""
    if kind == "xor":
        X, y = datasets.xor()
        return X, y.ravel()
    if kind == "line":
        X, y = datasets.line(n, seed=seed)
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
        self.model0 = MLP(self.sizes, activation=self.activation, output=self.output, dtype=self.dtype,
                          seed=SEED)
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
        return score(self.task, scores, self.Y if self.task == "regression" else self.labels)


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
