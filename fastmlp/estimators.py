"""scikit-learn compatible estimators: ``fastmlp.MLPClassifier`` and ``fastmlp.MLPRegressor``.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``:
the same parameters, defaults, fitted attributes and methods, and the same numbers.
Weights are initialised from ``random_state`` exactly as scikit-learn does, the
samples are shuffled with scikit-learn's own draws, and every update uses
scikit-learn's formulas (SGD with momentum or Nesterov momentum, Adam, the L2
penalty ``alpha``), so a fit with the same ``random_state`` gives the same
weights as scikit-learn's to rounding. The minibatch loop runs in fastmlp's
compiled engine (``fastmlp.Trainer``); Python only steps in between epochs for
scikit-learn's per-epoch logic (learning-rate schedules, ``tol`` /
``n_iter_no_change``, early stopping on a validation split). L-BFGS runs
through ``scipy.optimize.minimize`` with the loss and gradient computed by one
compiled call. Two parameters beyond scikit-learn's: ``dtype`` (the model's
float type) and ``engine`` (fastmlp.Trainer's: "auto", "generic" or
"specialized"; "auto" decides from ``max_iter``).

This module imports scikit-learn; ``import fastmlp`` does not (the two names
are loaded on first access).

>>> import fastmlp as fm
>>> X, y = fm.datasets.line(200)
>>> clf = fm.MLPClassifier((16, 16), solver="sgd", learning_rate_init=0.1, batch_size=32,
...                        max_iter=50, n_iter_no_change=50, random_state=0).fit(X, y.ravel())
>>> bool(clf.score(X, y.ravel()) > 0.9)
True
"""

import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.optimize
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d, compute_sample_weight
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)

from . import kernels as K
from .engines import NAMES as ENGINE_NAMES
from .init import Xavier
from .layers import Linear
from .model import MLP
from .trainer import MAX_DRAWS, InterruptGuard, Trainer, TrainingDiverged, grown_chunk
from .validation import as_sample_weight, as_sparse_rows, check_dtype, is_sparse

__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC_SOLVERS = ("sgd", "adam")
# scikit-learn's activation names -> fastmlp's.
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
# scikit-learn's output activation -> (fastmlp output layer, fastmlp loss).
_OUTPUTS = {"logistic": ("sigmoid", "bce"), "softmax": ("softmax", "cross_entropy"),
            "identity": ("identity", "half_mse"), "exp": ("exp", "poisson")}
_NO_WEIGHTS = np.zeros(0, dtype=np.float64)  # the engine's sample weights of an unweighted run
_NO_ORDER = np.zeros(0, dtype=np.int64)      # the engine's sample order: as the data is
_SPARSE_FORMATS = ["csr", "csc"]             # scipy's MLP takes these; others are converted to CSR
_NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain large "
               "values and need to be preprocessed.")

# One parameter set per optimiser variant whose updates the estimators
# reproduce: plain SGD, SGD with momentum, with Nesterov momentum, Adam, and a
# short L-BFGS run. The parity checks against scikit-learn (the tests and
# bench/sklearn_parity.py) fit each of them.
SOLVER_VARIANTS = {
    "sgd": dict(solver="sgd", momentum=0.0, learning_rate_init=0.05),
    "momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False, learning_rate_init=0.02),
    "nesterov": dict(solver="sgd", momentum=0.9, nesterovs_momentum=True, learning_rate_init=0.02),
    "adam": dict(solver="adam", learning_rate_init=0.01),
    "lbfgs": dict(solver="lbfgs", max_iter=6),
}


def _parameter_constraints():
    return {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dtype": "no_validation",  # checked by fastmlp.validation.check_dtype in fit
        "engine": [StrOptions(set(ENGINE_NAMES))],
    }


class _BaseMLP(BaseEstimator):
    """Shared machinery of MLPClassifier and MLPRegressor (not for direct use).

    The network lives in a ``fastmlp.Model`` (``self._model``); ``coefs_`` and
    ``intercepts_`` are lists of views into its flat parameter buffer. Arrays
    assigned to them (``est.coefs_ = [...]`` or ``est.coefs_[0] = ...``) are
    copied into the model before the next prediction or training step.
    """

    _parameter_constraints = _parameter_constraints()

    def _store_parameters(self, arguments):
        """Keep a subclass __init__'s arguments (its locals()) as attributes of
        the same names, unchanged, as scikit-learn's get_params and clone
        expect; each subclass spells out its own signature."""
        for name, value in arguments.items():
            if name != "self":
                setattr(self, name, value)

    # -- the network ----------------------------------------------------------------
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        for s in sizes:
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, Integral):
                raise TypeError(f"hidden_layer_sizes must hold integers; got {s!r} in {sizes}.")
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _fit_dtype(self, first_pass):
        """dtype for X: the model's once it exists, else the `dtype` parameter,
        else X's own (float32 stays float32, anything else becomes float64)."""
        if not first_pass and getattr(self, "_model", None) is not None:
            return self._model.dtype
        if self.dtype is None:
            return (np.float64, np.float32)
        return check_dtype(self.dtype)

    def _linear_layers(self):
        return [layer for layer in self._model.layers if isinstance(layer, Linear)]

    def _bind_attributes(self):
        """Point coefs_ / intercepts_ at the model's parameters."""
        linear = self._linear_layers()
        self.coefs_ = [layer.weight for layer in linear]
        self.intercepts_ = [layer.bias for layer in linear]

    def _sync_attributes(self):
        """Copy arrays the user assigned to coefs_ / intercepts_ into the model."""
        linear = self._linear_layers()
        coefs, intercepts = self.coefs_, self.intercepts_
        if len(coefs) != len(linear) or len(intercepts) != len(linear):
            raise ValueError(f"coefs_ and intercepts_ must hold {len(linear)} arrays each (one per layer); "
                             f"got {len(coefs)} and {len(intercepts)}.")
        changed = False
        for i, layer in enumerate(linear):
            for name, given, own in (("coefs_", coefs[i], layer.weight), ("intercepts_", intercepts[i], layer.bias)):
                if given is own:
                    continue
                given = np.asarray(given)
                if given.shape != own.shape:
                    raise ValueError(f"{name}[{i}] has shape {given.shape}, but the network expects {own.shape}.")
                own[...] = given
                changed = True
        if changed or not isinstance(coefs, list) or not isinstance(intercepts, list):
            self._bind_attributes()

    def _build(self, layer_units, dtype):
        """A fastmlp Model for these widths, initialised as scikit-learn does:
        Glorot-uniform weights and biases drawn from self._random_state."""
        output, _ = _OUTPUTS[self.out_activation_]
        model = MLP(layer_units, activation=_ACTIVATIONS[self.activation], output=output,
                    dtype=dtype, init="zeros")
        init = Xavier.sklearn(logistic=self.activation == "logistic")
        for layer in model.layers:
            if isinstance(layer, Linear):
                layer.initialise(self._random_state, init)
        return model

    def _initialize(self, Y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        self._model = self._build(layer_units, dtype)
        self._trainer = None
        self._bind_attributes()
        self._best_params = self._model.params.copy()
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    @property
    def _loss_name(self):
        return _OUTPUTS[self.out_activation_][1]

    def _per_sample(self):
        """The engine's per_sample for scikit-learn's losses: their gradients
        sum over the outputs; the log-loss it reports does too, while its
        squared error (MLPRegressor) is a mean over them ("gradient")."""
        return "gradient" if self._loss_name == "half_mse" else True

    # -- fitting --------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y, class_weights = self._validate_input(X, y, incremental, reset=first_pass,
                                              dtype=self._fit_dtype(first_pass))
        W = as_sample_weight(sample_weight, X.shape[0])
        if class_weights is not None:
            W = class_weights if W is None else W * class_weights
            if not W.any():
                raise ValueError("Sample weights must contain at least one non-zero number (sample_weight "
                                 "times the class weights is all zero).")
        # All-ones weights are the unweighted problem: the unweighted path gives its numbers exactly.
        W = _NO_WEIGHTS if W is None or np.all(W == 1.0) else W
        if Y.ndim == 1:
            Y = Y.reshape((-1, 1))
        n_samples, n_features = X.shape
        layer_units = [n_features] + hidden + [Y.shape[1]]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, layer_units, X.dtype.type)
        else:
            self._sync_attributes()
            if list(layer_units) != self._model.sizes:
                raise ValueError(f"The network has layer sizes {self._model.sizes}, but this call needs "
                                 f"{layer_units} (hidden_layer_sizes or the number of outputs changed); "
                                 f"set warm_start=False to start a new network.")
            self.n_outputs_ = Y.shape[1]
        dtype = self._model.dtype
        # A sparse X stays a scipy matrix until split for early stopping; then
        # each part becomes SparseRows, read in place by the engine.
        if is_sparse(X):
            X = X.tocsr()  # rows are what the engine and the validation split take
        else:
            X = np.require(X, dtype, ["C", "W", "A"])
        Y = np.require(Y, dtype, ["C", "W", "A"])
        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, Y, W, incremental)
        else:
            self._fit_lbfgs(X, Y, W)
        if not np.all(np.isfinite(self._model.params)):
            raise ValueError(_NON_FINITE)
        return self

    def _loss_param(self):
        return "squared_error"

    def _new_trainer(self, batch_size):
        sgd = self.solver == "sgd"
        if sgd and self.momentum >= 1:
            raise ValueError(f"momentum={self.momentum!r} is not supported by fastmlp's sgd solver (the velocity "
                             f"would never decay); use a momentum below 1.")
        return Trainer(self._model, loss=self._loss_name, lr=self.learning_rate_init, batch_size=batch_size,
                       shuffle=False, seed=0, optimizer=self.solver,
                       momentum=self.momentum if sgd else 0.0,
                       nesterov=bool(sgd and self.nesterovs_momentum and self.momentum > 0),
                       beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                       alpha=self.alpha, per_sample=self._per_sample(), engine=self.engine)

    def _chunk(self, early_stopping):
        """How many epochs may run in one engine call: as many as cannot change
        scikit-learn's course. Without validation or a per-epoch learning
        rate, nothing happens between epochs (the shuffles are drawn ahead)
        until _no_improvement_count can exceed n_iter_no_change, which it can
        only at the last of these epochs."""
        if early_stopping:
            return 1
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            return 1
        room = self.n_iter_no_change + 1 - self._no_improvement_count
        if not np.isfinite(room):
            return self.max_iter
        return max(1, int(room))

    def _epoch_orders(self, sample_idx, epochs):
        """scikit-learn's sample orders for the next `epochs` shuffled epochs,
        drawn from self._random_state as its fit draws them (one
        ``shuffle(sample_idx)`` per epoch, each permuting the last), laid end
        to end: (epochs * n,) int64. Returns (the orders, the last order)."""
        n = sample_idx.shape[0]
        orders = np.empty(epochs * n, dtype=np.int64)
        for e in range(epochs):
            # sklearn.utils.shuffle(sample_idx, random_state=...) draws exactly this.
            perm = np.arange(n)
            self._random_state.shuffle(perm)
            sample_idx = sample_idx[perm]
            orders[e * n:(e + 1) * n] = sample_idx
        return orders, sample_idx

    def _fit_stochastic(self, X, Y, W, incremental):
        if not incremental:
            self._trainer = None  # built below, once the batch size is known
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            # Like scikit-learn: stratify binary problems only (not multi-class, not multi-label).
            stratify = Y.astype(bool) if (self._is_classifier and self.n_outputs_ == 1) else None
            # The weights are split with the data (the same draws as without them).
            parts = train_test_split(X, Y, *([W] if W.shape[0] else []), random_state=self._random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X_train, X_val, Y_train, y_val = parts[:4]
            W_train, W_val = (parts[4], parts[5]) if W.shape[0] else (W, None)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                                 "or the size of your dataset.")
            X_train = self._engine_input(X_train)
            Y_train = np.ascontiguousarray(Y_train)
            X_val = self._engine_input(X_val)
            W_train = np.ascontiguousarray(W_train)
        else:
            X_train, Y_train, X_val, y_val = self._engine_input(X), Y, None, None
            W_train, W_val = W, None

        n_samples = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        if getattr(self, "_trainer", None) is None:
            self._trainer = self._new_trainer(batch_size)
        trainer = self._trainer
        trainer.batch_size = batch_size

        sample_idx = np.arange(n_samples)
        self.n_iter_ = 0
        # Several epochs run in each engine call (see _chunk), with their
        # shuffles drawn ahead as one order per epoch that the engine reads the
        # rows in (nothing is copied); calls grow as Trainer.fit's do, and
        # Ctrl-C, caught between calls, ends training on an epoch boundary.
        chunk = 1
        with InterruptGuard() as guard:
            while self.n_iter_ < self.max_iter:
                count = 1 if incremental else min(self._chunk(early_stopping), chunk, self.max_iter - self.n_iter_,
                                                  max(1, MAX_DRAWS // n_samples))
                order = _NO_ORDER
                if self.shuffle:
                    rng_state = self._random_state.get_state()
                    order, sample_idx = self._epoch_orders(sample_idx, count)
                t0 = time.perf_counter()
                try:
                    losses = trainer.run_epochs(X_train, Y_train, count, W_train, order,
                                                planned_epochs=self.max_iter)
                except TrainingDiverged as diverged:
                    if self.shuffle:  # the draws of the epochs run, as scikit-learn's fit makes them
                        self._random_state.set_state(rng_state)
                        self._epoch_orders(np.arange(n_samples), diverged.epoch)
                    if early_stopping:
                        self._model.params[...] = self._best_params
                        warnings.warn(f"Training diverged in epoch {self.n_iter_ + diverged.epoch}; the weights "
                                      f"of the best validation score are kept.", ConvergenceWarning)
                        return
                    raise ValueError(_NON_FINITE) from None
                elapsed = time.perf_counter() - t0
                stop = False
                for loss in losses:
                    stop = self._end_epoch(float(loss), n_samples, early_stopping, X_val, y_val, W_val)
                    if stop or incremental:
                        stop = True
                        break
                    if self.n_iter_ == self.max_iter:
                        warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                                      f"the optimization hasn't converged yet.", ConvergenceWarning)
                if guard.hit:
                    warnings.warn("Training interrupted by user.")
                    break
                if stop:
                    break
                chunk = grown_chunk(chunk, len(losses), elapsed)
        if early_stopping:
            self._model.params[...] = self._best_params

    def _engine_input(self, X):
        """X in the form the engine reads: a C-contiguous array, or SparseRows
        of the model's dtype for a sparse X."""
        if is_sparse(X):
            return as_sparse_rows(X, "X", self._model.dtype)
        return np.ascontiguousarray(X)

    def _end_epoch(self, loss, n_samples, early_stopping, X_val, y_val, W_val):
        """scikit-learn's bookkeeping after an epoch; returns True to stop."""
        trainer = self._trainer
        self.n_iter_ += 1
        self.loss_ = loss
        self.t_ += n_samples
        self.loss_curve_.append(loss)
        if self.verbose:
            print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
        self._update_no_improvement_count(early_stopping, X_val, y_val, W_val)
        sgd = self.solver == "sgd"
        if sgd and self.learning_rate == "invscaling":
            trainer.optimizer.lr = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
        if self._no_improvement_count > self.n_iter_no_change:
            if early_stopping:
                msg = ("Validation score did not improve more than tol=%f for %d consecutive epochs."
                       % (self.tol, self.n_iter_no_change))
            else:
                msg = ("Training loss did not improve more than tol=%f for %d consecutive epochs."
                       % (self.tol, self.n_iter_no_change))
            if sgd and self.learning_rate == "adaptive":
                if trainer.optimizer.lr <= 1e-6:
                    if self.verbose:
                        print(msg + " Learning rate too small. Stopping.")
                    return True
                trainer.optimizer.lr /= 5.0
                if self.verbose:
                    print(msg + " Setting learning rate to %f" % trainer.optimizer.lr)
                self._no_improvement_count = 0
                return False
            if self.verbose:
                print(msg + " Stopping.")
            return True
        return False

    def _update_no_improvement_count(self, early_stopping, X_val, y_val, W_val=None):
        if early_stopping:
            score = self._score_validated(X_val, y_val, W_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self._model.params.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _score_validated(self, X, Y, W=None):
        """scikit-learn's validation score (accuracy or R^2, weighted by W when
        given) of the network on X against encoded targets Y, computed
        directly on the encoded arrays: the metric functions' own checks
        would cost more than the epoch."""
        with warnings.catch_warnings():  # an overflow is scored nan, as scikit-learn does
            warnings.simplefilter("ignore", RuntimeWarning)
            out = self._model.predict(X)
        if not np.all(np.isfinite(out)):
            return np.nan
        score = self._fast_score(out, Y, W)
        if score is None:
            score = self._score_function(self._decode(Y), self._decode(out), W)
        return float(score)

    def _fit_lbfgs(self, X, Y, W):
        model = self._model
        # scikit-learn packs all weights, then all biases; keep its order so that
        # L-BFGS sees the very same vector.
        linear = model.layout[model.layout[:, K.L_KIND] == K.LINEAR]
        order = np.concatenate([np.arange(r[K.L_W], r[K.L_W] + r[K.L_IN] * r[K.L_OUT]) for r in linear]
                               + [np.arange(r[K.L_B], r[K.L_B] + r[K.L_OUT]) for r in linear])
        loss, alpha = self._loss_name, float(self.alpha)
        weights = W if W.shape[0] else None
        X = self._engine_input(X)

        def loss_and_gradient(x):
            model.params[order] = x
            value = model.loss_and_gradient(X, Y, loss, alpha=alpha, per_sample=self._per_sample(),
                                            sample_weight=weights)
            return value, model.grads[order].astype(np.float64)

        iprint = 1 if (self.verbose is True or self.verbose >= 1) else -1
        try:
            from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
            extra = _get_additional_lbfgs_options_dict("iprint", iprint)
        except ImportError:  # pragma: no cover
            extra = {}
        result = scipy.optimize.minimize(loss_and_gradient, model.params[order].astype(np.float64),
                                         method="L-BFGS-B", jac=True,
                                         options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                                                  "gtol": self.tol, **extra})
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = result.fun
        model.params[order] = result.x

    # -- public API -------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classification) or real numbers (regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights (>= 0), with scikit-learn's semantics: each batch's
            loss is the weighted average, and its gradient and the L2 penalty
            are divided by the batch's weight sum.

        Returns
        -------
        self : a trained estimator.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _forward(self, X):
        """Validated X -> network outputs (n, n_outputs)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=_SPARSE_FORMATS, dtype=(np.float64, np.float32))
        self._sync_attributes()
        return self._model.predict(X)

    @property
    def model_(self):
        """The fitted network as a ``fastmlp.Model`` (its parameters are the
        arrays of ``coefs_`` and ``intercepts_``; arrays assigned to those are
        copied in first)."""
        check_is_fitted(self)
        self._sync_attributes()
        return self._model

    def to_onnx(self, path=None, opset=None, *, feature_names=None):
        """The fitted estimator as an ONNX graph (an ``onnx.ModelProto``),
        also written to `path` when given: see :func:`fastmlp.to_onnx`.
        Classifiers output ``label`` and ``probabilities``, regressors
        ``variable``; needs ``pip install 'fastmlp[onnx]'``."""
        from .export import to_onnx
        return to_onnx(self, path, opset, feature_names=feature_names)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def __setstate__(self, state):
        super().__setstate__(state)
        if getattr(self, "_model", None) is not None and hasattr(self, "coefs_"):
            # Model and Optimizer make their own buffers writeable when unpickled.
            # Unpickled coefs_ are copies: copy them in and point them at the model again.
            linear = self._linear_layers()
            for layer, c, b in zip(linear, self.coefs_, self.intercepts_):
                layer.weight[...] = c
                layer.bias[...] = b
            self._bind_attributes()


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, trained
    by fastmlp's compiled engine.

    Same parameters, defaults, attributes and methods as
    ``sklearn.neural_network.MLPClassifier`` (see its documentation), plus
    ``dtype``: None (default) computes in X's precision as scikit-learn does
    (float32 stays float32, anything else float64); np.float32 or np.float64
    forces one; and ``class_weight``: None (default), "balanced" or a dict
    {label: weight} (a list of dicts for multi-label targets), which weighs
    each sample by its class as ``sklearn.utils.compute_sample_weight`` does,
    multiplied into fit's ``sample_weight``. Binary and multi-label problems
    use a logistic output with binary log-loss, multi-class problems a
    softmax with log-loss.

    Example
    -------
    >>> import numpy as np, fastmlp as fm
    >>> X = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]] * 10)
    >>> y = np.array([0, 1, 1, 0] * 10)
    >>> clf = fm.MLPClassifier((8,), solver="lbfgs", random_state=1).fit(X, y)
    >>> clf.predict(X[:4]).tolist()
    [0, 1, 1, 0]
    """

    _is_classifier = True
    _parameter_constraints = {**_BaseMLP._parameter_constraints,
                              "class_weight": [dict, list, StrOptions({"balanced"}), None]}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, class_weight=None,
                 dtype=None, engine="auto"):
        self._store_parameters(locals())

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental, reset, dtype):
        """(X, encoded targets Y, the class weights of the samples or None)."""
        X, y = validate_data(self, X, y, accept_sparse=_SPARSE_FORMATS, multi_output=True, dtype=dtype, reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        Y = self._label_binarizer.transform(y).astype(bool)
        class_weights = None
        if self.class_weight is not None:
            if incremental and isinstance(self.class_weight, str):
                raise ValueError("class_weight='balanced' is not supported for partial_fit: the classes of one "
                                 "batch are not those of the data. Compute the weights once with "
                                 "sklearn.utils.compute_class_weight('balanced', classes=classes, y=y) and pass "
                                 "them as a dict.")
            class_weights = compute_sample_weight(self.class_weight, y)
        return X, Y.astype(X.dtype), class_weights

    def _score_function(self, y, y_pred, sample_weight=None):
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def _fast_score(self, out, Y, W=None):
        """accuracy_score of the decoded predictions, on the encoded arrays
        (weighted by W when given)."""
        kind = self._label_binarizer.y_type_
        if kind == "multiclass":
            correct = out.argmax(axis=1) == Y.argmax(axis=1)
        elif kind == "binary" and len(self.classes_) == 2:
            correct = (out[:, 0] > 0.5) == (Y[:, 0] > 0.5)
        elif kind == "multilabel-indicator":
            correct = np.all((out > 0.5) == (Y > 0.5), axis=1)
        else:
            return None
        return np.mean(correct) if W is None else np.average(correct, weights=W)

    def _decode(self, out):
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def predict(self, X):
        """Predict classes for X: an array of shape (n_samples,) (or
        (n_samples, n_classes) of 0/1 for multi-label targets)."""
        return self._decode(self._forward(X))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch of the stochastic solver over X, y (weighted by
        sample_weight, as in fit), continuing from the current weights and
        optimizer state. `classes` (all labels that will ever appear) is
        required on the first call."""
        self._validate_params()
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes)."""
        out = self._forward(X)
        if self.n_outputs_ == 1:
            p = out.ravel()
            return np.vstack([1 - p, p]).T
        return out

    def predict_log_proba(self, X):
        """Logarithm of predict_proba(X)."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``, trained
    by fastmlp's compiled engine (identity output and squared error, or with
    loss="poisson" an exponential output, the log link, and the Poisson
    deviance, for targets y >= 0).

    Same parameters, defaults, attributes and methods as
    ``sklearn.neural_network.MLPRegressor`` (see its documentation), plus
    ``dtype`` (as in MLPClassifier).

    Example
    -------
    >>> import numpy as np, fastmlp as fm
    >>> X, y = fm.datasets.celsius(200)
    >>> reg = fm.MLPRegressor(hidden_layer_sizes=(), solver="lbfgs", alpha=0.0).fit(X, y.ravel())
    >>> round(float(reg.coefs_[0][0, 0]), 6), round(float(reg.intercepts_[0][0]), 4)
    (0.555556, -17.7778)
    """

    _is_classifier = False
    _parameter_constraints = {**_BaseMLP._parameter_constraints,
                              "loss": [StrOptions({"squared_error", "poisson"})]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 max_fun=15000, dtype=None, engine="auto"):
        self._store_parameters(locals())

    def _loss_param(self):
        return self.loss

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset, dtype):
        X, y = validate_data(self, X, y, accept_sparse=_SPARSE_FORMATS, multi_output=True, y_numeric=True,
                             dtype=dtype, reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and y.size and y.min() < 0:
            i = np.unravel_index(int(np.argmin(y)), y.shape)
            raise ValueError(f"loss='poisson' needs targets y >= 0 (counts or rates); y has the negative value "
                             f"{y[i]:g} at index {i[0] if len(i) == 1 else i}.")
        return X, y, None

    def _score_function(self, y, y_pred, sample_weight=None):
        return r2_score(y, y_pred, sample_weight=sample_weight)

    def _fast_score(self, out, Y, W=None):
        """r2_score (uniform average over outputs, weighted by W when given),
        the same operations."""
        if W is not None:
            w = W[:, None]
            with np.errstate(over="ignore", invalid="ignore"):
                numerator = (w * (Y - out) ** 2).sum(axis=0)
            denominator = (w * (Y - np.average(Y, axis=0, weights=W)) ** 2).sum(axis=0)
            if np.any(denominator == 0):
                return None
            return np.mean(1 - numerator / denominator)
        with np.errstate(over="ignore", invalid="ignore"):  # huge outputs score -inf, as in r2_score
            numerator = ((Y - out) ** 2).sum(axis=0)
        denominator = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
        if np.any(denominator == 0):
            return None  # scikit-learn's special cases
        return np.mean(1 - numerator / denominator)

    def _decode(self, out):
        return out.ravel() if out.shape[1] == 1 else out

    def predict(self, X):
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        return self._decode(self._forward(X))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of the stochastic solver over X, y (weighted by
        sample_weight, as in fit), continuing from the current weights and
        optimizer state."""
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# skl2onnx converts these estimators once their converters are registered
# (fastmlp.register_skl2onnx). Importing skl2onnx costs seconds, so it is never
# imported here; when the user has already imported it, register right away.
if "skl2onnx" in sys.modules:
    from .export import register_skl2onnx
    register_skl2onnx()
