"""Early stopping and learning-rate schedules: small objects that configure
what the Trainer watches.

Early stopping runs inside the compiled engine: the Trainer hands its
settings to the engine (kernels.watch_epoch), which scores every epoch,
keeps the best weights and stops when patience runs out, many epochs per
call. A schedule is asked before each chunk for the rate of the coming
epochs, which is passed with the chunk; it says for how many epochs its
rate stays the same, so a constant rate or a step decay still runs many
epochs per chunk. Only a schedule that watches a quantity
(ReduceLROnPlateau) is handed it after each epoch, which makes every chunk
one epoch.

>>> import fastmlp as fm
>>> stop = fm.EarlyStopping(patience=5, monitor="val_loss")     # or Trainer(..., early_stopping=5)
>>> cosine = fm.CosineDecay(min_lr=1e-4)                         # or Trainer(..., lr_schedule="cosine")
>>> cosine.start(0.1, epochs=100)
>>> round(cosine.rate(0), 6), round(cosine.rate(50), 6), round(cosine.rate(99), 6)
(0.1, 0.05005, 0.000125)
"""

import math
import numbers

import numpy as np

from .validation import check_bool, check_choice, check_float, check_int, describe

# What early stopping and ReduceLROnPlateau can watch (Keras's names): the
# validation loss and metric after each epoch, or the mean training loss.
MONITORS = ("val_loss", "val_accuracy", "val_r2", "loss")
SCHEDULES = ("constant", "step", "cosine", "plateau")
FOREVER = 1 << 62   # "the rate never changes": as many epochs as a chunk may hold


def monitor_code(monitor):
    """The compiled engine's code of a monitor (what kernels.watch_epoch judges the best epoch by)."""
    from . import kernels as K
    return {"loss": K.MONITOR_LOSS, "val_loss": K.MONITOR_VAL_LOSS, "val_accuracy": K.MONITOR_VAL_METRIC,
            "val_r2": K.MONITOR_VAL_METRIC}[monitor]


def monitor_mode(monitor):
    """"max" for accuracy and R^2 (higher is better), "min" for losses."""
    return "max" if monitor in ("val_accuracy", "val_r2") else "min"


class Best:
    """The best value seen of a monitored quantity, Keras's way: a value is an
    improvement when it beats the best by more than min_delta. NaN never is."""

    def __init__(self, monitor, min_delta=0.0):
        self.sign = -1.0 if monitor_mode(monitor) == "max" else 1.0
        self.min_delta = min_delta
        self.value = math.inf       # in "lower is better" units (sign * value)
        self.epoch = None           # 1-based

    def update(self, value, epoch):
        """Record `value` of `epoch` (1-based); returns True if it improved."""
        v = self.sign * float(value)
        if not math.isnan(v) and v < self.value - self.min_delta:
            self.value, self.epoch = v, epoch
            return True
        return False

    @property
    def best(self):
        return None if self.epoch is None else self.sign * self.value


class EarlyStopping:
    """Stop training when `monitor` has not improved by more than `min_delta`
    for `patience` epochs in a row (Keras's EarlyStopping).

    restore_best : the model ends with the weights of the best epoch whenever
        training ends: completed, stopped early, interrupted or diverged.
    """

    def __init__(self, patience=10, min_delta=0.0, monitor="val_loss", restore_best=True):
        self.patience = check_int(patience, "patience", low=0)
        self.min_delta = check_float(min_delta, "min_delta", low=0, low_inclusive=True)
        self.monitor = check_choice(monitor, "monitor", MONITORS)
        self.restore_best = check_bool(restore_best, "restore_best")

    def config(self):
        return {"patience": self.patience, "min_delta": self.min_delta, "monitor": self.monitor,
                "restore_best": self.restore_best}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"EarlyStopping({args})"


def get_early_stopping(value, name="early_stopping"):
    """None, an EarlyStopping, a patience (integer >= 0) for the defaults, or
    an EarlyStopping's config() (as Trainer.config() records it)."""
    if value is None or isinstance(value, EarlyStopping):
        return value
    if isinstance(value, dict):
        return _from_config(EarlyStopping, value, name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"The {name!r} parameter must be None, a patience (an integer >= 0) or an "
                        f"EarlyStopping(...). Got {describe(value)}.")
    return EarlyStopping(patience=check_int(value, name, low=0))


class Schedule:
    """A learning-rate schedule. The Trainer calls start(lr, epochs) at the
    beginning of each fit, rate(epoch) before each chunk (epoch counts from 0
    within the fit), steady_for(epoch) to size the chunk, and, for schedules
    with a `monitor`, observe(value) after each epoch."""

    name = None
    monitor = None

    def start(self, lr, epochs):
        self.base_lr = float(lr)
        self.epochs = int(epochs)

    def rate(self, epoch):
        raise NotImplementedError

    def steady_for(self, epoch):
        """How many epochs from `epoch` on run at rate(epoch)."""
        return 1

    def observe(self, value):
        pass

    def config(self):
        return {"name": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class ConstantLR(Schedule):
    """The trainer's learning rate throughout."""
    name = "constant"

    def rate(self, epoch):
        return self.base_lr

    def steady_for(self, epoch):
        return FOREVER


class StepDecay(Schedule):
    """lr * factor ** (epoch // step_size): the rate is multiplied by `factor`
    every `step_size` epochs (PyTorch's StepLR). step_size=None: a quarter of
    the fit's epochs, so the rate drops three times."""
    name = "step"

    def __init__(self, step_size=None, factor=0.5):
        self.step_size = None if step_size is None else check_int(step_size, "step_size", low=1)
        self.factor = check_float(factor, "factor", low=0, high=1, high_inclusive=False)

    def _step(self):
        return self.step_size or max(1, self.epochs // 4)

    def rate(self, epoch):
        return self.base_lr * self.factor ** (epoch // self._step())

    def steady_for(self, epoch):
        step = self._step()
        return step - epoch % step

    def config(self):
        return {"name": self.name, "step_size": self.step_size, "factor": self.factor}


class CosineDecay(Schedule):
    """Half a cosine from lr down to min_lr over `epochs` epochs (default: the
    fit's), then min_lr (Keras's CosineDecay, PyTorch's CosineAnnealingLR)."""
    name = "cosine"

    def __init__(self, epochs=None, min_lr=0.0):
        self.decay_epochs = None if epochs is None else check_int(epochs, "epochs", low=1)
        self.min_lr = check_float(min_lr, "min_lr", low=0, low_inclusive=True)

    def start(self, lr, epochs):
        super().start(lr, epochs)
        if self.min_lr > self.base_lr:
            raise ValueError(f"The 'min_lr' parameter of CosineDecay must be <= the learning rate "
                             f"({self.base_lr:g}). Got {self.min_lr!r}.")

    def _span(self):
        return self.decay_epochs or max(self.epochs, 1)

    def rate(self, epoch):
        span = self._span()
        if epoch >= span:
            return self.min_lr
        return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * epoch / span))

    def steady_for(self, epoch):
        return FOREVER if epoch >= self._span() else 1

    def config(self):
        return {"name": self.name, "epochs": self.decay_epochs, "min_lr": self.min_lr}


class ReduceLROnPlateau(Schedule):
    """Multiply the rate by `factor` when `monitor` has not improved by more
    than `min_delta` for `patience` epochs, then wait `cooldown` epochs before
    counting again; never below min_lr (Keras's ReduceLROnPlateau, with its
    defaults)."""
    name = "plateau"

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, min_delta=1e-4, cooldown=0, min_lr=0.0):
        self.monitor = check_choice(monitor, "monitor", MONITORS)
        self.factor = check_float(factor, "factor", low=0, high=1, high_inclusive=False)
        self.patience = check_int(patience, "patience", low=0)
        self.min_delta = check_float(min_delta, "min_delta", low=0, low_inclusive=True)
        self.cooldown = check_int(cooldown, "cooldown", low=0)
        self.min_lr = check_float(min_lr, "min_lr", low=0, low_inclusive=True)

    def start(self, lr, epochs):
        super().start(lr, epochs)
        self.current = self.base_lr
        self._best = Best(self.monitor, self.min_delta)
        self._wait = 0
        self._cooling = 0
        self._seen = 0

    def rate(self, epoch):
        return self.current

    def observe(self, value):
        self._seen += 1
        if self._cooling > 0:
            self._cooling -= 1
            self._wait = 0
        if self._best.update(value, self._seen):
            self._wait = 0
        elif self._cooling == 0:
            self._wait += 1
            if self._wait >= self.patience:
                if self.current > self.min_lr:
                    self.current = max(self.current * self.factor, self.min_lr)
                self._cooling = self.cooldown
                self._wait = 0

    def config(self):
        return {"name": self.name, "monitor": self.monitor, "factor": self.factor, "patience": self.patience,
                "min_delta": self.min_delta, "cooldown": self.cooldown, "min_lr": self.min_lr}


def _from_config(cls, settings, name):
    import inspect
    allowed = set(inspect.signature(cls).parameters)
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ValueError(f"The {name!r} parameter has settings {cls.__name__} does not take: {unknown}; "
                         f"it takes {sorted(allowed)}.")
    return cls(**settings)


_BY_NAME = {"constant": ConstantLR, "step": StepDecay, "cosine": CosineDecay, "plateau": ReduceLROnPlateau}


def get_schedule(value, name="lr_schedule"):
    """A Schedule from None (constant), a name ("constant", "step", "cosine",
    "plateau": each with its defaults) or a Schedule (returned as it is)."""
    if value is None:
        return ConstantLR()
    if isinstance(value, Schedule):
        return value
    if isinstance(value, dict):           # a config(), as Trainer.config() records it
        settings = dict(value)
        kind = check_choice(settings.pop("name", None), f"{name}['name']", SCHEDULES)
        return _from_config(_BY_NAME[kind], settings, name)
    if not isinstance(value, str):
        raise TypeError(f"The {name!r} parameter must be None, one of {', '.join(map(repr, SCHEDULES))} or a "
                        f"schedule object such as fastmlp.CosineDecay(). Got {describe(value)}.")
    return _BY_NAME[check_choice(value, name, SCHEDULES)]()
