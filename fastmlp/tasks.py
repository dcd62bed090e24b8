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

MAX_CLASSES = 50  # integer targets with up to this many classes are classification by default


def infer_task(y, output=None, name="the target"):
    """(task, n_outputs, output activation) for the target column y (n, 1):

    * two values 0/1 -> "binary", 1 output, sigmoid;
    * integers 0..k-1, every class present, 3 <= k <= MAX_CLASSES ->
      "multiclass", k outputs, softmax;
    * anything else -> "regression", 1 output, identity.

    `output` overrides the output activation; a softmax output needs class
    indices. Raises ValueError naming `name` when the target does not fit."""
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


def default_loss(output, y):
    """The loss that goes with an output activation: cross_entropy after
    softmax, bce after sigmoid when the targets lie in [0, 1], poisson after
    exp (the log link), else mse."""
    if output == "softmax":
        return "cross_entropy"
    if output == "exp":
        return "poisson"
    y = np.asarray(y)
    return "bce" if output == "sigmoid" and y.min() >= 0 and y.max() <= 1 else "mse"


def score(task, pred, y):
    """Accuracy of predictions pred (n, k) against labels y (n,) for "binary"
    (pred: the probability of class 1) and "multiclass" (pred: one column per
    class); R^2 of pred against targets y (n, k) for "regression" (NaN when
    y is constant)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(len(y), -1)
    y = np.asarray(y)
    if task == "binary":
        return float(np.mean((pred[:, 0] > 0.5) == (y.ravel() > 0.5)))
    if task == "multiclass":
        return float(np.mean(pred.argmax(axis=1) == y.ravel().astype(np.int64)))
    y = np.asarray(y, dtype=np.float64).reshape(pred.shape)
    ss_tot = float(np.sum((y - y.mean(axis=0)) ** 2))
    return 1.0 - float(np.sum((pred - y) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
