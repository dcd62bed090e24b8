"""Checks and normalisation of every input, shared by all entry points.

Everything a kernel receives passes through here first: arrays come out
C-contiguous, writeable and of the model's dtype (so each kernel compiles once
per dtype, never once per call), and scalars come out as plain ``float`` or
``int``. Errors name the argument, what was expected and what was given.
"""

import difflib
import errno
import numbers
import os
from typing import NamedTuple

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)
DTYPE_NAMES = tuple(np.dtype(t).name for t in FLOAT_DTYPES)   # ("float32", "float64")


def float_dtype_of(x):
    """The dtype kernels should use for x: its own if float32 or float64, else float64."""
    dt = getattr(x, "dtype", None)
    return dt.type if dt in FLOAT_DTYPES else np.float64


class NotFittedError(ValueError, AttributeError):
    """Raised when a model or estimator is used before it was trained."""


class MissingDependency(ImportError):
    """An optional package (one of fastmlp's extras) is not installed; the
    message says what to run to install it."""


def missing_dependency(feature, package, extra=None, cause=None):
    """The MissingDependency to raise when `feature` ("plotting") needs
    `package` ("matplotlib"), which is not installed: the message names the
    command that installs it, ``pip install 'fastmlp[extra]'`` for a package
    that the extra `extra` brings, else ``pip install package``. `cause` (the
    ImportError, say) is shown in brackets."""
    command = f"pip install 'fastmlp[{extra}]'" if extra else f"pip install {package}"
    detail = f" ({cause})" if cause else ""
    return MissingDependency(f"{feature} needs {package}{detail}; install it with {command}.")


def describe(value):
    """A short description of a value for error messages: an array's dtype
    and shape, else its repr cut to 60 characters."""
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."




def check_dtype(dtype, name="dtype"):
    """Return np.float32 or np.float64 for any spelling of those; raise TypeError otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64. Got {describe(dtype)}.") from None
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
    raise ValueError(f"The {name!r} parameter must be one of {valid}. Got {describe(value)}.{hint}")


def check_float(value, name, low=None, high=None, low_inclusive=False, high_inclusive=True):
    """Return value as a finite Python float within the bounds, else ValueError/TypeError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"The {name!r} parameter must be a real number. Got {describe(value)}.")
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


def check_int(value, name, low=None, high=None):
    """Return value as a Python int within [low, high] (either bound optional),
    else ValueError/TypeError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"The {name!r} parameter must be an integer. Got {describe(value)}.")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        if high is None:
            bounds = f">= {low}"
        elif low is None:
            bounds = f"<= {high}"
        else:
            bounds = f"from {low} to {high}"
        raise ValueError(f"The {name!r} parameter must be an integer {bounds}. Got {v}.")
    return v


def check_names(value, name, count):
    """Return `value` as a list of `count` strings (e.g. feature names), else
    TypeError/ValueError."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"The {name!r} parameter must be a list of {count} strings. Got {describe(value)}.")
    names = list(value)
    for i, v in enumerate(names):
        if not isinstance(v, str):
            raise TypeError(f"The {name!r} parameter must hold strings; got {describe(v)} at position {i}.")
    if len(names) != count:
        raise ValueError(f"The {name!r} parameter must list {count} names; got {len(names)}.")
    return names


def check_labels(value, name, count=None):
    """Return class labels as a 1-D numpy array of distinct integers, floats,
    booleans or strings (and exactly `count` of them if given), else
    TypeError/ValueError."""
    if isinstance(value, (str, bytes)) or value is None or not hasattr(value, "__len__"):
        raise TypeError(f"The {name!r} parameter must be a list of class labels. Got {describe(value)}.")
    arr = np.asarray(value)
    if arr.dtype.kind == "O" and all(isinstance(v, str) for v in arr.ravel()):
        arr = arr.astype(str)
    if arr.ndim != 1:
        raise ValueError(f"The {name!r} parameter must be a flat list of class labels; got shape {arr.shape}.")
    if arr.dtype.kind not in "iubfU":
        raise TypeError(f"The {name!r} parameter must hold integers, floats, booleans or strings; "
                        f"got an array of dtype {arr.dtype}.")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"The {name!r} parameter must hold finite numbers; got {arr.tolist()}.")
    if len(np.unique(arr)) != len(arr):
        raise ValueError(f"The {name!r} parameter must hold distinct labels; got {arr.tolist()}.")
    if count is not None and len(arr) != count:
        raise ValueError(f"The {name!r} parameter must list {count} class labels; got {len(arr)}.")
    return arr


def check_path(value, name):
    """Return a file path as a str: a str or os.PathLike that is not a
    directory, else TypeError/ValueError."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"The {name!r} parameter must be a file path (str or os.PathLike). "
                        f"Got {describe(value)}.")
    path = os.fspath(value)
    if isinstance(path, bytes) or not path:
        raise TypeError(f"The {name!r} parameter must be a non-empty str path. Got {describe(value)}.")
    if os.path.isdir(path):
        raise ValueError(f"The {name!r} parameter is a directory ({path}); expected a file name.")
    return path


def _where(path, name):
    return path if name is None else f"{name} {path}"


def existing_file(path, name=None, expected="a file", error=ValueError, missing=FileNotFoundError):
    """Return `path` (a str or os.PathLike) as a str once it names a file that
    exists, is not a directory and can be read: the check of every file
    fastmlp reads (data files, model files).

    name : the option or parameter the path came from (e.g. "--data"),
        written before the path in the messages; None for the path alone.
    expected : what the file should be, for the message about a directory
        (e.g. "a .csv, .npy or .npz file").
    error : the exception class for a directory or an unreadable file (a
        ValueError such as datasets.DataError or modelfile.ModelFileError);
        missing : the one for a path that does not exist.
    """
    path = os.fspath(path)
    where = _where(path, name)
    if not os.path.exists(path):
        raise missing(f"{where}: no such file.")
    if os.path.isdir(path):
        raise error(f"{where} is a directory; expected {expected}.")
    if not os.access(path, os.R_OK):
        raise error(f"{where}: cannot be read: {os.strerror(errno.EACCES)}.")
    return path


def writable_file(path, name, expected="a file name", default_suffix=None, in_place=False):
    """Return `path` as a str once a file can be written there, so that a
    result is never lost to a bad name after a long run: it is not a
    directory, and its directory exists and is writable. A name without an
    extension gets `default_suffix` (e.g. ".png") when one is given.
    in_place : the file is opened and overwritten (not written to a
    temporary file and moved over it), so an existing one must be writable.
    Raises ValueError naming `name` (the option, e.g. "--save") and the path."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{_where(path, name)} is a directory; expected {expected}.")
    if default_suffix and not os.path.splitext(path)[1]:
        path += default_suffix
    where = _where(path, name)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"{where}: the directory {directory} does not exist.")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"{where}: the directory {directory} is not writable.")
    if in_place and os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValueError(f"{where}: the file exists and is not writable.")
    return path


def check_file_type(path, name, types, what="files"):
    """Return `path` if its extension is one of `types` (lower-case, without
    the dot, e.g. the image formats matplotlib writes), else a ValueError
    listing them."""
    ext = os.path.splitext(path)[1]
    if ext[1:].lower() not in types:
        raise ValueError(f"{_where(path, name)}: cannot write {what} of type {ext!r}; expected one of "
                         f"{', '.join('.' + t for t in types)}.")
    return path


def check_seed(value, name="seed"):
    """Return a seed for np.random.default_rng: None, a non-negative int, or a
    numpy SeedSequence/Generator passed through; anything else is an error."""
    if value is None or isinstance(value, (np.random.SeedSequence, np.random.Generator)):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"The {name!r} parameter must be None or an integer >= 0. Got {describe(value)}.")
    if value < 0:
        raise ValueError(f"The {name!r} parameter must be None or an integer >= 0. Got {int(value)}.")
    return int(value)


def check_bool(value, name):
    """Return value as a Python bool; only True/False (and numpy bools) are accepted,
    so that e.g. shuffle="no" is not silently taken as True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"The {name!r} parameter must be True or False. Got {describe(value)}.")


def check_per_sample(value, name="per_sample"):
    """Return per_sample as False, True or "gradient": how the losses that
    act element by element treat a model's outputs (see Trainer). Anything
    else is an error naming the argument."""
    if isinstance(value, str):
        if value == "gradient":
            return value
        raise ValueError(f"The {name!r} parameter must be True, False or 'gradient'. Got {value!r}.")
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, numbers.Integral) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"The {name!r} parameter must be True, False or 'gradient'. Got {describe(value)}.")


def _position(index):
    index = tuple(int(i) for i in index)
    return index[0] if len(index) == 1 else index


def _object_to_float(arr, name):
    """Convert an object array holding only real numbers (e.g. from a list
    mixing ints and floats, or a pandas frame) to float64; refuse anything else."""
    for index, v in np.ndenumerate(arr):
        if not isinstance(v, (numbers.Real, np.bool_)):
            kind = type(v).__name__
            raise TypeError(f"{name} must be numeric, but it holds {describe(v)} ({kind}) at index "
                            f"{_position(index)}; strings and other objects are not converted.")
    try:
        return arr.astype(np.float64)
    except OverflowError:  # Python ints beyond float64's range
        for index, v in np.ndenumerate(arr):
            try:
                float(v)
            except OverflowError:
                raise ValueError(f"{name} holds a number too large for float64 at index {_position(index)}; "
                                 f"expected only finite numbers.") from None
        raise


def is_sparse(value):
    """Whether value is a scipy sparse matrix or array (or fastmlp's SparseRows)."""
    return isinstance(value, SparseRows) or (hasattr(value, "tocsr") and hasattr(value, "nnz"))


class SparseRows(NamedTuple):
    """A validated sparse matrix as the kernels take it: the CSR arrays, with
    int64 indptr (n + 1,) and indices (nnz,), and data (nnz,) of the model's
    dtype, all C-contiguous; shape (n, d)."""
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def nbytes(self):
        return self.indptr.nbytes + self.indices.nbytes + self.data.nbytes

    def take(self, rows):
        """The rows `rows` (int64 indices), in that order, as a new SparseRows."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.indptr[rows + 1] - self.indptr[rows]
        indptr = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # Entry q of the result is entry (row start + position within the row) of self.
        pos = np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1], lengths)
        src = np.repeat(self.indptr[rows], lengths) + pos
        return SparseRows(indptr, self.indices[src], self.data[src], (rows.size, self.shape[1]))


def as_sparse_rows(value, name, dtype, n_features=None, owner="the model"):
    """Validate a scipy sparse matrix (CSR, CSC or any other format, which is
    converted to CSR) and return it as SparseRows: values real and finite in
    `dtype`, indices int64 and within the columns, the structure consistent.
    Its values are never densified; the only copies are a format conversion,
    int32 indices widened to int64 and values converted to `dtype`."""
    if isinstance(value, SparseRows):
        if value.data.dtype == dtype:
            if n_features is not None and value.shape[1] != n_features:
                s = "" if value.shape[1] == 1 else "s"
                raise ValueError(f"{name} has {value.shape[1]} feature{s}, but {owner} expects {n_features}.")
            return value
        return SparseRows(value.indptr, value.indices, _convert(value.data, name, dtype), value.shape)
    shape = tuple(value.shape)
    if len(shape) != 2:
        raise ValueError(f"Expected a 2-D array for {name}, got a sparse array of shape {shape}.")
    if getattr(value, "format", None) != "csr":
        value = value.tocsr()
    if shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {shape}); at least one sample is required.")
    if shape[1] == 0:
        raise ValueError(f"{name} has 0 features (shape {shape}); at least one is required.")
    if n_features is not None and shape[1] != n_features:
        s = "" if shape[1] == 1 else "s"
        raise ValueError(f"{name} has {shape[1]} feature{s}, but {owner} expects {n_features}.")
    n, d = shape
    indptr = np.require(value.indptr, dtype=np.int64, requirements=["C", "W", "A"])
    nnz = int(indptr[-1]) if indptr.shape == (n + 1,) else -1
    if nnz < 0 or indptr[0] != 0 or value.indices.shape[0] < nnz or value.data.shape[0] < nnz \
            or np.any(indptr[1:] < indptr[:-1]):
        raise ValueError(f"{name} is a sparse matrix with an inconsistent structure (indptr, indices and data "
                         f"do not agree); rebuild it, e.g. with scipy.sparse.csr_matrix({name}.toarray()).")
    indices = np.require(value.indices[:nnz], dtype=np.int64, requirements=["C", "W", "A"])
    if nnz and (indices.min() < 0 or indices.max() >= d):
        raise ValueError(f"{name} is a sparse matrix with column indices outside 0..{d - 1}.")
    data = original = value.data[:nnz]
    kind = data.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real numbers; complex values are not supported (dtype {data.dtype}).")
    if kind not in "fiub":
        raise TypeError(f"{name} must be numeric; got a sparse matrix of dtype {data.dtype}.")
    with np.errstate(over="ignore", invalid="ignore"):
        data = np.require(data, dtype=dtype, requirements=["C", "W", "A"])
    bad = ~np.isfinite(data)
    if bad.any():
        count, p = int(bad.sum()), int(np.argmax(bad))
        row = int(np.searchsorted(indptr, p, side="right") - 1)
        s = "s" if count > 1 else ""
        where = f"first at index ({row}, {int(indices[p])})"
        if original.dtype != data.dtype and np.isfinite(original[p]):
            raise ValueError(f"{name} contains {count} value{s} too large for {data.dtype} or not finite ({where}: "
                             f"{float(original[p]):g}); {data.dtype} holds magnitudes up to "
                             f"{float(np.finfo(data.dtype).max):.3g}. Scale the data or use dtype=float64.")
        raise ValueError(f"{name} contains {count} NaN or infinite value{s} ({where}); expected only finite "
                         f"numbers.")
    return SparseRows(indptr, indices, data, (n, d))


def _to_array(value, name):
    if isinstance(value, np.ndarray):
        arr = value
    elif value is None:
        raise TypeError(f"{name} must be an array-like of numbers; got None.")
    elif is_sparse(value):
        raise TypeError(f"{name} is a sparse matrix ({type(value).__name__}); this needs a dense array "
                        f"(predict, Trainer.fit and loss_and_gradient take sparse X). Convert it with "
                        f"{name}.toarray().")
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
    if kind == "O":
        return _object_to_float(arr, name)
    if kind in "US":
        raise TypeError(f"{name} must be numeric; got an array of dtype {arr.dtype} "
                        f"(strings are not converted).")
    raise TypeError(f"{name} must be numeric; got an array of dtype {arr.dtype}.")


def check_finite(arr, name, original=None):
    """Raise ValueError naming how many values are NaN or infinite and the first
    position. `original` is the array before a conversion to float32: values
    that were finite there overflowed, and the message says so."""
    if arr.dtype.kind != "f":
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        count = int(bad.sum())
        first = np.argwhere(bad)[0]
        where = _position(first)
        s = "s" if count > 1 else ""
        if original is not None:
            before = original[tuple(first)]
            if np.isfinite(before):
                limit = float(np.finfo(arr.dtype).max)
                raise ValueError(f"{name} contains {count} value{s} too large for {arr.dtype} or not finite "
                                 f"(first at index {where}: {float(before):g}); {arr.dtype} holds magnitudes up "
                                 f"to {limit:.3g}. Scale the data or use dtype=float64.")
        raise ValueError(f"{name} contains {count} NaN or infinite value{s} "
                         f"(first at index {where}); expected only finite numbers.")


def _convert(arr, name, dtype):
    """`arr` as a C-contiguous, writeable, aligned array of `dtype` (a copy only
    when needed), checked finite after the conversion, so that a float64 value
    too large for float32 is refused instead of becoming inf."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.require(arr, dtype=dtype, requirements=["C", "W", "A"])
    check_finite(out, name, original=arr if out.dtype != arr.dtype else None)
    return out


def as_values(value, name, shape, dtype=np.float64):
    """Validate parameter values (e.g. a layer's new weights): real, finite in
    `dtype` and of exactly `shape` (a 1-D shape also accepts any array of that
    many values). Returns an array of `dtype`."""
    arr = _to_array(value, name)
    if len(shape) == 1 and arr.size == shape[0]:
        arr = arr.reshape(shape)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got shape {arr.shape}.")
    return _convert(arr, name, dtype)


def as_matrix(value, name, dtype, n_features=None, owner="the model", accept_sparse=False):
    """Validate a 2-D input matrix and return it C-contiguous, writeable, of
    `dtype`. `owner` names what expects `n_features` in the error message.
    accept_sparse: a scipy sparse matrix is returned as SparseRows
    (as_sparse_rows) instead of refused."""
    if accept_sparse and is_sparse(value):
        return as_sparse_rows(value, name, dtype, n_features, owner)
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
        s = "" if arr.shape[1] == 1 else "s"
        raise ValueError(f"{name} has {arr.shape[1]} feature{s}, but {owner} expects {n_features}.")
    return _convert(arr, name, dtype)


def _category_codes(value, name):
    """The integer codes of a pandas categorical (a Series or Categorical),
    i.e. the class indices in the order of its categories; None for anything
    else. A missing value (code -1) is an error."""
    dtype = getattr(value, "dtype", None)
    if getattr(dtype, "name", None) != "category":
        return None
    codes = value.cat.codes if hasattr(value, "cat") else value.codes
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any():
        i = int(np.argmax(codes < 0))
        raise ValueError(f"{name} is categorical with a missing value at position {i}; "
                         f"expected a category for every sample.")
    return codes


def as_targets(value, name, dtype, n_rows, n_outputs, loss=None):
    """Validate targets for a model with `n_outputs` outputs and return them as a
    C-contiguous (n_rows, n_outputs) array of `dtype`.

    A 1-D y is accepted for a single output; for cross-entropy a 1-D array of
    integer class indices is turned into one-hot rows. A pandas categorical
    (Series or Categorical) stands for its codes: the index of each value's
    category, in the order of the categories.
    """
    codes = _category_codes(value, name)
    arr = codes if codes is not None else _to_array(value, name)
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"Expected a 1-D or 2-D array for {name}, got shape {arr.shape}.")
    if arr.shape[0] != n_rows:
        raise ValueError(f"X has {n_rows} samples, but {name} has {arr.shape[0]}; they must match.")
    check_finite(arr, name)
    if loss == "cross_entropy" and arr.ndim == 1 and n_outputs > 1:
        if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} for cross_entropy must be integer class indices in [0, {n_outputs - 1}] "
                             f"or one-hot rows of width {n_outputs}; got non-integer values.")
        bad = (arr < 0) | (arr >= n_outputs)  # before the cast: 1e20 would wrap around in int64
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name} has class index {arr[i]:g} at position {i}, but the model has "
                             f"{n_outputs} outputs; expected indices in [0, {n_outputs - 1}].")
        labels = arr.astype(np.int64)
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
    out = _convert(arr, name, dtype)
    if loss == "poisson" and out.min() < 0:
        i = np.unravel_index(int(np.argmin(out)), out.shape)
        where = f"row {i[0]}" + (f", output {i[1]}" if n_outputs > 1 else "")
        raise ValueError(f"{name} for poisson must be >= 0 (counts or rates); got a negative value "
                         f"{out[i]:g} in {where}.")
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
            hint = ""
            if n_outputs == 1:
                hint = (" With a single output the only such target is 1: cross_entropy needs one output "
                        "per class. For two classes use loss='bce' with a Sigmoid output.")
            raise ValueError(f"{name} for cross_entropy must be one-hot or probability rows summing to 1; "
                             f"row {i} sums to {sums[i]:g}.{hint}")
    return out


def check_classes(classes, n_classes, name="classes"):
    """`classes` as a list of distinct labels (strings, or numbers), one per
    class; n_classes is the number the model distinguishes. None passes."""
    if classes is None:
        return None
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__"):
        raise TypeError(f"{name} must be a list of class labels; got {describe(classes)}.")
    labels = np.asarray(classes).tolist() if isinstance(classes, np.ndarray) else list(classes)
    for i, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, (str, numbers.Real)):
            raise TypeError(f"{name}[{i}] must be a string or a number; got {describe(label)}.")
        if isinstance(label, numbers.Real) and not isinstance(label, str) and not np.isfinite(label):
            raise ValueError(f"{name}[{i}] must be finite; got {label!r}.")
    if len({isinstance(label, str) for label in labels}) > 1:
        raise TypeError(f"{name} must be all strings or all numbers; got {labels!r}.")
    labels = [label if isinstance(label, str) else int(label) if isinstance(label, numbers.Integral)
              else float(label) for label in labels]
    if len(labels) != n_classes:
        raise ValueError(f"{name} must list {n_classes} labels (one per class of the model); got {len(labels)}.")
    if len(set(labels)) != len(labels):
        raise ValueError(f"{name} must list distinct labels; got {labels!r}.")
    return labels
def as_sample_weight(value, n_rows, name="sample_weight"):
    """Validate per-sample weights for n_rows samples, as scikit-learn's
    ``_check_sample_weight`` does, and refuse negative weights: None stays
    None; a number means that weight for every sample; otherwise a 1-D
    array-like of n_rows finite numbers >= 0, not all zero. Returns a
    C-contiguous float64 (n_rows,) array (or None)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or a 1-D array of {n_rows} numbers; got {value!r}.")
    if isinstance(value, numbers.Real):
        arr = np.full(n_rows, float(value))
    else:
        arr = _to_array(value, name)
        if arr.ndim != 1:
            raise ValueError(f"Sample weights must be 1D array or scalar, got {arr.ndim}D array. Expected "
                             f"either a scalar value or a 1D array of length {n_rows} ({name} has shape "
                             f"{arr.shape}).")
        if arr.shape != (n_rows,):
            raise ValueError(f"{name}.shape == {arr.shape}, expected {(n_rows,)}! ({name} needs one weight "
                             f"per sample of X.)")
    with np.errstate(over="ignore", invalid="ignore"):
        arr = np.require(arr, dtype=np.float64, requirements=["C", "W", "A"])
    for test, what in ((np.isnan, "NaN"), (np.isinf, "infinity")):
        bad = test(arr)
        if bad.any():
            raise ValueError(f"Input {name} contains {what} ({int(bad.sum())} of {n_rows} weights, first at "
                             f"index {int(np.argmax(bad))}); expected finite weights >= 0.")
    bad = arr < 0
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"Negative values in data passed to `{name}`: {name}[{i}] = {arr[i]:g}; "
                         f"weights must be >= 0.")
    if not arr.any():
        raise ValueError(f"Sample weights must contain at least one non-zero number ({name} is all zero).")
    return arr


def check_sample_order(value, n_rows, epochs, name="order"):
    """A sample order for `epochs` epochs over n_rows samples: an empty
    array (the data's order), n_rows row indices (the order of every epoch)
    or epochs * n_rows (one order per epoch), each in 0..n_rows-1. Returns it
    as a C-contiguous int64 array (the array itself when it is one already).

    >>> check_sample_order(np.array([1, 0]), 2, 3)
    array([1, 0])
    """
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] not in (0, n_rows, epochs * n_rows):
        raise ValueError(f"{name} must be a 1-D array of n={n_rows} row indices, or epochs * n={epochs * n_rows} "
                         f"(one order per epoch); got shape {arr.shape}.")
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer row indices; got dtype {arr.dtype}.")
    if arr.size and (arr.min() < 0 or arr.max() >= n_rows):
        bad = int(np.argmax((arr < 0) | (arr >= n_rows)))
        raise ValueError(f"{name}[{bad}] = {int(arr[bad])} is not a row index of the {n_rows} samples "
                         f"(expected 0 to {n_rows - 1}).")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_class_weight(value, name="class_weight"):
    """None, "balanced", or a dict {class: weight} of finite weights >= 0;
    returned as given (a dict is copied with float weights)."""
    if value is None or (isinstance(value, str) and value == "balanced"):
        return value
    if isinstance(value, str):
        check_choice(value, name, ("balanced",))
    if not isinstance(value, dict):
        raise TypeError(f"The {name!r} parameter must be None, 'balanced' or a dict {{class: weight}}. "
                        f"Got {describe(value)}.")
    out = {}
    for key, weight in value.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, numbers.Integral):
            raise TypeError(f"{name} keys must be class indices (integers); got the key {key!r}.")
        out[int(key)] = check_float(weight, f"{name}[{key!r}]", low=0, low_inclusive=True)
    return out


def class_sample_weight(class_weight, Y, loss, name="class_weight"):
    """Per-sample weights (float64 (n,)) that `class_weight` ("balanced" or a
    dict) gives targets Y (n, k) already converted for `loss`, with
    scikit-learn's ``compute_sample_weight`` rules: "balanced" weighs class c
    by n / (classes present * count of c); a dict maps class -> weight (1
    for a class it does not list). cross_entropy: the class of a row is its
    one-hot position; bce: each output's 0/1 value, the weights of the
    outputs multiplied (multi-label)."""
    if loss == "cross_entropy":
        hot = Y == 1
        if not np.all(hot.sum(axis=1) == 1) or not np.all((Y == 0) | hot):
            raise ValueError(f"{name} needs class targets (indices or one-hot rows); y holds probability rows.")
        columns = [np.argmax(Y, axis=1)]
        n_classes = Y.shape[1]
    elif loss == "bce":
        if not np.all((Y == 0) | (Y == 1)):
            raise ValueError(f"{name} needs 0/1 targets for bce; y holds values strictly between 0 and 1.")
        columns = [Y[:, j].astype(np.int64) for j in range(Y.shape[1])]
        n_classes = 2
    else:
        raise ValueError(f"{name} applies to the classification losses 'bce' and 'cross_entropy'; "
                         f"the loss is {loss!r}.")
    if isinstance(class_weight, dict):
        bad = [c for c in class_weight if not 0 <= c < n_classes]
        if bad:
            valid = "0 and 1" if n_classes == 2 else f"0..{n_classes - 1}"
            raise ValueError(f"{name} has the class {bad[0]}, but the classes are {valid}.")
    n = Y.shape[0]
    weight = np.ones(n, dtype=np.float64)
    for labels in columns:
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        if class_weight == "balanced":
            present = np.count_nonzero(counts)
            per_class = np.divide(n, present * counts, out=np.zeros(n_classes), where=counts > 0)
        else:
            per_class = np.array([class_weight.get(c, 1.0) for c in range(n_classes)])
        weight *= per_class[labels]
    return weight


def feature_names_of(X):
    """The column names of a data frame (anything with `columns`, e.g.
    pandas or polars) when they are all strings, as an object array, as
    scikit-learn's feature_names_in_; None for arrays and for frames whose
    names are not strings (integer column labels, say). Mixed string and
    non-string names are an error, as in scikit-learn."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray) or not hasattr(X, "shape"):
        return None
    names = np.asarray(list(columns), dtype=object)
    if names.size == 0:
        return None
    kinds = sorted({type(v).__qualname__ for v in names})
    if len(kinds) > 1 and "str" in kinds:
        raise TypeError(f"Feature names are only supported if all input features have string names, but "
                        f"the columns have the types {kinds}. Convert them all to strings, e.g. "
                        f"X.columns = X.columns.astype(str), or give an array without names.")
    return names if kinds == ["str"] else None


def check_feature_names(expected, X, owner="the model", name="X"):
    """scikit-learn's checks of a frame's column names against the names a
    model was trained with (`expected`, None when trained without): a frame
    with other names, or names in another order, is a ValueError; names on
    one side only is a UserWarning. Columns are always taken by position.
    name is the argument X came as (validation data: "validation_data[0]")."""
    import warnings
    given = feature_names_of(X)
    if expected is None and given is None:
        return
    if expected is None:
        warnings.warn(f"{name} has feature names, but {owner} was trained without feature names.", UserWarning,
                      stacklevel=3)
        return
    if given is None:
        warnings.warn(f"{name} does not have valid feature names, but {owner} was trained with feature names "
                      f"({', '.join(map(str, expected[:5]))}{', ...' if len(expected) > 5 else ''}).",
                      UserWarning, stacklevel=3)
        return
    if len(given) == len(expected) and np.all(given == expected):
        return
    unseen = sorted(set(given) - set(expected))
    missing = sorted(set(expected) - set(given))
    parts = ["The feature names should match those that were passed during fit." if name == "X" else
             f"The feature names of {name} should match those of X."]
    if unseen:
        parts.append(f"Feature names unseen at fit time: {', '.join(unseen[:5])}{', ...' if len(unseen) > 5 else ''}.")
    if missing:
        parts.append(f"Feature names seen at fit time, yet now missing: "
                     f"{', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}.")
    if not unseen and not missing:
        parts.append(f"Feature names must be in the same order as they were in fit: "
                     f"{', '.join(map(str, expected))}.")
    raise ValueError(" ".join(parts))
