"""What kind of problem a target column poses, and the output layer and loss
that fit it: the one place where the command line and the benchmark decide.

>>> import numpy as np
>>> from fastmlp.tasks import infer_task
>>> infer_task(np.array([[0.0], [1.0], [1.0]]))
('binary', 1, 'sigmoid')
>>> infer_task(np.array([[0.0], [2.0], [1.0]]))
('multiclass', 3, 'softmax')
"""

import numpy as np

from . import losses

MAX_CLASSES = 50  # integer targets with up to this many classes are classification by default
TASKS = ("binary", "multiclass", "regression")


def infer_task(y, output=None, name="the target", classes=None):
    """(task, n_outputs, output activation) for the target column y (n, 1):

    * two values 0/1 -> "binary", 1 output, sigmoid;
    * integers 0..k-1, every class present, 3 <= k <= MAX_CLASSES ->
      "multiclass", k outputs, softmax;
    * anything else -> "regression", 1 output, identity.

    `classes`: the text labels y indexes (see datasets.load_labelled): always
    classification, binary for two classes (sigmoid or softmax output),
    multiclass for more, whatever their number.

    `output` overrides the output activation; a softmax output needs class
    indices. Raises ValueError naming `name` when the target does not fit."""
    if classes is not None:
        k = len(classes)
        if k < 2:
            raise ValueError(f"{name} holds the non-numeric value {classes[0]!r} in every row; as class labels it "
                             "needs at least two different values.")
        if output not in (None, "sigmoid", "softmax") or (output == "sigmoid" and k > 2):
            need = "sigmoid or softmax" if k == 2 else "softmax"
            raise ValueError(f"{name} holds the text class labels {_listed(classes)}, which need a {need} output; "
                             f"got --output {output}.")
        if k == 2 and output != "softmax":
            return "binary", 1, "sigmoid"
        return "multiclass", k, "softmax"
    y = np.asarray(y).ravel()
    values = np.unique(y)
    integer = bool(np.all(values == np.round(values)))
    binary = bool(np.all(np.isin(values, (0.0, 1.0))))
    classes = int(values.max()) + 1 if integer and values.size and values.min() >= 0 else 0
    if output is None:
        if binary:
            output = "sigmoid"
        elif 3 <= classes <= MAX_CLASSES:
            if values.size != classes:        # e.g. 1, 2 or 0, 40: labels with gaps
                found = ", ".join(f"{v:g}" for v in values[:12]) + (", ..." if values.size > 12 else "")
                missing = sorted(set(range(classes)) - set(values.astype(np.int64).tolist()))
                gaps = ", ".join(map(str, missing)) if len(missing) <= 5 else \
                    f"{len(missing)} of 0..{classes - 1}"
                raise ValueError(f"{name} has the integer labels {found}, but class labels must be 0..k-1 "
                                 f"with every class present ({gaps} missing); re-encode them as "
                                 f"0..{values.size - 1}, or give --output identity to treat the target as "
                                 "a number (regression).")
            output = "softmax"
        else:
            output = "identity"
    if output == "softmax":
        if not integer or values.min() < 0:
            raise ValueError("--output softmax needs a target of class indices 0, 1, 2, ...; "
                             f"the target has values from {values.min():g} to {values.max():g}.")
        if classes > 1000:
            raise ValueError(f"--output softmax: the target's largest class index is {classes - 1}; "
                             "that many classes is surely not what you meant (use --output identity).")
        return "multiclass", max(classes, 2), output
    if output == "sigmoid" and binary:
        return "binary", 1, output
    return "regression", 1, output


def _listed(labels, limit=6):
    shown = ", ".join(repr(v) for v in labels[:limit])
    return shown + (f", ... ({len(labels)} in all)" if len(labels) > limit else "")


def default_loss(output, y=None, regression="mse"):
    """The loss that goes with an output activation (a layer's `activation`
    name, None for a Linear output): cross_entropy after softmax, bce after
    sigmoid when the targets y lie in [0, 1] (or are not given), poisson
    after exp (the log link), else `regression` (mse; the tutorials' traces
    use half_mse, E = 1/2 (y - t)^2)."""
    if output == "softmax":
        return "cross_entropy"
    if output == "exp":
        return "poisson"
    if output == "sigmoid":
        if y is None:
            return "bce"
        y = np.asarray(y)
        if y.min() >= 0 and y.max() <= 1:
            return "bce"
    return regression


def model_task(model, y=None):
    """The task a model's output layer poses: "multiclass" after Softmax,
    "binary" after a Sigmoid with one output (when targets y are given, only
    if they are all 0 or 1), else "regression"."""
    from . import kernels as K
    kind = model.output_kind
    if kind == K.SOFTMAX:
        return "multiclass"
    if kind == K.SIGMOID and model.n_outputs == 1:
        if y is None or np.all(np.isin(np.asarray(y), (0.0, 1.0))):
            return "binary"
    return "regression"


def metric_name(task):
    """The metric reported for a task: "accuracy" for classification, "r2" for regression."""
    return "r2" if task == "regression" else "accuracy"


def labels_of(task, y):
    """Class indices (n,) int64 from targets y of a classification task: 0/1
    values (binary), class indices (n,) or (n, 1), or one-hot / probability
    rows (n, k) (multiclass: the largest entry of each row)."""
    y = np.asarray(y)
    if task == "binary":
        return (y.reshape(len(y), -1)[:, 0] > 0.5).astype(np.int64)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1).astype(np.int64)
    return y.ravel().astype(np.int64)


def predicted_labels(task, pred):
    """Class indices (n,) from a classifier's outputs: P(class 1) > 0.5 for
    "binary", the most probable class for "multiclass"."""
    pred = np.asarray(pred)
    if task == "binary":
        return (pred.reshape(len(pred), -1)[:, 0] > 0.5).astype(np.int64)
    return pred.argmax(axis=1).astype(np.int64)


def score(task, pred, y):
    """Accuracy of predictions pred (n, k) against labels y (n,) for "binary"
    (pred: the probability of class 1) and "multiclass" (pred: one column per
    class; y may also be one-hot rows); R^2 of pred against targets y (n, k)
    for "regression" (NaN when y is constant)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(len(y), -1)
    y = np.asarray(y)
    if task == "binary":
        return float(np.mean((pred[:, 0] > 0.5) == (y.reshape(len(y), -1)[:, 0] > 0.5)))
    if task == "multiclass":
        return float(np.mean(pred.argmax(axis=1) == labels_of(task, y)))
    y = np.asarray(y, dtype=np.float64).reshape(pred.shape)
    ss_tot = total_sum_of_squares(y)
    return 1.0 - float(np.sum((pred - y) ** 2)) / ss_tot if ss_tot > 0 else float("nan")


def total_sum_of_squares(y):
    """R^2's denominator for targets y (n,) or (n, k): the squared deviations
    from each column's mean, summed (float64; 0.0 for no rows)."""
    if len(y) == 0:
        return 0.0
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    return float(np.sum((y - y.mean(axis=0)) ** 2))


def task_code(task):
    """The compiled engine's code of a task name ("binary", "multiclass", "regression")."""
    from . import kernels as K
    return {"binary": K.TASK_BINARY, "multiclass": K.TASK_MULTICLASS, "regression": K.TASK_REGRESSION}[task]


def log_loss(task, pred, y, clip_epsilon=losses.clip_epsilon(np.float64)):
    """Mean negative log-likelihood of the true classes (scikit-learn's
    log_loss): pred holds P(class 1) for "binary", one column per class for
    "multiclass"; probabilities are clipped to [clip_epsilon, 1 - clip_epsilon]
    (by default the bound of the float64 losses, fastmlp.losses.clip_epsilon)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(len(y), -1)
    labels = labels_of(task, y)
    if task == "binary":
        p1 = np.clip(pred[:, 0], clip_epsilon, 1 - clip_epsilon)
        p = np.where(labels == 1, p1, 1 - p1)
    else:
        p = np.clip(pred[np.arange(len(labels)), labels], clip_epsilon, 1.0)
    return float(-np.mean(np.log(p)))


def confusion_matrix(task, pred, y, n_classes=None):
    """counts[i, j]: samples of true class i predicted as class j (rows: true
    classes, columns: predictions, as in scikit-learn)."""
    truth, guess = labels_of(task, y), predicted_labels(task, pred)
    k = n_classes or (2 if task == "binary" else np.asarray(pred).reshape(len(y), -1).shape[1])
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (truth, guess), 1)
    return counts


def evaluate(task, pred, y):
    """The metrics of predictions pred against targets y, as a dict of plain
    numbers: accuracy, log_loss, the number correct and the confusion matrix
    for classifiers; r2, mae and rmse for regressors (r2 is None for a
    constant target)."""
    if task in ("binary", "multiclass"):
        truth, guess = labels_of(task, y), predicted_labels(task, pred)
        return {"accuracy": score(task, pred, y), "correct": int(np.sum(truth == guess)),
                "log_loss": log_loss(task, pred, y), "confusion_matrix": confusion_matrix(task, pred, y).tolist()}
    pred = np.asarray(pred, dtype=np.float64).reshape(len(y), -1)
    err = pred - np.asarray(y, dtype=np.float64).reshape(pred.shape)
    r2 = score(task, pred, y)
    return {"r2": None if np.isnan(r2) else r2, "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err ** 2)))}
