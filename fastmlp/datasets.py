"""Built-in datasets and loading of CSV / NPY / NPZ files.

All loaders return float64 arrays ``X`` (n, d) and ``y`` (n, 1).

CSV files are parsed by numpy's C reader (``np.loadtxt``); only when that
fails does a second, slower pass with Python's csv module run, to find the
problem and name its row and column (or to read what the fast reader does
not: blank-looking rows of empty cells). :func:`load_labelled` also takes a
target column of text class labels ("setosa", ...), returned as class
indices with the classes in sorted order.

>>> import fastmlp as fm
>>> X, y = fm.datasets.xor()
>>> X.shape, y.ravel().tolist()
((4, 2), [0.0, 1.0, 1.0, 0.0])
"""

import csv
import os
from typing import NamedTuple

import numpy as np

from .validation import check_choice, check_int, existing_file

NAMES = ("xor", "line", "celsius")
FILE_DESCRIPTION = "a .csv, .npy or .npz file"   # what a data file may be, in messages


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
    name = check_choice(name, "dataset", NAMES)
    return {"xor": xor, "line": line, "celsius": celsius}[name](**kwargs)


class DataError(ValueError):
    """A data file could not be read or has bad content."""


def check_data_file(path, name=None):
    """Return `path` as a str once it names a data file that exists, is not a
    directory and can be read, else a DataError; `name` (an option such as
    "--data") is written before the path in the message."""
    return existing_file(path, name, expected=FILE_DESCRIPTION, error=DataError, missing=DataError)


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
    data, names, _ = read_table(path)
    return data, names


def read_table(path, text_column=None):
    """load_table, except that one CSV column, `text_column` (a name or an
    index; ignored when the file has no such column), may hold text labels.
    Returns (data, names, classes): classes is None when every column is
    numeric; else the sorted list of that column's distinct labels, and the
    column of data holds each row's index into it."""
    path = check_data_file(path)
    ext = os.path.splitext(path)[1].lower()
    classes = None
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
        data, names, classes = _read_csv(path, text_column)
    data = np.asarray(data)
    if data.dtype.kind not in "fiub":
        raise DataError(f"{path}: the array has dtype {data.dtype}; expected numbers.")
    if data.ndim == 1:
        data = data.reshape(-1, 1)
    if data.ndim != 2 or data.shape[0] == 0:
        raise DataError(f"{path}: expected a non-empty 2-D table; got shape {data.shape}.")
    data = data.astype(np.float64, copy=False)
    if names is None:
        names = [f"x{i + 1}" for i in range(data.shape[1])]
    bad = ~np.isfinite(data)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        # Rows are counted as a spreadsheet shows them: a CSV's header is row 1.
        row = r + 2 if ext not in (".npy", ".npz") else r + 1
        raise DataError(f"{path}: {int(bad.sum())} NaN or infinite value(s); the first is in row {row}, "
                        f"column {names[c]!r}.")
    return data, names, classes


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


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def find_column(column, names):
    """Index of `column` (a name, or an index, negative counting from the end,
    as an int or a string of digits) among `names`, or None if there is none."""
    if column is None:
        return None
    if isinstance(column, str) and column in names:
        return names.index(column)
    try:
        idx = int(column)
    except (TypeError, ValueError):
        return None
    return idx % len(names) if -len(names) <= idx < len(names) else None


def _csv_start(path):
    """The header's names, the number of lines up to and including it, and
    the cells of the first data row (None when there is none)."""
    try:
        # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first name.
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = first = None
            lines = 0
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    if header is None:
                        header, lines = row, reader.line_num
                    else:
                        first = row
                        break
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file (it is not UTF-8).") from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}.") from None
    if header is None or first is None:
        raise DataError(f"{path}: expected a header row and at least one data row.")
    return [h.strip() for h in header], lines, first


def _loadtxt(path, skip, **kwargs):
    return np.loadtxt(path, delimiter=",", skiprows=skip, comments=None, quotechar='"', encoding="utf-8",
                      **kwargs)


class _Labels:
    """Codes for text labels in the order they first appear: the C reader
    calls it for each cell of the text column (a float code per cell)."""

    def __init__(self):
        self.codes = {}

    def __call__(self, cell):
        label = cell.strip()
        code = self.codes.get(label)
        if code is None:
            code = self.codes[label] = float(len(self.codes))
        return code


def _label_classes(path, column, labels, name):
    """Class indices (in sorted order) and the sorted classes for a column of
    codes into `labels` (in order of appearance). A column that mixes
    numbers and text is refused: most likely a typo in a numeric target."""
    numeric = [label for label in labels if _is_number(label)]
    if numeric:
        text = [label for label in labels if not _is_number(label)]
        row = int(np.flatnonzero(column == labels.index(text[0]))[0]) + 2
        raise DataError(f"{path}: column {name!r} mixes numbers and text: non-numeric value {text[0]!r} in "
                        f"row {row}, numbers such as {numeric[0]!r} elsewhere; class labels must be all text "
                        f"or all numbers.")
    classes = sorted(labels)
    rank = np.empty(len(labels))
    rank[[labels.index(c) for c in classes]] = np.arange(len(classes))
    return rank[column.astype(np.int64)], classes


def _read_csv(path, text_column=None):
    names, skip, first = _csv_start(path)
    width = len(names)
    t = find_column(text_column, names)
    text = t is not None and len(first) == width and not _is_number(first[t])
    labels = _Labels()
    try:
        # One pass of the C reader; a text target column's cells go through `labels`.
        data = _loadtxt(path, skip, dtype=np.float64, ndmin=2, converters={t: labels} if text else None)
        if data.shape[1] != width:
            raise ValueError("columns")
    except (ValueError, IndexError):
        # Some cell the C reader refused: the slow pass finds and words it.
        return _read_csv_slowly(path, names, t)
    if not text:
        return data, names, None
    data[:, t], classes = _label_classes(path, data[:, t], list(labels.codes), names[t])
    return data, names, classes


def _read_csv_slowly(path, names, t=None):
    """Python's csv module and float() cell by cell: the errors name the row
    (as a spreadsheet counts them, the header being row 1) and the column."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file (it is not UTF-8).") from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read: {getattr(exc, 'strerror', None) or exc}.") from None
    rows = [r for r in rows if r and any(cell.strip() for cell in r)]
    data = np.empty((len(rows) - 1, len(names)))
    labels = _Labels()
    for i, row in enumerate(rows[1:]):
        if len(row) != len(names):
            raise DataError(f"{path}: row {i + 2} has {len(row)} cells, but the header has {len(names)}.")
        for j, cell in enumerate(row):
            if j == t:
                data[i, j] = labels(cell)
                continue
            try:
                data[i, j] = float(cell)
            except ValueError:
                raise DataError(f"{path}: non-numeric value {cell.strip()!r} in row {i + 2}, "
                                f"column {names[j]!r}.") from None
    if t is None:
        return data, names, None
    found = list(labels.codes)
    if all(_is_number(label) for label in found):         # a numeric column after all
        data[:, t] = np.array([float(label) for label in found])[data[:, t].astype(np.int64)]
        return data, names, None
    data[:, t], classes = _label_classes(path, data[:, t], found, names[t])
    return data, names, classes


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


class LabelledData(NamedTuple):
    """What :func:`load_labelled` returns."""
    X: np.ndarray               # (n, d) float64 features
    y: np.ndarray               # (n, 1) float64 target: class indices into `classes` when it is not None
    feature_names: list
    target_name: str
    classes: list               # the target's text labels in sorted order, or None for a numeric target


def load_labelled(path, target=None):
    """Features and target of a data file whose target column (a name or an
    index; default the last column) may hold text class labels, as CSVs
    usually do ("setosa", "versicolor", ...). Text labels become class
    indices, the classes in sorted order (scikit-learn's LabelEncoder order).
    Feature columns must be numeric: a text cell there is an error naming its
    row and column. Returns a :class:`LabelledData` (X, y, feature_names,
    target_name, classes)."""
    probe = -1 if target is None else target
    data, names, classes = read_table(path, text_column=probe)
    X, y, features, target_name = split_target(data, names, target, path)
    return LabelledData(X, y, features, target_name, classes)
