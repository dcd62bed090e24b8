"""A plain-numpy, layer-by-layer MLP: the oracle the tests hold the kernels to,
and the "numpy reference" peer of the benchmarks.

Written independently of ``fastmlp.kernels``: vectorised numpy, one small
function per operation, no shared code with the compiled path. It shares
two numpy definitions with the estimators: where probabilities are clipped
(``losses.clip_epsilon``, by the dtype computed in) and the L2 penalty
(``losses.l2_penalty``), which the kernels compute on their own.

>>> import numpy as np, fastmlp as fm
>>> net = fm.reference.Net.from_model(fm.MLP([2, 3, 1], seed=0))
>>> net.forward(np.zeros((4, 2)))[-1].shape
(4, 1)
"""

import numpy as np

from .losses import clip_epsilon, l2_penalty, weight_total


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
    "exp": (np.exp, lambda out, g: g * out),
}


def _xlogx(y):
    return np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)


def _average(values, weights):
    """Mean over samples (axis 0) of per-sample values, weighted when given."""
    if weights is None:
        return values.sum() / values.shape[0]
    return float(np.sum(weights * values) / np.sum(weights))


def _clip(p, upper=True):
    """Probabilities p clipped as the engine clips them: at the bound of p's
    dtype (losses.clip_epsilon), in float64 arithmetic (so that 1 - p is the
    bound itself also for float32 p). `upper` False: below only."""
    c = clip_epsilon(p.dtype)
    p = p.astype(np.float64)
    return np.clip(p, c, 1 - c) if upper else np.maximum(p, c)


def _elements(name, out, y, logits):
    """The loss of each element (n, k): its sum over a row is that sample's loss."""
    if name == "mse":
        return (out - y) ** 2
    if name == "half_mse":
        return (out - y) ** 2 / 2
    if name == "bce":
        if logits is not None:
            z = logits
            return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        p = _clip(out)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))
    if name == "cross_entropy":
        if logits is not None:
            m = logits.max(axis=1, keepdims=True)
            lse = m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
            return y * (lse - logits)
        return -y * np.log(_clip(out, upper=False))
    if name == "poisson":
        # scikit-learn's xlogy(y, y / mu) - y + mu, with log(mu) = z when the logits are known
        if logits is not None:
            log_mu, mu = logits, np.exp(logits)
        else:
            mu = _clip(out, upper=False)
            log_mu = np.log(mu)
        return _xlogx(y) - y * log_mu - y + mu
    raise ValueError(f"unknown loss {name!r}")


def loss_value(name, out, y, logits=None, sample_weight=None, sum_over_outputs=False):
    """Loss of outputs `out` against y; for bce/cross_entropy/poisson after a
    Sigmoid/Softmax/Exp pass the logits so the value is computed stably.
    mse, half_mse, bce and poisson average over all elements (or, with
    sum_over_outputs, sum over the outputs and average over the samples:
    the engine's per_sample, scikit-learn's convention); cross_entropy sums
    over classes; the average over samples is weighted by sample_weight."""
    sample_losses = _elements(name, out, y, logits).sum(axis=1)
    return float(_average(sample_losses, sample_weight) / _outputs_averaged(name, out.shape[1], sum_over_outputs))


def _outputs_averaged(name, k, sum_over_outputs):
    """Over how many of the k outputs a sample's loss is averaged: 1 where it is their sum."""
    return 1 if (name == "cross_entropy" or sum_over_outputs) else k


def loss_grad(name, out, y, sample_weight=None, sum_over_outputs=False):
    """d loss / d out."""
    n, k = out.shape
    if name == "mse":
        d_out = 2.0 * (out - y)
    elif name == "half_mse":
        d_out = out - y
    elif name == "bce":
        p = _clip(out)
        d_out = (p - y) / (p * (1 - p))
    elif name == "cross_entropy":
        d_out = -y / _clip(out, upper=False)
    elif name == "poisson":
        d_out = 1.0 - y / _clip(out, upper=False)
    else:
        raise ValueError(f"unknown loss {name!r}")
    return d_out * _sample_scale(name, n, k, sample_weight, sum_over_outputs)


def _sample_scale(name, n, k, sample_weight, sum_over_outputs):
    """(n, 1) factors that turn each sample's loss gradient into the batch
    average's: 1 / n, or w_i / sum(w), and / k for element averages."""
    averaged = _outputs_averaged(name, k, sum_over_outputs)
    if sample_weight is None:
        return np.full((n, 1), 1.0 / (n * averaged))
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1, 1)
    return w / (w.sum() * averaged)


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
        output = self.layers[-1][0]
        return ((loss == "bce" and output == "sigmoid") or (loss == "cross_entropy" and output == "softmax")
                or (loss == "poisson" and output == "exp"))

    def loss(self, X, y, loss, sample_weight=None, sum_over_outputs=False, alpha=0.0):
        acts = self.forward(X)
        logits = acts[-2] if self._fused(loss) else None
        value = loss_value(loss, acts[-1], y, logits, sample_weight, sum_over_outputs)
        return value + self._penalty(alpha, X.shape[0], sample_weight)

    def _penalty(self, alpha, n, sample_weight):
        """scikit-learn's L2 term over the batch (losses.l2_penalty)."""
        matrices = [layer[1] for layer in self.layers if layer[0] == "linear"]
        return l2_penalty(matrices, alpha, weight_total(sample_weight, n))

    def gradients(self, X, y, loss, sample_weight=None, sum_over_outputs=False, alpha=0.0):
        """(loss value, list of gradients aligned with weights()). With
        sample_weight, scikit-learn's weighted loss: the weighted average
        over samples, the gradients and the penalty divided by the weight sum."""
        acts = self.forward(X)
        out = acts[-1]
        n, k = out.shape
        start = len(self.layers) - 1
        # d_out: d loss / d (the output of layer i), from the top down.
        if self._fused(loss):
            value = loss_value(loss, out, y, acts[-2], sample_weight, sum_over_outputs)
            d_out = (out - y) * _sample_scale(loss, n, k, sample_weight, sum_over_outputs)
            start -= 1
        else:
            value = loss_value(loss, out, y, None, sample_weight, sum_over_outputs)
            d_out = loss_grad(loss, out, y, sample_weight, sum_over_outputs)
        value += self._penalty(alpha, n, sample_weight)
        divisor = weight_total(sample_weight, n)
        grads = {}
        for i in range(start, -1, -1):
            layer = self.layers[i]
            if layer[0] == "linear":
                grads[i] = (acts[i].T @ d_out + alpha / divisor * layer[1],
                            None if layer[2] is None else d_out.sum(axis=0))
                d_out = d_out @ layer[1].T
            else:
                d_out = ACT[layer[0]][1](acts[i + 1], d_out)
        flat = []
        for i, layer in enumerate(self.layers):
            if layer[0] == "linear":
                gw, gb = grads[i]
                flat.append(gw)
                if gb is not None:
                    flat.append(gb)
        return value, flat

    def sgd_step(self, X, y, loss, lr, sample_weight=None, sum_over_outputs=False, alpha=0.0):
        value, grads = self.gradients(X, y, loss, sample_weight, sum_over_outputs, alpha)
        for w, g in zip(self.weights(), grads):
            w -= lr * g
        return value

    def train(self, X, y, loss, lr, batch_size, epochs, orders=None, sample_weight=None, sum_over_outputs=False,
              alpha=0.0):
        """Plain minibatch SGD; orders (epochs, n) gives each epoch's sample
        order (default: no shuffling). Returns the per-epoch mean losses:
        the batch losses averaged with their rows as weights (scikit-learn's
        loss_, also with sample weights)."""
        X = np.asarray(X, dtype=self.dtype)
        y = np.asarray(y, dtype=self.dtype)
        n = X.shape[0]
        history = np.empty(epochs)
        for epoch in range(epochs):
            order = np.arange(n) if orders is None else orders[epoch]
            loss_sum = 0.0   # the batch losses times their rows
            for start in range(0, n, batch_size):
                rows = order[start:start + batch_size]
                weights = None if sample_weight is None else np.asarray(sample_weight)[rows]
                loss_sum += self.sgd_step(X[rows], y[rows], loss, lr, weights, sum_over_outputs, alpha) * len(rows)
            history[epoch] = loss_sum / n
        return history

    def predict(self, X):
        return self.forward(X)[-1]
