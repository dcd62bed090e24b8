"""Built-in datasets and loading of CSV / NPY / NPZ files.

All loaders return float64 arrays ``X`` (n, d) and ``y`` (n, 1).

>>> import fastmlp as fm
>>> X, y = fm.datasets.xor()
>>> X.shape, y.ravel().tolist()
((4, 2), [0.0, 1.0, 1.0, 0.0])
"""

import csv
import os

import numpy as np

from .validation import check_int

NAMES = ("xor", "line", "celsius")


def xor():
    """The four XOR points and their labels."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    return X, y


def line(n=1000, seed=0):
    """n points uniform in [-1, 1]^2, labelled 1 when the point lies above the
    line y = x (second coordinate greater than the first), else 0."""
    n = check_int(n, "n", low=1)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (X[:, 1] > X[:, 0]).astype(np.float64).reshape(-1, 1)
    return X, y


def celsius(n=1000, seed=0):
    """n temperatures x uniform in [-1, 1] degrees Fahrenheit and their Celsius
    values (x - 32) * 5 / 9: a linear regression with weight 5/9, bias -160/9."""
    n = check_int(n, "n", low=1)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 1))
    y = (X - 32.0) * 5.0 / 9.0
    return X, y


def get(name, **kwargs):
    """A built-in dataset by name: "xor", "line" or "celsius"."""
    from .validation import check_choice
    name = check_choice(name, "dataset", NAMES)
    return {"xor": xor, "line": line, "celsius": celsius}[name](**kwargs)


class DataError(ValueError):
    """A data file could not be read or has bad content."""


def _column_index(target, names, path):
    if target is None:
        return len(names) - 1
    if isinstance(target, (int, np.integer)) or (isinstance(target, str) and target.lstrip("-").isdigit()
                                                  and target not in names):
        idx = int(target)
        if not -len(names) <= idx < len(names):
            raise DataError(f"{path}: target column index {idx} is out of range for {len(names)} columns.")
        return idx % len(names)
    if target not in names:
        raise DataError(f"{path}: no column named {target!r}; the columns are {', '.join(names)}.")
    return names.index(target)


def load_table(path):
    """Read a numeric table: a .csv with a header row, a .npy 2-D array or a
    .npz holding one (or arrays 'X' and 'y'). Returns (data (n, c) float64,
    column names)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file.")
    if os.path.isdir(path):
        raise DataError(f"{path} is a directory; expected a .csv, .npy or .npz file.")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise DataError(f"{path}: not a readable .npy array ({exc}).") from None
        names = None
    elif ext == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                if "X" in z.files:
                    X, y = z["X"], (z["y"] if "y" in z.files else None)
                    data = X if y is None else _join_X_y(X, y, path)
                elif len(z.files) == 1:
                    data = z[z.files[0]]
                else:
                    raise DataError(f"{path}: expected arrays 'X' and 'y' or a single array; found {z.files}.")
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"{path}: not a readable .npz archive ({exc}).") from None
        names = None
    else:
        data, names = _read_csv(path)
    data = np.asarray(data)
    if data.dtype.kind not in "fiub":
        raise DataError(f"{path}: the array has dtype {data.dtype}; expected numbers.")
    if data.ndim == 1:
        data = data.reshape(-1, 1)
    if data.ndim != 2 or data.shape[0] == 0:
        raise DataError(f"{path}: expected a non-empty 2-D table; got shape {data.shape}.")
    data = data.astype(np.float64)
    if names is None:
        names = [f"x{i + 1}" for i in range(data.shape[1])]
    bad = ~np.isfinite(data)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        # Rows are counted as a spreadsheet shows them: a CSV's header is row 1.
        row = r + 2 if ext not in (".npy", ".npz") else r + 1
        raise DataError(f"{path}: {int(bad.sum())} NaN or infinite value(s); the first is in row {row}, "
                        f"column {names[c]!r}.")
    return data, names


def _join_X_y(X, y, path):
    """The arrays 'X' (n, d) and 'y' (n,) or (n, 1) of a .npz as one table (n, d + 1)."""
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise DataError(f"{path}: X has shape {X.shape}; expected a 2-D array (n_samples, n_features).")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{path}: y has shape {y.shape}; expected one target column, "
                        f"of shape (n,) or (n, 1).")
    if y.shape[0] != X.shape[0]:
        raise DataError(f"{path}: X has {X.shape[0]} rows but y has {y.shape[0]}; "
                        f"expected the same number of rows.")
    for name, a in (("X", X), ("y", y)):
        if a.dtype.kind not in "fiub":
            raise DataError(f"{path}: {name} has dtype {a.dtype}; expected numbers.")
    return np.column_stack([X.astype(np.float64), y.astype(np.float64)])


def _read_csv(path):
    try:
        # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first name.
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file (it is not UTF-8).") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror or exc}.") from None
    rows = [r for r in rows if r and any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise DataError(f"{path}: expected a header row and at least one data row.")
    names = [h.strip() for h in rows[0]]
    data = np.empty((len(rows) - 1, len(names)))
    for i, row in enumerate(rows[1:]):
        if len(row) != len(names):
            raise DataError(f"{path}: row {i + 2} has {len(row)} cells, but the header has {len(names)}.")
        for j, cell in enumerate(row):
            try:
                data[i, j] = float(cell)
            except ValueError:
                raise DataError(f"{path}: non-numeric value {cell.strip()!r} in row {i + 2}, "
                                f"column {names[j]!r}.") from None
    return data, names


def split_target(data, names, target=None, path="data"):
    """Split a table into features and one target column (a name or index;
    default the last). Returns X (n, d), y (n, 1), feature names, target name."""
    if data.shape[1] < 2:
        raise DataError(f"{path}: needs at least one feature column and a target column; "
                        f"found {data.shape[1]} column.")
    idx = _column_index(target, names, path)
    keep = [i for i in range(data.shape[1]) if i != idx]
    return data[:, keep], data[:, idx:idx + 1], [names[i] for i in keep], names[idx]


def load(path, target=None):
    """Load features and target from a file (see load_table). `target` is a
    column name or index (default: the last column). Returns X (n, d),
    y (n, 1) and the feature names."""
    data, names = load_table(path)
    return split_target(data, names, target, path)[:3]
