"""Checks and normalisation of every input, shared by all entry points.

Everything a kernel receives passes through here first: arrays come out
C-contiguous, writeable and of the model's dtype (so each kernel compiles once
per dtype, never once per call), and scalars come out as plain ``float`` or
``int``. Errors name the argument, what was expected and what was given.
"""

import difflib
import numbers

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


class NotFittedError(ValueError, AttributeError):
    """Raised when a model or estimator is used before it was trained."""


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_dtype(dtype, name="dtype"):
    """Return np.float32 or np.float64 for any spelling of those; raise TypeError otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64. Got {_describe(dtype)}.") from None
    if dt == np.float32:
        return np.float32
    if dt == np.float64:
        return np.float64
    raise TypeError(f"{name} must be float32 or float64. Got {dt}.")


def check_choice(value, name, choices):
    """Return `value` if it is one of `choices` (strings), else a ValueError
    listing the valid names and suggesting the closest one."""
    if isinstance(value, str) and value in choices:
        return value
    valid = ", ".join(repr(c) for c in choices)
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.5)
        if close:
            hint = f" Did you mean {close[0]!r}?"
    raise ValueError(f"The {name!r} parameter must be one of {valid}. Got {_describe(value)}.{hint}")


def check_float(value, name, low=None, high=None, low_inclusive=False, high_inclusive=True):
    """Return value as a finite Python float within the bounds, else ValueError/TypeError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"The {name!r} parameter must be a real number. Got {_describe(value)}.")
    v = float(value)
    lo = "" if low is None else (f" >= {low}" if low_inclusive else f" > {low}")
    hi = "" if high is None else (f" <= {high}" if high_inclusive else f" < {high}")
    bounds = " and".join(b for b in (lo, hi) if b)
    ok = np.isfinite(v)
    if ok and low is not None:
        ok = v >= low if low_inclusive else v > low
    if ok and high is not None:
        ok = v <= high if high_inclusive else v < high
    if not ok:
        raise ValueError(f"The {name!r} parameter must be a finite float{bounds}. Got {value!r}.")
    return v


def check_int(value, name, low=None):
    """Return value as a Python int >= low, else ValueError/TypeError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"The {name!r} parameter must be an integer. Got {_describe(value)}.")
    v = int(value)
    if low is not None and v < low:
        raise ValueError(f"The {name!r} parameter must be an integer >= {low}. Got {v}.")
    return v


def _to_array(value, name):
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    kind = arr.dtype.kind
    if kind in "fiub":
        return arr
    if kind == "c":
        raise TypeError(f"{name} must be real numbers; complex values are not supported (dtype {arr.dtype}).")
    if kind in "USO":
        # Object arrays of plain numbers (e.g. from a list mixing int and float) are fine.
        if kind == "O":
            try:
                return arr.astype(np.float64)
            except (TypeError, ValueError):
                pass
        raise TypeError(f"{name} must be numeric; got an array of dtype {arr.dtype} "
                        f"(strings and objects are not converted).")
    raise TypeError(f"{name} must be numeric; got an array of dtype {arr.dtype}.")


def check_finite(arr, name):
    """Raise ValueError naming how many values are NaN or infinite and the first position."""
    if arr.dtype.kind != "f":
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        count = int(bad.sum())
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = first[0] if len(first) == 1 else first
        raise ValueError(f"{name} contains {count} NaN or infinite value{'s' if count > 1 else ''} "
                         f"(first at index {where}); expected only finite numbers.")


def as_matrix(value, name, dtype, n_features=None):
    """Validate a 2-D input matrix and return it C-contiguous, writeable, of `dtype`."""
    arr = _to_array(value, name)
    if arr.ndim == 1:
        raise ValueError(f"Expected a 2-D array for {name}, got a 1-D array of shape {arr.shape}. "
                         f"Reshape it with .reshape(-1, 1) for one feature or .reshape(1, -1) for one sample.")
    if arr.ndim != 2:
        raise ValueError(f"Expected a 2-D array for {name}, got {arr.ndim} dimensions (shape {arr.shape}).")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); at least one sample is required.")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 features (shape {arr.shape}); at least one is required.")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, but the model expects {n_features}.")
    check_finite(arr, name)
    return np.require(arr, dtype=dtype, requirements=["C", "W", "A"])


def as_targets(value, name, dtype, n_rows, n_outputs, loss=None):
    """Validate targets for a model with `n_outputs` outputs and return them as a
    C-contiguous (n_rows, n_outputs) array of `dtype`.

    A 1-D y is accepted for a single output; for cross-entropy a 1-D array of
    integer class indices is turned into one-hot rows.
    """
    arr = _to_array(value, name)
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"Expected a 1-D or 2-D array for {name}, got shape {arr.shape}.")
    if arr.shape[0] != n_rows:
        raise ValueError(f"X has {n_rows} samples, but {name} has {arr.shape[0]}; they must match.")
    check_finite(arr, name)
    if loss == "cross_entropy" and arr.ndim == 1 and n_outputs > 1:
        if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} for cross_entropy must be integer class indices in [0, {n_outputs - 1}] "
                             f"or one-hot rows of width {n_outputs}; got non-integer values.")
        labels = arr.astype(np.int64)
        bad = (labels < 0) | (labels >= n_outputs)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name} has class index {labels[i]} at position {i}, but the model has "
                             f"{n_outputs} outputs; expected indices in [0, {n_outputs - 1}].")
        onehot = np.zeros((n_rows, n_outputs), dtype=dtype)
        onehot[np.arange(n_rows), labels] = 1.0
        return onehot
    if arr.ndim == 1:
        if n_outputs != 1:
            raise ValueError(f"{name} is 1-D, but the model has {n_outputs} outputs; "
                             f"expected shape ({n_rows}, {n_outputs}).")
        arr = arr.reshape(-1, 1)
    if arr.shape[1] != n_outputs:
        raise ValueError(f"{name} has {arr.shape[1]} outputs per sample, but the model has {n_outputs}.")
    out = np.require(arr, dtype=dtype, requirements=["C", "W", "A"])
    if loss == "bce":
        if out.min() < 0 or out.max() > 1:
            raise ValueError(f"{name} for bce must lie in [0, 1]; got values from {out.min():g} to {out.max():g}.")
    elif loss == "cross_entropy":
        if out.min() < 0:
            raise ValueError(f"{name} for cross_entropy must be one-hot or probability rows; "
                             f"got a negative value {out.min():g}.")
        sums = out.sum(axis=1, dtype=np.float64)
        tol = 1e-4 if dtype == np.float32 else 1e-8
        off = np.abs(sums - 1.0) > tol
        if off.any():
            i = int(np.argmax(off))
            raise ValueError(f"{name} for cross_entropy must be one-hot or probability rows summing to 1; "
                             f"row {i} sums to {sums[i]:g}.")
    return out
