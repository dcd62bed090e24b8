"""A plain-numpy, layer-by-layer MLP: the oracle the tests hold the kernels to,
and the "numpy reference" peer of the benchmarks.

Written independently of ``fastmlp.kernels``: vectorised numpy, one small
function per operation, no shared code with the compiled path.

>>> import numpy as np, fastmlp as fm
>>> net = fm.reference.Net.from_model(fm.MLP([2, 3, 1], seed=0))
>>> net.forward(np.zeros((4, 2)))[-1].shape
(4, 1)
"""

import numpy as np


def _sigmoid(z):
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACT = {
    "relu": (lambda z: np.maximum(z, 0.0), lambda out, g: g * (out > 0)),
    "sigmoid": (_sigmoid, lambda out, g: g * out * (1.0 - out)),
    "tanh": (np.tanh, lambda out, g: g * (1.0 - out * out)),
    "identity": (lambda z: z.copy(), lambda out, g: g.copy()),
    "softmax": (_softmax, lambda out, g: out * (g - (g * out).sum(axis=1, keepdims=True))),
}


def loss_value(name, out, y, logits=None):
    """Loss of outputs `out` against y; for bce/cross_entropy after a
    Sigmoid/Softmax pass the logits so the value is computed stably."""
    n = out.shape[0]
    if name == "mse":
        return float(np.mean((out - y) ** 2))
    if name == "half_mse":
        return float(np.mean((out - y) ** 2) / 2)
    if name == "bce":
        if logits is not None:
            z = logits
            return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
        p = np.clip(out, 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    if name == "cross_entropy":
        if logits is not None:
            m = logits.max(axis=1, keepdims=True)
            lse = m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
            return float(np.sum(y * (lse - logits)) / n)
        return float(-np.sum(y * np.log(np.maximum(out, 1e-15))) / n)
    raise ValueError(f"unknown loss {name!r}")


def loss_grad(name, out, y):
    """d loss / d out."""
    n = out.shape[0]
    if name == "mse":
        return 2.0 * (out - y) / out.size
    if name == "half_mse":
        return (out - y) / out.size
    if name == "bce":
        p = np.clip(out, 1e-15, 1 - 1e-15)
        return (p - y) / (p * (1 - p)) / out.size
    if name == "cross_entropy":
        return -y / np.maximum(out, 1e-15) / n
    raise ValueError(f"unknown loss {name!r}")


class Net:
    """layers: a list of ("linear", W, b-or-None) or (activation name,) tuples."""

    def __init__(self, layers, dtype=np.float64):
        self.dtype = dtype
        self.layers = []
        for layer in layers:
            if layer[0] == "linear":
                W = np.array(layer[1], dtype=dtype)
                b = None if layer[2] is None else np.array(layer[2], dtype=dtype)
                self.layers.append(["linear", W, b])
            else:
                self.layers.append([layer[0]])

    @classmethod
    def from_model(cls, model, dtype=np.float64):
        """A copy of a fastmlp Model's architecture and current weights."""
        layers = []
        for layer in model.layers:
            if layer.name == "Linear":
                layers.append(("linear", layer.weight, layer.bias))
            else:
                layers.append((layer.name.lower(),))
        return cls(layers, dtype=dtype)

    def weights(self):
        """Flat list of parameter arrays in model order (W, then b, per Linear)."""
        out = []
        for layer in self.layers:
            if layer[0] == "linear":
                out.append(layer[1])
                if layer[2] is not None:
                    out.append(layer[2])
        return out

    def flat(self):
        return np.concatenate([w.ravel() for w in self.weights()])

    def forward(self, X):
        """All intermediate outputs: acts[0] = X, acts[i + 1] = layer i's output."""
        acts = [np.asarray(X, dtype=self.dtype)]
        for layer in self.layers:
            x = acts[-1]
            if layer[0] == "linear":
                z = x @ layer[1]
                if layer[2] is not None:
                    z = z + layer[2]
                acts.append(z)
            else:
                acts.append(ACT[layer[0]][0](x))
        return acts

    def _fused(self, loss):
        last = self.layers[-1][0]
        return (loss == "bce" and last == "sigmoid") or (loss == "cross_entropy" and last == "softmax")

    def loss(self, X, y, loss):
        acts = self.forward(X)
        logits = acts[-2] if self._fused(loss) else None
        return loss_value(loss, acts[-1], y, logits)

    def gradients(self, X, y, loss):
        """(loss value, list of gradients aligned with weights())."""
        acts = self.forward(X)
        out = acts[-1]
        n = out.shape[0]
        start = len(self.layers) - 1
        if self._fused(loss):
            value = loss_value(loss, out, y, acts[-2])
            g = (out - y) / (out.size if loss == "bce" else n)
            start -= 1
        else:
            value = loss_value(loss, out, y)
            g = loss_grad(loss, out, y)
        grads = {}
        for i in range(start, -1, -1):
            layer = self.layers[i]
            if layer[0] == "linear":
                grads[i] = (acts[i].T @ g, None if layer[2] is None else g.sum(axis=0))
                g = g @ layer[1].T
            else:
                g = ACT[layer[0]][1](acts[i + 1], g)
        flat = []
        for i, layer in enumerate(self.layers):
            if layer[0] == "linear":
                gw, gb = grads[i]
                flat.append(gw)
                if gb is not None:
                    flat.append(gb)
        return value, flat

    def sgd_step(self, X, y, loss, lr):
        value, grads = self.gradients(X, y, loss)
        for w, g in zip(self.weights(), grads):
            w -= lr * g
        return value

    def train(self, X, y, loss, lr, batch_size, epochs, orders=None):
        """Plain minibatch SGD; orders (epochs, n) gives each epoch's sample
        order (default: no shuffling). Returns the per-epoch mean losses."""
        X = np.asarray(X, dtype=self.dtype)
        y = np.asarray(y, dtype=self.dtype)
        n = X.shape[0]
        history = np.empty(epochs)
        for e in range(epochs):
            order = np.arange(n) if orders is None else orders[e]
            total = 0.0
            for s in range(0, n, batch_size):
                idx = order[s:s + batch_size]
                total += self.sgd_step(X[idx], y[idx], loss, lr) * len(idx)
            history[e] = total / n
        return history

    def predict(self, X):
        return self.forward(X)[-1]
