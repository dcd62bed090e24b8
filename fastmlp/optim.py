"""Optimizers: settings and state for the update step inside the fused engine.

The update itself is compiled (``kernels.sgd_update``, ``momentum_update``,
``adam_update``) and runs inside the training loop; these classes only hold
hyperparameters and the flat state buffers (momentum velocity, or Adam's two
moments and step count), so state survives across chunks and ``fit`` calls.
Formulas follow scikit-learn's SGDOptimizer and AdamOptimizer.
"""

import numpy as np

from . import kernels as K
from .validation import check_bool, check_choice, check_float

NAMES = ("sgd", "adam")


class Optimizer:
    name = None
    kind = None

    def __init__(self, lr):
        self.lr = lr
        self.state = None
        self.step = np.zeros(1, dtype=np.int64)

    @property
    def lr(self):
        """The learning rate; setting it checks the value (a finite float > 0)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = check_float(value, "lr", low=0)

    @property
    def first_moment(self):
        """(P,) the momentum velocity (sgd) or Adam's first moment: a view of ``state``."""
        return self.state[:self.state.size // 2]

    @property
    def second_moment(self):
        """(P,) Adam's second moment (unused by sgd): a view of ``state``."""
        return self.state[self.state.size // 2:]

    def init_state(self, n_params, dtype):
        """(Re)allocate the state buffers if the model changed size or dtype."""
        if self.state is None or self.state.size != 2 * n_params or self.state.dtype != dtype:
            self.state = np.zeros(2 * n_params, dtype=dtype)
            self.step = np.zeros(1, dtype=np.int64)

    def __setstate__(self, state):
        # joblib may hand back read-only memory maps; the engine updates these in place.
        self.__dict__.update(state)
        if self.state is not None:
            self.state = np.require(self.state, requirements=["C", "W", "A"])
        self.step = np.require(self.step, requirements=["C", "W", "A"])

    def reset(self):
        if self.state is not None:
            self.state[...] = 0
        self.step[...] = 0

    def engine_fields(self):
        """This optimizer's fields of kernels.EngineSettings."""
        return {"optimizer": self.kind, "lr": self.lr}

    def __repr__(self):
        args = ", ".join(f"{k.lstrip('_')}={v!r}" for k, v in vars(self).items() if k not in ("state", "step"))
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum."""
    name = "sgd"
    kind = K.OPT_SGD

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False):
        super().__init__(lr)
        self.momentum = check_float(momentum, "momentum", low=0, low_inclusive=True, high=1, high_inclusive=False)
        self.nesterov = check_bool(nesterov, "nesterov")

    def engine_fields(self):
        return dict(super().engine_fields(), momentum=self.momentum, nesterov=self.nesterov)


class Adam(Optimizer):
    """Adam (Kingma and Ba), with scikit-learn's bias-corrected step size."""
    name = "adam"
    kind = K.OPT_ADAM

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        super().__init__(lr)
        self.beta_1 = check_float(beta_1, "beta_1", low=0, low_inclusive=True, high=1, high_inclusive=False)
        self.beta_2 = check_float(beta_2, "beta_2", low=0, low_inclusive=True, high=1, high_inclusive=False)
        self.epsilon = check_float(epsilon, "epsilon", low=0)

    def engine_fields(self):
        return dict(super().engine_fields(), beta_1=self.beta_1, beta_2=self.beta_2, adam_epsilon=self.epsilon)


def get_optimizer(name, lr, **kwargs):
    """Build an optimizer by name ("sgd" or "adam"). Adam's settings are
    ignored by sgd (their defaults are always passed), but a momentum or
    nesterov given to adam is an error: Adam's momentum is beta_1."""
    if isinstance(name, Optimizer):
        return name
    name = check_choice(name, "optimizer", NAMES)
    if name == "adam" and (kwargs.get("momentum", 0.0) != 0.0 or kwargs.get("nesterov", False)):
        raise ValueError(f"momentum and nesterov apply to optimizer='sgd' only (got momentum="
                         f"{kwargs.get('momentum', 0.0)!r}, nesterov={kwargs.get('nesterov', False)!r}); "
                         f"Adam's momentum is beta_1.")
    if name == "sgd":
        return SGD(lr, momentum=kwargs.get("momentum", 0.0), nesterov=kwargs.get("nesterov", False))
    return Adam(lr, beta_1=kwargs.get("beta_1", 0.9), beta_2=kwargs.get("beta_2", 0.999),
                epsilon=kwargs.get("epsilon", 1e-8))
