"""Trainer: validates, then runs the fused engine in chunks of epochs.

Whole epochs run inside one compiled call (``kernels.train_epochs``); Python
only steps in between chunks, to report progress, keep the history, honour
Ctrl-C and stop a diverging run. Chunks are sized to take about 50 ms, so
the overhead of stepping out is negligible and Ctrl-C is answered quickly.
"""

import math
import signal
import sys
import threading
import time
import warnings

import numpy as np

from . import kernels as K
from .losses import get_loss
from .model import Model, input_arrays
from .optim import get_optimizer
from .validation import (as_sample_weight, check_bool, check_class_weight, check_float, check_int, check_seed,
                         class_sample_weight)

CHUNK_SECONDS = 0.05
MAX_DRAWS = 1 << 20  # shuffle draws held at once: 8 MB
_NO_DRAWS = np.zeros((0, 0), dtype=np.float64)  # shuffle_u of an unshuffled run
_NO_WEIGHTS = np.zeros(0, dtype=np.float64)  # W of an unweighted run
_NO_ORDER = np.zeros(0, dtype=np.int64)      # the engine's order_in: samples in their order


class TrainingDiverged(FloatingPointError):
    """Training produced a non-finite loss or parameter. The model keeps the
    weights of the last finite epoch; ``history`` holds the epochs up to it."""

    def __init__(self, message, epoch=None, last_loss=None, history=None):
        super().__init__(message)
        self.epoch = epoch
        self.last_loss = last_loss
        self.history = history


class History:
    """What a call to ``Trainer.fit`` did.

    loss : np.ndarray of float64, the mean training loss of each epoch run.
    epochs : number of epochs run.
    stop_reason : "completed", "target_loss", "diverged" or "interrupted".
    seconds : wall time of the call; steps : minibatch updates made.
    """

    def __init__(self, loss, steps, seconds, stop_reason):
        self.loss = loss
        self.epochs = int(loss.shape[0])
        self.steps = int(steps)
        self.seconds = float(seconds)
        self.stop_reason = stop_reason

    @property
    def final_loss(self):
        return float(self.loss[-1]) if self.epochs else float("nan")

    @property
    def steps_per_second(self):
        return self.steps / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self):
        return {"loss": self.loss.tolist(), "epochs": self.epochs, "steps": self.steps,
                "seconds": self.seconds, "stop_reason": self.stop_reason}

    def __repr__(self):
        return (f"History(epochs={self.epochs}, final_loss={self.final_loss:.6g}, "
                f"stop_reason={self.stop_reason!r})")


class _InterruptGuard:
    """Turns SIGINT into a flag checked between chunks, so an interrupted run
    always ends on an epoch boundary with weights and history in step."""

    def __init__(self):
        self.hit = False
        self._old = None

    def __enter__(self):
        # Only the main thread may set handlers; an ignored SIGINT (nohup, a
        # background job) stays ignored.
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
            try:
                self._old = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):
                self._old = None
        return self

    def _handler(self, signum, frame):
        self.hit = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


class Trainer:
    """Minibatch training of a Model with the fused engine.

    Parameters
    ----------
    model : Model
    loss : "mse", "half_mse", "bce", "cross_entropy" or "poisson"
    lr : learning rate (> 0)
    batch_size : samples per update; larger than the data is clipped with a warning
    epochs : passes over the data per ``fit`` call
    shuffle : reshuffle the samples every epoch (a full batch is never shuffled:
        the order of a single batch does not change the update)
    seed : seeds the shuffling; the same seed gives bit-identical runs
    target_loss : stop at the end of the first epoch whose mean loss is below it
    print_every : print a line every this many epochs
    progress : show a tqdm progress bar
    optimizer : "sgd" (with momentum, nesterov) or "adam" (beta_1, beta_2, epsilon)
    alpha : L2 penalty as in scikit-learn: alpha / 2 * ||W||^2 / batch size (the
        batch's weight sum when fit is given sample weights)
    per_sample : sum mse/half_mse/bce/poisson over outputs and average over
        samples (scikit-learn's convention) instead of averaging over all elements
    class_weight : None, "balanced" or a dict {class: weight}: per-sample
        weights from the class of each target (scikit-learn's
        compute_sample_weight), multiplied into fit's sample_weight. Classes
        are the class indices for cross_entropy and the 0/1 values of each
        output for bce (a dict applies to every output; "balanced" counts
        each output's classes on its own)

    Example
    -------
    >>> import numpy as np, fastmlp as fm
    >>> X, y = fm.datasets.xor()
    >>> model = fm.MLP([2, 8, 1], output="sigmoid", dtype=np.float32, seed=0)
    >>> history = fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=2000, seed=0).fit(X, y)
    >>> bool(history.loss[-1] < history.loss[0])
    True
    """

    def __init__(self, model, loss="mse", lr=0.01, batch_size=32, epochs=100, shuffle=True, seed=None,
                 target_loss=None, print_every=None, progress=False, optimizer="sgd", momentum=0.0,
                 nesterov=False, beta_1=0.9, beta_2=0.999, epsilon=1e-8, alpha=0.0, per_sample=False,
                 class_weight=None):
        if not isinstance(model, Model):
            raise TypeError(f"model must be a fastmlp.Model; got {type(model).__name__}.")
        self.model = model
        self.loss = get_loss(loss)
        self.loss.check_model(model)
        self.optimizer = get_optimizer(optimizer, lr, momentum=momentum, nesterov=nesterov,
                                       beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
        self.batch_size = batch_size
        self.epochs = check_int(epochs, "epochs", low=0)
        self.shuffle = check_bool(shuffle, "shuffle")
        self.seed = check_seed(seed)
        self.target_loss = None if target_loss is None else check_float(target_loss, "target_loss", low=0)
        self.print_every = None if print_every is None else check_int(print_every, "print_every", low=1)
        self.progress = check_bool(progress, "progress")
        self.alpha = check_float(alpha, "alpha", low=0, low_inclusive=True)
        self.per_sample = check_bool(per_sample, "per_sample")
        self.class_weight = check_class_weight(class_weight)
        if self.class_weight is not None and self.loss.name not in ("bce", "cross_entropy"):
            raise ValueError(f"class_weight applies to the classification losses 'bce' and 'cross_entropy'; "
                             f"the loss is {self.loss.name!r}.")
        self._rng = np.random.default_rng(seed)
        self.history = None

    @property
    def lr(self):
        """The learning rate of the next update; setting it checks the value."""
        return self.optimizer.lr

    @lr.setter
    def lr(self, value):
        self.optimizer.lr = value

    @property
    def batch_size(self):
        """Samples per update; setting it checks the value (an integer >= 1)."""
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value):
        self._batch_size = check_int(value, "batch_size", low=1)

    def config(self):
        """The settings of this trainer, JSON-serialisable."""
        cfg = {"loss": self.loss.name, "lr": self.lr, "batch_size": self.batch_size, "epochs": self.epochs,
               "shuffle": self.shuffle, "target_loss": self.target_loss,
               # a Generator or SeedSequence has no JSON form: recorded as None (not reproducible)
               "seed": self.seed if self.seed is None or isinstance(self.seed, int) else None,
               "optimizer": self.optimizer.name, "alpha": self.alpha, "per_sample": self.per_sample}
        if self.class_weight is not None:  # JSON object keys are strings
            cfg["class_weight"] = self.class_weight if isinstance(self.class_weight, str) else \
                {str(c): w for c, w in self.class_weight.items()}
        for key in ("momentum", "nesterov", "beta_1", "beta_2", "epsilon"):
            if hasattr(self.optimizer, key):
                cfg[key] = getattr(self.optimizer, key)
        return cfg

    def engine_settings(self, n):
        """(kernels.EngineSettings, batch, shuffle) for a run over n samples:
        the one place where this trainer's settings become the engine's. A
        batch larger than the data is clipped to it, with a warning; a full
        batch is never shuffled."""
        batch = self.batch_size
        if batch > n:
            warnings.warn(f"batch_size={batch} is larger than the {n} samples; clipping it to {n}.",
                          UserWarning, stacklevel=3)
            batch = n
        shuffle = self.shuffle and batch < n
        settings = K.engine_settings(loss=self.loss.kind, batch=batch, alpha=self.alpha,
                                     clip_epsilon=self.loss.clip_eps(self.model.dtype), shuffle=shuffle,
                                     target_loss=self.target_loss, per_sample=self.per_sample,
                                     **self.optimizer.engine_fields())
        return settings, batch, shuffle

    def _call_engine(self, X, Y, W, draws, settings, epoch_loss, status, order=_NO_ORDER):
        """One call of the compiled engine: len(epoch_loss) epochs."""
        model, opt = self.model, self.optimizer
        opt.init_state(model.n_params, model.dtype)
        Xd, indptr, indices, data = input_arrays(X, model.dtype)
        K.train_epochs(model.params, model.grads, model.layout, Xd, indptr, indices, data, Y, W, order, draws,
                       settings, opt.first_moment, opt.second_moment, opt.step, epoch_loss, status)

    def sample_weight(self, Y, sample_weight=None):
        """The engine's weights for targets Y (checked, (n, k)): sample_weight
        (checked by fastmlp.validation.as_sample_weight) times the class
        weights, as a float64 (n,) array, or an empty array for an unweighted
        run (no weights, or every weight exactly 1: the same numbers as no
        weights, by the unweighted path)."""
        n = Y.shape[0]
        W = as_sample_weight(sample_weight, n)
        if self.class_weight is not None:
            cw = class_sample_weight(self.class_weight, Y, self.loss.name)
            W = cw if W is None else W * cw
            if not W.any():
                raise ValueError("Sample weights must contain at least one non-zero number (sample_weight times "
                                 "the class weights is all zero).")
        if W is None or np.all(W == 1.0):
            return _NO_WEIGHTS
        return W

    def run_epochs(self, X, Y, epochs=1, W=_NO_WEIGHTS, order=_NO_ORDER):
        """Train `epochs` epochs over X, Y in one compiled call, in their order
        (no shuffling, no progress, no Ctrl-C handling) and return the epoch
        losses (float64, one per epoch run). For arrays already checked and
        converted (``model.check_input``/``check_target``: C-contiguous, in the
        model's dtype, or SparseRows; W from ``sample_weight``), where
        ``fit``'s per-call work would cost as much as a short run, e.g.
        scikit-learn's one epoch at a time. order (n,) int64, if given, is the
        sample order of every epoch (the data is not copied). Raises
        TrainingDiverged, with the weights of the last finite epoch kept."""
        epochs = check_int(epochs, "epochs", low=1)
        n = X.shape[0]
        settings, _, _ = self.engine_settings(n)
        losses = np.empty(epochs, dtype=np.float64)
        status = np.zeros(2, dtype=np.int64)
        self._call_engine(X, Y, W, _NO_DRAWS, settings._replace(shuffle=False), losses, status, order)
        ran = int(status[K.S_EPOCHS])
        if status[K.S_STOP] == K.STOP_DIVERGED:
            raise TrainingDiverged(f"Training diverged in epoch {ran + 1} of this run: the loss or a parameter "
                                   f"became NaN or infinite (lr={self.lr:g}).", epoch=ran + 1,
                                   last_loss=float(losses[ran - 1]) if ran else float("nan"))
        return losses[:ran]

    def fit(self, X, y, epochs=None, sample_weight=None):
        """Train for `epochs` (default: the trainer's) more epochs on X, y and
        return a History. Calling fit again continues from the current weights
        and optimizer state.

        sample_weight : None, a number, or one weight >= 0 per sample (not all
            zero), scikit-learn's semantics: each batch's loss is the weighted
            average of its samples' losses, and its gradient and the penalty
            are divided by the batch's weight sum. The history's epoch loss
            is the mean of the batch losses, each counting by its rows.

        X may be a scipy sparse matrix (CSR, CSC, ...): the first layer reads
        each batch's rows from its CSR arrays, and X is never densified.

        X may be a data frame (pandas, polars): the first fit of a model on
        one records its column names in ``model.feature_names_in_`` (kept in
        model files); later fits and predictions check them as scikit-learn
        does. y may be a Series, a frame with one column per output, or a
        pandas categorical (its codes are the class indices)."""
        model = self.model
        names_before = model.feature_names_in_
        model.check_feature_names(X, reset=True)
        try:
            X = model.check_input(X, accept_sparse=True)
            Y = model.check_target(y, X.shape[0], loss=self.loss.name)
            W = self.sample_weight(Y, sample_weight)
        except BaseException:
            model.feature_names_in_ = names_before
            raise
        epochs = self.epochs if epochs is None else check_int(epochs, "epochs", low=0)
        n = X.shape[0]
        settings, batch, shuffle = self.engine_settings(n)
        steps_per_epoch = -(-n // batch)

        losses = np.empty(epochs, dtype=np.float64)
        status = np.zeros(2, dtype=np.int64)
        done = 0
        chunk = 1
        max_chunk = max(1, MAX_DRAWS // n) if shuffle else epochs
        reason = "completed"
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=epochs, unit="epoch", leave=True, dynamic_ncols=True)
        start = time.perf_counter()
        try:
            with _InterruptGuard() as guard:
                while done < epochs:
                    count = min(chunk, epochs - done, max_chunk)
                    if self.print_every:
                        count = min(count, self.print_every - done % self.print_every)
                    if shuffle:
                        rng_state = self._rng.bit_generator.state
                        draws = self._rng.random((count, n))
                    else:
                        draws = _NO_DRAWS
                    t0 = time.perf_counter()
                    self._call_engine(X, Y, W, draws, settings, losses[done:done + count], status)
                    elapsed = time.perf_counter() - t0
                    ran = int(status[K.S_EPOCHS])
                    if shuffle and ran < count:
                        # Stopped early: give back the draws of the epochs not run, so a
                        # later fit shuffles as one uninterrupted run would.
                        self._rng.bit_generator.state = rng_state
                        self._rng.random((ran, n))
                    done += ran
                    stop = int(status[K.S_STOP])
                    if bar is not None:
                        # The postfix is set without a redraw; update() redraws at most
                        # every 0.1 s (tqdm's mininterval) and close() draws the last one.
                        # Redrawing after every chunk cost 0.06 ms each, 9% of a 10,000-step
                        # XOR fit.
                        if done:
                            bar.set_postfix(loss=f"{losses[done - 1]:.4g}",
                                            steps_s=f"{done * steps_per_epoch / (time.perf_counter() - start):.3g}",
                                            refresh=False)
                        bar.update(ran)
                    if self.print_every and done and (done % self.print_every == 0 or stop) and bar is None:
                        print(f"epoch {done}/{epochs}  loss {losses[done - 1]:.6g}", flush=True)
                    if stop == K.STOP_DIVERGED:
                        reason = "diverged"
                        break
                    if stop == K.STOP_TARGET:
                        reason = "target_loss"
                        break
                    if guard.hit:
                        reason = "interrupted"
                        break
                    # Grow chunks towards CHUNK_SECONDS (the first call may include compiling).
                    per_epoch = elapsed / max(ran, 1)
                    want = int(CHUNK_SECONDS / per_epoch) if per_epoch > 0 else chunk * 8
                    chunk = max(1, min(want, chunk * 8))
        finally:
            if bar is not None:
                bar.close()
        seconds = time.perf_counter() - start
        history = History(losses[:done].copy(), done * steps_per_epoch, seconds, reason)
        self.history = history
        if reason == "diverged":
            last = float(losses[done - 1]) if done else float("nan")
            kept = (f"last finite epoch loss: {last:.6g}). The model keeps the weights of epoch {done}"
                    if done else "no epoch of this fit ended finite). The model keeps the weights it had "
                    "before this fit")
            raise TrainingDiverged(
                f"Training diverged in epoch {done + 1}: the loss or a parameter became NaN or infinite "
                f"({kept}. Try a lower learning rate (lr={self.lr:g}) or scale the inputs.",
                epoch=done + 1, last_loss=last, history=history)
        if reason == "interrupted":
            raise KeyboardInterrupt(f"training interrupted after epoch {done}")
        return history


def shuffle_orders(seed, epochs, n):
    """The sample orders a Trainer with this seed uses for its first `epochs`
    epochs when it shuffles: an (epochs, n) int64 array. For tests and peers
    that must see the same batches."""
    u = np.random.default_rng(seed).random((epochs, n))
    orders = np.empty((epochs, n), dtype=np.int64)
    for e in range(epochs):
        K.shuffle_order(u[e], orders[e])
    return orders
