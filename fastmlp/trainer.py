"""Trainer: validates, then runs the fused engine in chunks of epochs.

Whole epochs run inside one compiled call (``kernels.train_epochs``); Python
only steps in between chunks, to report progress, keep the history, honour
Ctrl-C and stop a diverging run. Chunks are sized to take about 50 ms, so
the overhead of stepping out is negligible and Ctrl-C is answered quickly.

Monitoring runs inside the engine: with validation data or early stopping,
the engine scores the validation rows after every epoch, records the losses
and metrics, keeps the best weights and stops when patience runs out
(``kernels.watch_epoch``), so a watched run also takes many epochs per call.
The learning-rate schedule is asked for the rate of each chunk; only one
that watches a quantity (ReduceLROnPlateau) makes every chunk one epoch
(see ``fastmlp.callbacks``).
"""

import signal
import threading
import time
import warnings

import numpy as np

from . import engines
from . import kernels as K
from .callbacks import get_early_stopping, get_schedule, monitor_code, monitor_mode
from .losses import clip_epsilon, get_loss, per_sample_mode
from .model import PREDICT_BLOCK, Model, engine_weights, input_arrays
from .optim import get_optimizer
from .preprocessing import Standardizer
from .tasks import labels_of, metric_name, model_task, task_code, total_sum_of_squares
from .validation import (SparseRows, as_sample_weight, check_bool, check_choice, check_class_weight, check_float,
                         check_int, check_per_sample, check_sample_order, check_seed, class_sample_weight, describe)

CHUNK_SECONDS = 0.05
MAX_DRAWS = 1 << 20  # shuffle draws held at once: 8 MB
_NO_DRAWS = np.zeros((0, 0), dtype=np.float64)  # shuffle_u of an unshuffled run
SPLIT_STREAM = 0x5EED_5B17  # mixed into the seed: the split draws are not the shuffle draws
STOP_REASONS = ("completed", "target_loss", "early_stopping", "diverged", "interrupted")
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
    stop_reason : "completed", "target_loss", "early_stopping", "diverged" or "interrupted".
    seconds : wall time of the call; steps : minibatch updates made.
    lr : the learning rate of each epoch.

    With validation data (None otherwise), per epoch, measured after it:

    val_loss : the loss of the validation predictions (without the alpha penalty).
    metric : "accuracy" (classifiers) or "r2" (regressors), the metric of
    val_metric : on the validation set, and
    train_metric : on the training rows as they were trained (Keras's
        convention): each batch's outputs before its update, over the epoch,
        so it costs no pass of its own.

    best_epoch : the best epoch (1-based) by `monitor` ("val_loss" unless an
        EarlyStopping watches something else), or None.
    engine : the engine that ran the epochs, "generic" or "specialized"
        (None in histories read from files of earlier versions).
    """

    def __init__(self, loss, steps, seconds, stop_reason, val_loss=None, metric=None, train_metric=None,
                 val_metric=None, lr=None, best_epoch=None, monitor=None, engine=None):
        self.loss = loss
        self.epochs = int(loss.shape[0])
        self.steps = int(steps)
        self.seconds = float(seconds)
        self.stop_reason = stop_reason
        self.engine = engine
        self.val_loss = val_loss
        self.metric = metric
        self.train_metric = train_metric
        self.val_metric = val_metric
        self.lr = lr
        self.best_epoch = best_epoch
        self.monitor = monitor

    @property
    def final_loss(self):
        return float(self.loss[-1]) if self.epochs else float("nan")

    @property
    def final_val_loss(self):
        return float(self.val_loss[-1]) if self.val_loss is not None and self.epochs else float("nan")

    @property
    def steps_per_second(self):
        return self.steps / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self):
        def listed(a):
            return None if a is None else np.asarray(a, dtype=np.float64).tolist()
        return {"loss": self.loss.tolist(), "epochs": self.epochs, "steps": self.steps,
                "seconds": self.seconds, "stop_reason": self.stop_reason, "val_loss": listed(self.val_loss),
                "metric": self.metric, "train_metric": listed(self.train_metric),
                "val_metric": listed(self.val_metric), "lr": listed(self.lr), "best_epoch": self.best_epoch,
                "monitor": self.monitor, "engine": self.engine}

    def __repr__(self):
        extra = ""
        if self.val_loss is not None and self.epochs:
            extra = f", final_val_loss={self.final_val_loss:.6g}"
        if self.best_epoch is not None:
            extra += f", best_epoch={self.best_epoch}"
        return (f"History(epochs={self.epochs}, final_loss={self.final_loss:.6g}{extra}, "
                f"stop_reason={self.stop_reason!r})")


def grown_chunk(chunk, epochs_run, seconds):
    """The epochs of the next engine call, after one that ran epochs_run
    epochs (of at most `chunk`) in `seconds`: grown towards CHUNK_SECONDS of
    work, at most 8-fold (the first call may include compiling), at least 1."""
    per_epoch = seconds / max(epochs_run, 1)
    want = int(CHUNK_SECONDS / per_epoch) if per_epoch > 0 else chunk * 8
    return max(1, min(want, chunk * 8))


class InterruptGuard:
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
    lr : learning rate (> 0); with a schedule, the rate it starts from
    batch_size : samples per update; larger than the data is clipped with a warning
    epochs : passes over the data per ``fit`` call
    shuffle : reshuffle the samples every epoch (a full batch is never shuffled:
        the order of a single batch does not change the update)
    seed : seeds the shuffling and the validation split; the same seed gives
        bit-identical runs
    target_loss : stop at the end of the first epoch whose mean loss is below it
    print_every : print a line every this many epochs
    progress : show a tqdm progress bar
    optimizer : "sgd" (with momentum, nesterov) or "adam" (beta_1, beta_2, epsilon)
    alpha : L2 penalty as in scikit-learn: alpha / 2 * ||W||^2 / batch size (the
        batch's weight sum when fit is given sample weights)
    per_sample : True sums mse/half_mse/bce/poisson over the outputs and
        averages over samples (scikit-learn's convention) instead of averaging
        over all elements; "gradient" sums in the gradient only, the reported
        loss averaging over the outputs (what scikit-learn's MLPRegressor
        reports: its squared error is a mean, its gradient a sum)
    validation_split : hold out this fraction of the rows (0 < f < 1) of each
        ``fit`` as validation data: drawn at random from the seed (the same rows
        in every fit on the same data), stratified by class for classifiers
    early_stopping : an EarlyStopping, or a patience (epochs without
        improvement of the validation loss) for EarlyStopping's defaults
    lr_schedule : "constant", "step", "cosine", "plateau" or a schedule
        object (fastmlp.StepDecay, CosineDecay, ReduceLROnPlateau)
    standardize : if the model has no standardizer yet, fit one on the
        training rows (after the split) and attach it to the model
    class_weight : None, "balanced" or a dict {class: weight}: per-sample
        weights from the class of each target (scikit-learn's
        compute_sample_weight), multiplied into fit's sample_weight. Classes
        are the class indices for cross_entropy and the 0/1 values of each
        output for bce (a dict applies to every output; "balanced" counts
        each output's classes on its own)
    engine : "auto" (default), "generic" or "specialized": the compiled engine
        that runs the epochs (see fastmlp.engines). "generic" runs any model
        with one compiled engine per loss and dtype; "specialized" compiles an
        engine for the model's stack of layers (dense inputs only), faster
        per step for small layers and compiled once per stack (cached on
        disk); "auto" takes the specialized engine for a dense input whose
        layers are at most engines.AUTO_MAX_WIDTH wide when the run makes at
        least engines.AUTO_MIN_STEPS updates. Both compute the same numbers;
        the choice never depends on timing or on the cache.

    Example
    -------
    >>> import numpy as np, fastmlp as fm
    >>> X, y = fm.datasets.xor()
    >>> model = fm.MLP([2, 8, 1], output="sigmoid", dtype=np.float32, seed=0)
    >>> history = fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=2000, seed=0).fit(X, y)
    >>> bool(history.loss[-1] < history.loss[0])
    True

    With a validation split and early stopping:

    >>> X, y = fm.datasets.line(500)
    >>> model = fm.MLP([2, 16, 1], output="sigmoid", seed=0)
    >>> trainer = fm.Trainer(model, loss="bce", lr=0.1, epochs=200, seed=0, validation_split=0.2,
    ...                      early_stopping=fm.EarlyStopping(patience=10))
    >>> history = trainer.fit(X, y)
    >>> history.metric, bool(history.val_metric[history.best_epoch - 1] > 0.9)
    ('accuracy', True)
    """

    def __init__(self, model, loss="mse", lr=0.01, batch_size=32, epochs=100, shuffle=True, seed=None,
                 target_loss=None, print_every=None, progress=False, optimizer="sgd", momentum=0.0,
                 nesterov=False, beta_1=0.9, beta_2=0.999, epsilon=1e-8, alpha=0.0, per_sample=False,
                 validation_split=None, early_stopping=None, lr_schedule=None, standardize=False,
                 class_weight=None, engine="auto"):
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
        self.per_sample = check_per_sample(per_sample)
        # 0 means none, as Keras's validation_split=0.0.
        self.validation_split = None if validation_split is None or (
            not isinstance(validation_split, (bool, np.bool_)) and validation_split == 0) else \
            check_float(validation_split, "validation_split", low=0, high=1, high_inclusive=False)
        self.early_stopping = get_early_stopping(early_stopping)
        self.lr_schedule = get_schedule(lr_schedule)
        self.standardize = check_bool(standardize, "standardize")
        self.class_weight = check_class_weight(class_weight)
        self.engine = check_choice(engine, "engine", engines.NAMES)
        self.engine_used = None
        if self.class_weight is not None and self.loss.name not in ("bce", "cross_entropy"):
            raise ValueError(f"class_weight applies to the classification losses 'bce' and 'cross_entropy'; "
                             f"the loss is {self.loss.name!r}.")
        self._rng = np.random.default_rng(seed)
        self._split_seq = None
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
        # The new settings only when used, so configs of plain runs stay as they were.
        if self.validation_split is not None:
            cfg["validation_split"] = self.validation_split
        if self.early_stopping is not None:
            cfg["early_stopping"] = self.early_stopping.config()
        if self.lr_schedule.name != "constant":
            cfg["lr_schedule"] = self.lr_schedule.config()
        if self.standardize:
            cfg["standardize"] = True
        if self.engine != "auto":
            cfg["engine"] = self.engine
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
        settings = K.engine_settings(batch=batch, alpha=self.alpha,
                                     clip_epsilon=clip_epsilon(self.model.dtype), shuffle=shuffle,
                                     target_loss=self.target_loss, per_sample=per_sample_mode(self.per_sample),
                                     **self.optimizer.engine_fields())
        return settings, batch, shuffle

    def planned_engine(self, X, y, epochs=None):
        """The engine ("generic" or "specialized") that fit(X, y, epochs)
        will run: the choice of choose_engine for the rows fit trains on
        (those left after validation_split), in batches clipped to them.
        For a warm-up that should compile what the real run uses, e.g.
        ``fastmlp train``'s."""
        X = self.model.check_input(X, accept_sparse=True)
        n = X.shape[0]
        if self.validation_split is not None:
            Y = self.model.check_target(y, n, loss=self.loss.name)
            n = len(self._split_rows(Y, self._split_generator())[0])
        epochs = self.epochs if epochs is None else check_int(epochs, "epochs", low=1)
        return self._engine_for(n, isinstance(X, SparseRows), epochs, min(self.batch_size, n))

    def choose_engine(self, X, epochs, batch):
        """The engine ("generic" or "specialized") for a run of `epochs`
        epochs over X in batches of `batch` rows, from this trainer's `engine`
        option (see fastmlp.engines.choose); it is recorded in engine_used and
        in the run's History."""
        self.engine_used = self._engine_for(X.shape[0], isinstance(X, SparseRows), epochs, batch)
        return self.engine_used

    def _engine_for(self, n, sparse, epochs, batch):
        """engines.choose for `epochs` epochs over n rows in batches of `batch`."""
        return engines.choose(self.engine, self.model.layout, sparse, epochs * -(-n // batch))

    def _call_engine(self, X, Y, W, draws, settings, epoch_loss, status, order=_NO_ORDER, watch=None):
        """One call of the compiled engine chosen by choose_engine: len(epoch_loss)
        epochs, watched by `watch` (see _watch_state) unless it is None."""
        model, opt = self.model, self.optimizer
        opt.init_state(model.n_params, model.dtype)
        Xd, indptr, indices, data = input_arrays(X, model.dtype)
        order = None if order is None or order.shape[0] == 0 else order
        if self.engine_used == "specialized":
            engines.specialized(model.layout, self.loss.kind)(
                model.params, model.grads, model.layout, Xd, indptr, indices, data, Y, engine_weights(W), order,
                draws, settings, opt.first_moment, opt.second_moment, opt.step, epoch_loss, status, watch)
            return
        K.train_epochs(model.params, model.grads, model.layout, self.loss.kind, Xd, indptr, indices, data, Y,
                       engine_weights(W), order, draws, settings, opt.first_moment, opt.second_moment, opt.step,
                       epoch_loss, status, watch)

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

    def run_epochs(self, X, Y, epochs=1, W=_NO_WEIGHTS, order=_NO_ORDER, planned_epochs=None):
        """Train `epochs` epochs over X, Y in one compiled call, in their order
        (no shuffling, no progress, no Ctrl-C handling) and return the epoch
        losses (float64, one per epoch run). For arrays already checked and
        converted (``model.check_input``/``check_target``: C-contiguous, in the
        model's dtype, or SparseRows; W from ``sample_weight``), where
        ``fit``'s per-call work would cost as much as a short run, e.g.
        scikit-learn's one epoch at a time. order (n,) int64, if given, is the
        sample order of every epoch, or (epochs * n,) one order per epoch,
        epoch e's in order[e * n:(e + 1) * n] (the data is not copied; each
        entry must be a row index of X). planned_epochs:
        the epochs of the whole run this call is part of (default: epochs),
        which ``engine="auto"`` decides from. Raises TrainingDiverged, with
        the weights of the last finite epoch kept."""
        epochs = check_int(epochs, "epochs", low=1)
        planned = epochs if planned_epochs is None else check_int(planned_epochs, "planned_epochs", low=1)
        n = X.shape[0]
        order = check_sample_order(order, n, epochs)
        settings, batch, _ = self.engine_settings(n)
        self.choose_engine(X, planned, batch)
        losses = np.empty(epochs, dtype=np.float64)
        status = np.zeros(2, dtype=np.int64)
        self._call_engine(X, Y, W, _NO_DRAWS, settings._replace(shuffle=False), losses, status, order)
        ran = int(status[K.S_EPOCHS])
        if status[K.S_STOP] == K.STOP_DIVERGED:
            raise TrainingDiverged(f"Training diverged in epoch {ran + 1} of this run: the loss or a parameter "
                                   f"became NaN or infinite (lr={self.lr:g}).", epoch=ran + 1,
                                   last_loss=float(losses[ran - 1]) if ran else float("nan"))
        return losses[:ran]

    # -- validation data ------------------------------------------------------------
    def _split_generator(self):
        """A Generator for the validation split, derived from the seed and the
        same for every fit of this trainer (a new one from the same state each
        time), so that later fits hold out the same rows."""
        if self._split_seq is None:
            seed = self.seed
            if seed is None:
                self._split_seq = np.random.SeedSequence()
            elif isinstance(seed, np.random.SeedSequence):
                self._split_seq = seed.spawn(1)[0]
            elif isinstance(seed, np.random.Generator):
                self._split_seq = np.random.SeedSequence(int(seed.integers(1 << 63)))
            else:
                self._split_seq = np.random.SeedSequence([seed, SPLIT_STREAM])
        return np.random.default_rng(self._split_seq)

    def _split_rows(self, Y, rng):
        """(training rows, validation rows), both in data order, for checked targets Y."""
        n = Y.shape[0]
        fraction = self.validation_split
        n_val = int(round(fraction * n))
        if n_val < 1 or n_val > n - 1:
            raise ValueError(f"The 'validation_split' parameter {fraction!r} of {n} samples leaves "
                             f"{n_val} for validation and {n - n_val} for training; each needs at least one. "
                             f"Give more data or another fraction.")
        task = model_task(self.model, Y)
        picked = np.zeros(n, dtype=bool)
        if task == "regression":
            picked[rng.permutation(n)[:n_val]] = True
        else:
            # Stratified: each class gives its share of the validation rows,
            # rounded by largest remainder so the total is exactly n_val.
            labels = labels_of(task, Y)
            classes, counts = np.unique(labels, return_counts=True)
            quota = n_val * counts / n
            take = np.floor(quota).astype(np.int64)
            short = n_val - int(take.sum())
            take[np.argsort(-(quota - take), kind="stable")[:short]] += 1
            for c, m in zip(classes, take):
                members = np.flatnonzero(labels == c)
                picked[members[rng.permutation(members.size)[:m]]] = True
        return np.flatnonzero(~picked), np.flatnonzero(picked)

    def split(self, X, y):
        """The rows ``fit(X, y)`` trains and validates on with this trainer's
        validation_split: (training rows, validation rows) as int64 index
        arrays in data order. The same for the same seed and data."""
        if self.validation_split is None:
            raise ValueError("This Trainer has no validation_split; give Trainer(..., validation_split=0.2).")
        X = self.model.check_input(X)
        Y = self.model.check_target(y, X.shape[0], loss=self.loss.name)
        return self._split_rows(Y, self._split_generator())

    def _validation_data(self, validation_data):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(f"The 'validation_data' parameter must be a pair (X_val, y_val). Got "
                            f"{describe(validation_data)}.")
        self.model.check_feature_names(validation_data[0], name="validation_data[0]")
        Xv = self.model.check_input(validation_data[0], "validation_data[0]", accept_sparse=True)
        Yv = self.model.check_target(validation_data[1], Xv.shape[0], loss=self.loss.name,
                                     name="validation_data[1]")
        return Xv, Yv

    def _check_monitors(self, has_validation, task):
        """Refuse, before training, a monitor that this fit cannot measure."""
        for owner, monitor in (("early_stopping", getattr(self.early_stopping, "monitor", None)),
                               ("lr_schedule", self.lr_schedule.monitor)):
            if monitor is None:
                continue
            if monitor.startswith("val_") and not has_validation:
                raise ValueError(f"The {owner!r} parameter monitors {monitor!r}, but this fit has no validation "
                                 "data: give Trainer(..., validation_split=0.2) or fit(..., validation_data="
                                 "(X_val, y_val)), or monitor 'loss'.")
            if monitor in ("val_accuracy", "val_r2") and monitor != "val_" + metric_name(task):
                raise ValueError(f"The {owner!r} parameter monitors {monitor!r}, but this model is a "
                                 f"{task} model, measured by {'val_' + metric_name(task)!r}.")

    def _watch_state(self, task, monitor, Y, Xv, Yv, epochs):
        """The engine's `watch` for a fit of `epochs` epochs (see
        kernels.watch_epoch) and the arrays it fills: (watch, (val_losses,
        val_metrics, train_metrics, best_params, istate)). Xv, Yv may be None
        (early stopping on the training loss): then the three series are None."""
        model = self.model
        dtype, n_out = model.dtype, model.n_outputs
        validating = Xv is not None
        if not validating:
            Xv, Yv = np.empty((0, int(model.layout[0, K.L_IN])), dtype=dtype), np.empty((0, Y.shape[1]), dtype=dtype)
        n_val = Xv.shape[0]
        stopper = self.early_stopping
        classifier = task != "regression"
        labels = labels_of(task, Yv) if classifier and n_val else np.zeros(0, dtype=np.int64)
        # Without validation data the engine records nothing per epoch, only the best epoch.
        val_losses, val_metrics, train_metrics = (np.full(epochs if validating else 0, np.nan) for _ in range(3))
        restore = stopper is not None and stopper.restore_best
        best_params = np.empty_like(model.params) if restore else model.params[:0]
        istate = np.zeros(3, dtype=np.int64)
        fstate = np.zeros(2, dtype=np.float64)
        fstate[K.W_BEST] = np.inf
        # The engine's per_sample losses sum over the outputs: the validation loss does too.
        loss_scale = n_out if self.per_sample is True and self.loss.name != "cross_entropy" and n_out > 1 else 1
        Xd, indptr, indices, data = input_arrays(Xv, dtype)
        watch = K.Watch(
            layout=model.layout, Xv=Xd, indptr=indptr, indices=indices, data=data, Yv=Yv,
            out=np.empty((n_val, n_out), dtype=dtype), labels=labels, task=task_code(task),
            ss_tot=total_sum_of_squares(Yv), train_ss_tot=total_sum_of_squares(Y),
            clip_epsilon=float(clip_epsilon(dtype)), loss_scale=float(loss_scale), monitor=monitor_code(monitor),
            sign=-1.0 if monitor_mode(monitor) == "max" else 1.0,
            min_delta=float(stopper.min_delta) if stopper is not None else 0.0,
            patience=int(stopper.patience) if stopper is not None else -1, restore=restore, fstate=fstate,
            istate=istate, best_params=best_params, val_losses=val_losses, val_metrics=val_metrics,
            train_metrics=train_metrics, block=int(PREDICT_BLOCK))
        if not validating:
            val_losses = val_metrics = train_metrics = None
        return watch, (val_losses, val_metrics, train_metrics, best_params, istate)

    # -- training ---------------------------------------------------------------------
    def fit(self, X, y, epochs=None, validation_data=None, sample_weight=None):
        """Train for `epochs` (default: the trainer's) more epochs on X, y and
        return a History. Calling fit again continues from the current weights
        and optimizer state.

        validation_data : a pair (X_val, y_val), checked as X and y are; or
            use the trainer's validation_split. The loss and metric on it are
            measured after every epoch.

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
        Xv = Yv = None
        try:
            X = model.check_input(X, accept_sparse=True)
            Y = model.check_target(y, X.shape[0], loss=self.loss.name)
            W = self.sample_weight(Y, sample_weight)
            if validation_data is not None:
                if self.validation_split is not None:
                    raise ValueError(f"fit got validation_data, but the Trainer has validation_split="
                                     f"{self.validation_split!r}; give one or the other, not both.")
                Xv, Yv = self._validation_data(validation_data)
        except BaseException:
            model.feature_names_in_ = names_before
            raise
        epochs = self.epochs if epochs is None else check_int(epochs, "epochs", low=0)
        if validation_data is None and self.validation_split is not None:
            train_rows, val_rows = self._split_rows(Y, self._split_generator())
            rows_of = X.take if isinstance(X, SparseRows) else X.__getitem__
            X, Xv = rows_of(train_rows), rows_of(val_rows)
            Y, Yv = Y[train_rows], Y[val_rows]
            if W.size:
                W = np.ascontiguousarray(W[train_rows])
        task = model_task(model, Y)
        self._check_monitors(Xv is not None, task)
        self.lr_schedule.start(self.lr, epochs)

        # Standardisation is part of the model: fitted here on the training rows only.
        standardizer = model.standardizer
        if standardizer is None and self.standardize:
            standardizer = Standardizer().fit(X)
        if standardizer is not None:
            if isinstance(X, SparseRows):
                raise ValueError("X is sparse, but standardizing it (centring every column) would make it dense; "
                                 "give a dense X, or train without standardize.")
            X = standardizer.transform(X, model.dtype)
            if Xv is not None:
                Xv = standardizer.transform(Xv, model.dtype)
            model.standardizer = standardizer

        n = X.shape[0]
        settings, batch, shuffle = self.engine_settings(n)
        steps_per_epoch = -(-n // batch)
        self.choose_engine(X, epochs, batch)

        # A watched run (validation data or early stopping) is scored after
        # every epoch inside the engine (kernels.watch_epoch); only a schedule
        # that watches a quantity (ReduceLROnPlateau) makes every chunk one epoch.
        stopper = self.early_stopping
        schedule = self.lr_schedule
        observe_each_epoch = schedule.monitor is not None
        monitor = stopper.monitor if stopper is not None else ("val_loss" if Xv is not None else None)
        lrs = np.empty(epochs, dtype=np.float64)
        watch = val_losses = train_metrics = val_metrics = None
        if monitor is not None:
            watch, (val_losses, val_metrics, train_metrics, best_params, istate) = self._watch_state(
                task, monitor, Y, Xv, Yv, epochs)

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
            # Outputs that overflow (a run about to diverge) give a NaN score, not warnings.
            with InterruptGuard() as guard, np.errstate(over="ignore", invalid="ignore"):
                while done < epochs:
                    count = 1 if observe_each_epoch else min(chunk, epochs - done, max_chunk,
                                                             schedule.steady_for(done))
                    if self.print_every:
                        count = min(count, self.print_every - done % self.print_every)
                    rate = schedule.rate(done)
                    settings = settings._replace(lr=float(rate))
                    if shuffle:
                        rng_state = self._rng.bit_generator.state
                        draws = self._rng.random((count, n))
                    else:
                        draws = _NO_DRAWS
                    if watch is not None:
                        istate[K.W_EPOCH_BASE] = done
                    t0 = time.perf_counter()
                    self._call_engine(X, Y, W, draws, settings, losses[done:done + count], status, watch=watch)
                    elapsed = time.perf_counter() - t0
                    ran = int(status[K.S_EPOCHS])
                    if shuffle and ran < count:
                        # Stopped early: give back the draws of the epochs not run, so a
                        # later fit shuffles as one uninterrupted run would.
                        self._rng.bit_generator.state = rng_state
                        self._rng.random((ran, n))
                    lrs[done:done + ran] = rate
                    done += ran
                    stop = int(status[K.S_STOP])
                    if observe_each_epoch and ran:
                        observed = {"loss": losses, "val_loss": val_losses, "val_accuracy": val_metrics,
                                    "val_r2": val_metrics}[schedule.monitor]
                        schedule.observe(observed[done - 1])
                    if bar is not None:
                        # The postfix is set without a redraw; update() redraws at most
                        # every 0.1 s (tqdm's mininterval) and close() draws the last one.
                        # Redrawing after every chunk cost 0.06 ms each, 9% of a 10,000-step
                        # XOR fit.
                        if done:
                            postfix = {"loss": f"{losses[done - 1]:.4g}"}
                            if Xv is not None:
                                postfix["val_loss"] = f"{val_losses[done - 1]:.4g}"
                            postfix["steps_s"] = f"{done * steps_per_epoch / (time.perf_counter() - start):.3g}"
                            bar.set_postfix(postfix, refresh=False)
                        bar.update(ran)
                    if self.print_every and done and bar is None and (
                            done % self.print_every == 0 or stop):
                        line = f"epoch {done}/{epochs}  loss {losses[done - 1]:.6g}"
                        if Xv is not None:
                            line += (f"  val_loss {val_losses[done - 1]:.6g}  val_{metric_name(task)} "
                                     f"{val_metrics[done - 1]:.4g}")
                        print(line, flush=True)
                    if stop == K.STOP_DIVERGED:
                        reason = "diverged"
                        break
                    if stop == K.STOP_TARGET:
                        reason = "target_loss"
                        break
                    if stop == K.STOP_EARLY:
                        reason = "early_stopping"
                        break
                    if guard.hit:
                        reason = "interrupted"
                        break
                    chunk = grown_chunk(chunk, ran, elapsed)
        finally:
            if bar is not None:
                bar.close()
            # However training ended, the model keeps the best epoch's weights.
            best_epoch = (int(istate[K.W_BEST_EPOCH]) or None) if watch is not None else None
            restored = watch is not None and watch.restore and best_epoch is not None
            if restored:
                model.params[...] = best_params
        seconds = time.perf_counter() - start
        history = History(losses[:done].copy(), done * steps_per_epoch, seconds, reason,
                          val_loss=None if val_losses is None else val_losses[:done].copy(),
                          metric=metric_name(task) if Xv is not None else None,
                          train_metric=None if train_metrics is None else train_metrics[:done].copy(),
                          val_metric=None if val_metrics is None else val_metrics[:done].copy(),
                          lr=lrs[:done].copy(), best_epoch=best_epoch, monitor=monitor,
                          engine=self.engine_used)
        self.history = history
        if reason == "diverged":
            last = float(losses[done - 1]) if done else float("nan")
            if restored:
                kept = (f"last finite epoch loss: {last:.6g}). The model keeps the weights of epoch "
                        f"{best_epoch}, the best by {monitor}")
            else:
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
