"""Model files: a ``.npz`` archive written and read without pickle.

A model file holds exactly two arrays:

``header``
    UTF-8 JSON as a uint8 array: the format name and version, the fastmlp
    version that wrote it, the dtype, the layers with their settings, the
    training configuration and history when known, free-form metadata (feature
    names, task, ...), and a SHA-256 checksum of the header and parameters.
``params``
    The model's flat parameter buffer (float32 or float64, little-endian).

Format version 2 adds two header fields: ``standardize`` (the model's input
standardizer, ``{"mean": [...], "scale": [...]}``) and ``classes`` (the labels
of a classifier's classes, e.g. ``["setosa", "versicolor", "virginica"]``),
each null when absent. A model with neither is written in version 1, which
older fastmlp versions read too; one with either is written in version 2, so
an older fastmlp refuses it instead of predicting from unscaled inputs.
Version 1 files load as they always did.

Loading reads the archive with ``allow_pickle=False`` (no code from the file
is ever run), then validates everything before a model is built: the names
and kinds of the arrays, the JSON, the format version, each layer's settings,
that the layers chain, that the parameter count and dtype match, that every
parameter is finite and that the checksum agrees. Any problem is a
``ModelFileError`` (a ``ValueError``) naming the file and what is wrong.

>>> import os, tempfile, numpy as np, fastmlp as fm
>>> model = fm.MLP([2, 3, 1], output="sigmoid", seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> model.save(path)
>>> bool(np.array_equal(fm.load(path).params, model.params))
True
"""

import hashlib
import json
import math
import numbers
import os
import tempfile
from typing import NamedTuple

import numpy as np

from . import __version__
from .callbacks import MONITORS
from .engines import ENGINES
from .layers import LAYER_TYPES, layer_from_config
from .model import Model
from .preprocessing import Standardizer
from .trainer import STOP_REASONS, History
from .validation import DTYPE_NAMES, check_dtype, existing_file

FORMAT = "fastmlp-model"
FORMAT_VERSION = 2
ARRAYS = ("header", "params")
HEADER_FIELDS = {1: {"format", "format_version", "fastmlp_version", "dtype", "n_params", "layers", "trainer",
                     "history", "metadata", "sha256"}}
HEADER_FIELDS[2] = HEADER_FIELDS[1] | {"standardize", "classes"}
# Per-epoch lists a history may hold besides the loss (absent from files of earlier fastmlp versions).
HISTORY_SERIES = ("val_loss", "train_metric", "val_metric", "lr")


class ModelFileError(ValueError):
    """A file is not a valid fastmlp model file (truncated, foreign, corrupted,
    from a newer fastmlp, or with contents that do not match its header)."""


class ModelFile(NamedTuple):
    """Everything a model file holds: see :func:`read`."""
    model: object           # fastmlp.Model
    trainer: dict           # Trainer.config() at save time, or None
    history: object         # fastmlp.History, or None
    metadata: dict          # free-form JSON object (feature names, task, ...), {} when absent
    header: dict            # the whole validated header


# -- writing ----------------------------------------------------------------------

def checksum(header, params):
    """The hex SHA-256 a model file stores as ``header["sha256"]``: of the
    canonical JSON of the header (without its checksum) and the little-endian
    bytes of the parameters."""
    body = {k: v for k, v in header.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    h = hashlib.sha256(text.encode("utf-8"))
    h.update(np.ascontiguousarray(params).tobytes())
    return h.hexdigest()


def _jsonable(value, what):
    """Check that value survives a strict JSON round trip (no NaN, only plain types)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable with finite numbers: {exc}") from None


def _history_dict(history):
    if history is None:
        return None
    d = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    # A loss that overflowed to inf/NaN is stored as null (JSON has no NaN).
    d["loss"] = [float(v) if math.isfinite(v) else None for v in d["loss"]]
    for key in HISTORY_SERIES:
        if d.get(key) is not None:
            d[key] = [None if v is None or not math.isfinite(v) else float(v) for v in d[key]]
    if not math.isfinite(d.get("seconds", 0.0)):
        d["seconds"] = 0.0
    return d


def save(model, path, trainer=None, history=None, metadata=None):
    """Write `model` to `path` (a .npz archive, no pickled data).

    trainer : a Trainer (its ``config()`` is stored, and its ``history`` unless
        `history` is given) or a plain dict of settings.
    history : a History (or its ``as_dict()``), stored with the model.
    metadata : a JSON-serialisable dict kept with the model, e.g.
        ``{"feature_names": ["x1", "x2"]}`` (used by ``fastmlp formula``).
        A model trained on a data frame also stores its ``feature_names_in_``
        there (as "feature_names_in", and as "feature_names" unless given).

    The file is written to a temporary file first and then moved into place,
    so an interrupted save never leaves a half-written model behind.
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a fastmlp.Model; got {type(model).__name__}.")
    path = os.fspath(path)
    trainer_cfg = None
    if trainer is not None:
        if isinstance(trainer, dict):
            trainer_cfg = trainer
        else:
            trainer_cfg = trainer.config()
            if history is None:
                history = trainer.history
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict; got {type(metadata).__name__}.")
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        metadata = dict(metadata or {})
        metadata["feature_names_in"] = [str(v) for v in names]
        metadata.setdefault("feature_names", metadata["feature_names_in"])

    params = np.ascontiguousarray(model.params, dtype=np.dtype(model.dtype).newbyteorder("<"))
    extras = {"standardize": None if model.standardizer is None else model.standardizer.config(),
              "classes": model.classes}
    version = 2 if any(v is not None for v in extras.values()) else 1
    header = {
        "format": FORMAT,
        "format_version": version,
        "fastmlp_version": __version__,
        "dtype": np.dtype(model.dtype).name,
        "n_params": int(params.size),
        "layers": [layer.config() for layer in model.layers],
        "trainer": _jsonable(trainer_cfg, "trainer config"),
        "history": _jsonable(_history_dict(history), "history"),
        "metadata": _jsonable(metadata or {}, "metadata"),
    }
    if version >= 2:
        header.update(_jsonable(extras, "standardize and classes"))
    header["sha256"] = checksum(header, params)
    header_bytes = np.frombuffer(json.dumps(header, allow_nan=False).encode("utf-8"), dtype=np.uint8)

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastmlp-", suffix=".npz.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, header=header_bytes, params=params)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# -- reading ----------------------------------------------------------------------

def _fail(path, problem):
    raise ModelFileError(f"{path}: {problem}")


def _read_arrays(path):
    """The arrays of the archive, read with allow_pickle=False; any failure of
    the zip or npy layers becomes a ModelFileError."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        _fail(path, f"cannot be read: {exc.strerror or exc}.")
    if magic.startswith(b"\x93NUMPY"):
        _fail(path, "not a fastmlp model file (it is a single .npy array, not a .npz archive).")
    if magic[:1] == b"\x80":
        _fail(path, "not a fastmlp model file (it looks like a Python pickle, which fastmlp never loads "
                    "because unpickling can run code).")
    if not magic.startswith(b"PK\x03\x04"):
        what = "it is empty" if not magic else "it is not a .npz (zip) archive"
        _fail(path, f"not a fastmlp model file ({what}).")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = sorted(archive.files)
            if names != sorted(ARRAYS):
                _fail(path, f"not a fastmlp model file: expected the arrays {list(ARRAYS)}, found {names}.")
            return {name: archive[name] for name in ARRAYS}
    except ModelFileError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            _fail(path, "contains pickled object arrays; fastmlp model files never do, "
                        "and they are not loaded because unpickling can run code.")
        _fail(path, f"not a readable fastmlp model file (truncated or corrupted?): {exc}")
    except Exception as exc:  # zipfile.BadZipFile, EOFError, zlib.error, OSError, struct.error, ...
        _fail(path, f"not a readable fastmlp model file (truncated or corrupted?): "
                    f"{type(exc).__name__}: {exc}")


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_layer(path, i, cfg):
    if not isinstance(cfg, dict) or not isinstance(cfg.get("type"), str):
        _fail(path, f"layer {i} must be an object with a 'type'; got {cfg!r}.")
    kind = cfg["type"]
    if kind == "Linear":
        if set(cfg) != {"type", "in_features", "out_features", "bias"}:
            _fail(path, f"layer {i} (Linear) must have exactly type, in_features, out_features and bias; "
                        f"got {sorted(cfg)}.")
        for key in ("in_features", "out_features"):
            if not _is_int(cfg[key]) or not 1 <= cfg[key] <= 1 << 31:
                _fail(path, f"layer {i} (Linear) has {key}={cfg[key]!r}; expected a positive integer.")
        if not isinstance(cfg["bias"], bool):
            _fail(path, f"layer {i} (Linear) has bias={cfg['bias']!r}; expected true or false.")
    else:
        if kind not in LAYER_TYPES:
            _fail(path, f"layer {i} has unknown type {kind!r}.")
        if set(cfg) != {"type"}:
            _fail(path, f"layer {i} ({kind}) takes no settings; got {sorted(cfg)}.")
    return layer_from_config(cfg)


def _check_series(path, h, key, epochs):
    values = h.get(key)
    if values is None:
        return None
    if not isinstance(values, list) or not all(v is None or _is_num(v) for v in values):
        _fail(path, f"the history's {key} must be a list of numbers or null.")
    if len(values) != epochs:
        _fail(path, f"the history says {epochs} epochs but holds {len(values)} values of {key}.")
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _check_history(path, h):
    if h is None:
        return None
    if not isinstance(h, dict):
        _fail(path, "the history must be an object.")
    need = {"loss", "epochs", "steps", "seconds", "stop_reason"}
    if not need <= set(h):
        _fail(path, f"the history lacks {sorted(need - set(h))}.")
    loss = h["loss"]
    if not isinstance(loss, list) or not all(v is None or _is_num(v) for v in loss):
        _fail(path, "the history's loss must be a list of numbers.")
    if not _is_int(h["epochs"]) or h["epochs"] != len(loss):
        _fail(path, f"the history says {h['epochs']!r} epochs but holds {len(loss)} losses.")
    if not _is_int(h["steps"]) or h["steps"] < 0:
        _fail(path, f"the history's steps must be a non-negative integer; got {h['steps']!r}.")
    if not _is_num(h["seconds"]) or not h["seconds"] >= 0:
        _fail(path, f"the history's seconds must be a non-negative number; got {h['seconds']!r}.")
    if h["stop_reason"] not in STOP_REASONS:
        _fail(path, f"the history has an unknown stop_reason {h['stop_reason']!r}.")
    # Fields of later histories: absent (None) in older files.
    series = {key: _check_series(path, h, key, len(loss)) for key in HISTORY_SERIES}
    metric = h.get("metric")
    if metric not in (None, "accuracy", "r2"):
        _fail(path, f"the history's metric must be 'accuracy', 'r2' or null; got {metric!r}.")
    best = h.get("best_epoch")
    if best is not None and (not _is_int(best) or not 1 <= best <= len(loss)):
        _fail(path, f"the history's best_epoch must be an epoch from 1 to {len(loss)} or null; got {best!r}.")
    monitor = h.get("monitor")
    if monitor is not None and monitor not in MONITORS:
        _fail(path, f"the history's monitor must be one of {', '.join(MONITORS)} or null; got {monitor!r}.")
    engine = h.get("engine")
    if engine is not None and engine not in ENGINES:
        _fail(path, f"the history's engine must be {' or '.join(map(repr, ENGINES))} or null; got {engine!r}.")
    values = np.array([np.nan if v is None else float(v) for v in loss], dtype=np.float64)
    return History(values, h["steps"], h["seconds"], h["stop_reason"], metric=metric, best_epoch=best,
                   monitor=monitor, engine=engine, **series)


def read(path):
    """Read and validate a model file; returns a :class:`ModelFile`
    ``(model, trainer, history, metadata, header)``.

    Raises FileNotFoundError if there is no such file and ModelFileError (a
    ValueError naming the file and the problem) for anything else wrong."""
    path = existing_file(path, expected="a fastmlp model file", error=ModelFileError)
    arrays = _read_arrays(path)
    raw, params = arrays["header"], arrays["params"]

    # The header: uint8 bytes of a JSON object.
    if raw.dtype != np.uint8 or raw.ndim != 1:
        _fail(path, f"not a fastmlp model file: its header is an array of {raw.dtype} with shape {raw.shape}.")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        _fail(path, f"the header is not valid JSON (corrupted?): {exc}")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        _fail(path, "not a fastmlp model file (its header does not say format 'fastmlp-model').")
    version = header.get("format_version")
    if not _is_int(version) or version < 1:
        _fail(path, f"invalid format_version {version!r}.")
    if version > FORMAT_VERSION:
        writer = header.get("fastmlp_version", "a newer version")
        _fail(path, f"was written by fastmlp {writer} in model format version {version}; this fastmlp "
                    f"({__version__}) reads up to version {FORMAT_VERSION}. Upgrade fastmlp to load it.")
    expected = HEADER_FIELDS[version]
    if set(header) != expected:
        missing, extra = sorted(expected - set(header)), sorted(set(header) - expected)
        _fail(path, f"the header's fields do not match format version {version} "
                    f"(missing {missing}, unexpected {extra}).")
    if not isinstance(header["fastmlp_version"], str):
        _fail(path, "the header's fastmlp_version must be a string.")

    # dtype and parameters.
    if header["dtype"] not in DTYPE_NAMES:
        _fail(path, f"the header's dtype is {header['dtype']!r}; expected "
                    f"{' or '.join(map(repr, DTYPE_NAMES))}.")
    dtype = check_dtype(header["dtype"])
    want = np.dtype(dtype).newbyteorder("<")
    if params.dtype != want:
        _fail(path, f"the parameters are stored as {params.dtype.str}, but the header says {header['dtype']}.")
    if params.ndim != 1:
        _fail(path, f"the parameters have shape {params.shape}; expected a flat (1-D) array.")
    if not _is_int(header["n_params"]) or header["n_params"] != params.size:
        _fail(path, f"the header says {header['n_params']!r} parameters, but the file holds {params.size}.")
    if not isinstance(header["sha256"], str) or header["sha256"] != checksum(header, params):
        _fail(path, "checksum mismatch: the header or the parameters were changed or corrupted after saving.")

    # Layers: each checked, then the model built with zero weights and filled.
    layers = header["layers"]
    if not isinstance(layers, list) or not layers:
        _fail(path, "the header must list at least one layer.")
    built = [_check_layer(path, i, cfg) for i, cfg in enumerate(layers)]
    # Counted before the model allocates them: a header declaring huge layers
    # must be refused, not answered with a MemoryError.
    need = sum(getattr(layer, "n_params", 0) for layer in built)
    if need > params.size:
        _fail(path, f"the layers need {need} parameters, but the file holds {params.size}.")
    try:
        model = Model(built, dtype=dtype, init="zeros")
    except (ValueError, TypeError) as exc:
        _fail(path, f"the layers do not form a valid model: {exc}")
    if model.n_params != params.size:
        _fail(path, f"the layers need {model.n_params} parameters, but the file holds {params.size}.")
    if not np.all(np.isfinite(params)):
        _fail(path, "the parameters contain NaN or infinite values.")
    model.params[...] = params

    trainer = header["trainer"]
    if trainer is not None and not isinstance(trainer, dict):
        _fail(path, "the trainer settings must be an object or null.")
    history = _check_history(path, header["history"])
    metadata = header["metadata"]
    if not isinstance(metadata, dict):
        _fail(path, "the metadata must be an object.")
    for key in ("feature_names", "feature_names_in"):
        names = metadata.get(key)
        if names is not None and (not isinstance(names, list) or len(names) != model.n_features_in
                                  or not all(isinstance(n, str) for n in names)):
            _fail(path, f"metadata.{key} must list {model.n_features_in} names; got {names!r}.")
    if metadata.get("feature_names_in") is not None:
        model.feature_names_in_ = np.asarray(metadata["feature_names_in"], dtype=object)
    if header.get("standardize") is not None:
        try:
            model.standardizer = Standardizer.from_config(header["standardize"])
        except (ValueError, TypeError) as exc:
            _fail(path, f"the header's standardize is not valid: {exc}")
    if header.get("classes") is not None:
        try:
            model.classes = header["classes"]
        except (ValueError, TypeError) as exc:
            _fail(path, f"the header's classes are not valid: {exc}")
    return ModelFile(model, trainer, history, metadata, header)


def load(path):
    """Load a model saved with ``model.save(path)`` / ``fastmlp.modelfile.save``.

    The file is read without pickle and validated before the model is built;
    any problem raises a ValueError naming the file and what is wrong. The
    loaded model predicts bit-identically to the saved one. Use
    :func:`fastmlp.modelfile.read` to also get the training settings, history and
    metadata stored with it."""
    return read(path).model
