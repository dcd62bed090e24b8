"""The ``fastmlp`` command: train, evaluate, predict, plot, formula, trace, export, bench.

Exit codes: 0 success; 2 a usage or input error (one line
``fastmlp: error: ...`` on stderr, no traceback); 1 training diverged or an
unexpected failure; 130 interrupted with Ctrl-C.
"""

import argparse
import csv
import json
import math
import os
import sys
import textwrap
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# Defaults per built-in dataset, and for data files (--data).
PRESETS = {
    "xor": {"hidden": [8], "lr": 0.5, "batch_size": 4, "epochs": 10_000, "optimizer": "sgd"},
    "line": {"hidden": [8], "lr": 0.5, "batch_size": 32, "epochs": 100, "optimizer": "sgd"},
    "celsius": {"hidden": [], "lr": 0.1, "batch_size": 32, "epochs": 100, "optimizer": "sgd"},
    "file": {"hidden": [8], "lr": 0.01, "batch_size": 32, "epochs": 200, "optimizer": "adam"},
}


class CLIError(Exception):
    """A usage or input error: printed as one line, exit code 2."""


class Failure(Exception):
    """An expected failure that is not the user's input (e.g. divergence): exit code 1."""


# -- argument parsing ------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Wraps the description, keeps the epilog (examples) as written."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=30, width=100)

    def add_text(self, text):
        if text and "\n" not in text:
            text = textwrap.fill(text, 96)
        super().add_text(text)


def _positive_int(text):
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {value}")
    return value


def _int_list(text, what):
    text = text.strip().lower()
    if text in ("", "none", "0", "-"):
        return []
    try:
        values = [int(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise CLIError(f"{what} must be comma-separated whole numbers like 8,8; got {text!r}.") from None
    if any(v < 1 for v in values):
        raise CLIError(f"{what} widths must be >= 1; got {text!r}.")
    return values


def _float_list(text, what):
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise CLIError(f"{what} must be comma-separated numbers like 1,0.5; got {text!r}.") from None
    if not values:
        raise CLIError(f"{what} needs at least one number.")
    return values


def _preset_text(preset):
    """A preset as the help lists it: "hidden 8, sgd, lr 0.5, batch 4, 10000 epochs"."""
    hidden = f"hidden {','.join(map(str, preset['hidden']))}" if preset["hidden"] else \
        "no hidden layer (a single neuron)"
    return (f"{hidden}, {preset['optimizer']}, lr {preset['lr']:g}, batch {preset['batch_size']}, "
            f"{preset['epochs']} epochs")


TRAIN_EPILOG = "defaults by data (any flag overrides them):\n" + "".join(
    f"  {'--data FILE' if name == 'file' else '--dataset ' + name:<20}{_preset_text(preset)}\n"
    for name, preset in PRESETS.items()) + """
The output layer and loss follow the target column unless given:
  two values 0/1            -> sigmoid output, bce loss (binary classification)
  integers 0..k-1 (k <= 50) -> softmax output with k units, cross_entropy loss
  text labels (setosa, ...) -> classes in sorted order: sigmoid for two, softmax for more
  anything else             -> identity output, mse loss (regression)
  --loss poisson            -> exp output (the log link) for counts or rates >= 0

The inputs of --data files are standardized (each column to mean 0 and standard
deviation 1, learned from the training rows and saved with the model, so predict
and evaluate take raw columns); --no-standardize turns that off. Built-in
datasets are not standardized unless --standardize is given.

examples:
  fastmlp train                                    # XOR, 2-8-1
  fastmlp train --dataset xor --loss mse --save xor.npz --plot xor.png
  fastmlp train --data houses.csv --target price --hidden 16,16 --epochs 500
  fastmlp train --data iris.csv --validation 0.2 --early-stopping 20 --save iris.npz
  fastmlp train --data train.csv --validation-data valid.csv --lr-schedule cosine
  fastmlp train --data iris.csv --json > result.json
  fastmlp train --data visits.csv --target count --loss poisson
"""

LR_SCHEDULE_HELP = ("learning-rate schedule: constant (default); step (halve it every quarter of the epochs); "
                    "cosine (from --lr down to 0); plateau (halve it after 5 epochs without a lower "
                    "validation loss, or training loss without validation data)")


def _build_parser():
    from .callbacks import SCHEDULES
    from .datasets import NAMES as DATASET_NAMES
    from .engines import NAMES as ENGINE_NAMES
    from .layers import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
    from .losses import NAMES as LOSS_NAMES
    from .optim import NAMES as OPTIMIZER_NAMES
    from .validation import DTYPE_NAMES
    parser = _Parser(prog="fastmlp", formatter_class=_Formatter,
                     description="Train multi-layer perceptrons on the CPU, fast; inspect what they learned.",
                     epilog="Run 'fastmlp COMMAND --help' for the options and examples of each command.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train a network on a built-in dataset or a data file",
                       description="Train a network and print a summary (final loss, accuracy or R^2, "
                                   "time, steps/s).",
                       epilog=TRAIN_EPILOG, formatter_class=_Formatter)
    src = t.add_mutually_exclusive_group()
    src.add_argument("--dataset", choices=DATASET_NAMES, help="a built-in dataset (default: xor)")
    src.add_argument("--data", metavar="FILE", help="a .csv with a header row, or a .npy / .npz table")
    t.add_argument("--target", metavar="COLUMN", help="target column of --data: name or index (default: last)")
    arch = t.add_mutually_exclusive_group()
    arch.add_argument("--hidden", metavar="W,W", help="hidden layer widths, e.g. 8 or 16,16 ('none' for none)")
    arch.add_argument("--layers", metavar="D,W,K", help="all widths, e.g. 2,8,1 (must fit the data)")
    t.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="relu",
                   help="hidden activation (default: relu)")
    t.add_argument("--output", choices=OUTPUT_ACTIVATIONS,
                   help="output activation (default: chosen from the target, see below)")
    t.add_argument("--loss", choices=LOSS_NAMES,
                   help="loss (default: bce after sigmoid, cross_entropy after softmax, poisson after exp, "
                        "else mse); poisson (counts, rates >= 0) implies --output exp")
    t.add_argument("--optimizer", choices=OPTIMIZER_NAMES, help="optimizer (default: see below)")
    t.add_argument("--momentum", type=float, default=0.0, help="sgd momentum (default: 0)")
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--batch-size", type=int, help="samples per update")
    t.add_argument("--epochs", type=int, help="passes over the data")
    t.add_argument("--target-loss", type=float, metavar="LOSS", help="stop once an epoch's mean loss is below")
    val = t.add_mutually_exclusive_group()
    val.add_argument("--validation", type=float, metavar="FRACTION",
                     help="hold out this fraction of the rows (e.g. 0.2, drawn from --seed, stratified by class) "
                          "and report the loss and accuracy or R^2 on them after every epoch")
    val.add_argument("--validation-data", metavar="FILE",
                     help="validate on this file instead (the columns of --data, matched by name)")
    t.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a lower validation loss and keep the weights of "
                        "the best epoch (needs --validation or --validation-data)")
    t.add_argument("--lr-schedule", choices=SCHEDULES, help=LR_SCHEDULE_HELP)
    t.add_argument("--engine", choices=ENGINE_NAMES, default="auto",
                   help="the compiled training engine: generic (any model), specialized (compiled for this "
                        "stack of layers on first use, then cached) or auto (default: specialized only for "
                        "very small layers and very long runs)")
    t.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                   help="standardize the inputs as part of the model (default: on for --data, off for "
                        "--dataset)")
    t.add_argument("--seed", type=int, default=0,
                   help="seed of weights, shuffling and the validation split (default: 0)")
    t.add_argument("--dtype", choices=DTYPE_NAMES, default="float64",
                   help="floating-point precision (default: float64)")
    t.add_argument("--save", metavar="MODEL.npz", help="save the trained model (also on Ctrl-C)")
    t.add_argument("--plot", metavar="OUT.png", help="save a plot of the result (needs the 'plot' extra)")
    t.add_argument("--print-every", type=int, metavar="N",
                   help="progress line every N epochs when not on a terminal (default: epochs / 10)")
    out = t.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON summary on stdout and nothing else")
    out.add_argument("--quiet", "-q", action="store_true", help="no progress; just the summary")

    p = sub.add_parser("predict", help="predictions of a saved model as CSV",
                       description="Write the predictions of a saved model for the rows of a data file as "
                                   "CSV: the class label and probabilities for classifiers, the predicted "
                                   "value(s) for regressors. Columns are matched by name when the model "
                                   "knows its feature names (a CSV must then have every one of them); "
                                   "by position when its names are the generic x1, x2, ... or the file "
                                   "has no header. A target column in the file is ignored.",
                       epilog="examples:\n  fastmlp predict xor.npz --dataset xor\n"
                              "  fastmlp predict model.npz --data new.csv --output predictions.csv",
                       formatter_class=_Formatter)
    p.add_argument("model", metavar="MODEL.npz")
    psrc = p.add_mutually_exclusive_group(required=True)
    psrc.add_argument("--data", metavar="FILE", help="rows to predict (.csv, .npy, .npz)")
    psrc.add_argument("--dataset", choices=DATASET_NAMES, help="a built-in dataset's inputs")
    p.add_argument("--target", metavar="COLUMN", help="the target column to ignore, if the file has one")
    p.add_argument("--output", "-o", metavar="FILE.csv", help="write here instead of stdout")

    e = sub.add_parser("evaluate", help="scores of a saved model on a labelled data file",
                       description="Score a saved model on a data file with the target column: accuracy, "
                                   "log-loss and the confusion matrix for classifiers; R^2, mean absolute "
                                   "error and root mean squared error for regressors. Columns are matched "
                                   "as by predict; the target is the model's training target unless "
                                   "--target names another column.",
                       epilog="examples:\n  fastmlp evaluate iris.npz --data iris-test.csv\n"
                              "  fastmlp evaluate model.npz --data test.csv --json",
                       formatter_class=_Formatter)
    e.add_argument("model", metavar="MODEL.npz")
    esrc = e.add_mutually_exclusive_group(required=True)
    esrc.add_argument("--data", metavar="FILE", help="labelled rows to score (.csv, .npy, .npz)")
    esrc.add_argument("--dataset", choices=DATASET_NAMES, help="a built-in dataset")
    e.add_argument("--target", metavar="COLUMN", help="the target column (default: the model's, else the last)")
    e.add_argument("--json", action="store_true", help="print the scores as one JSON object")

    g = sub.add_parser("plot", help="decision boundary and training curves of a saved model",
                       description="For 2-feature inputs, the decision boundary (or prediction surface) "
                                   "with the data points over it, and the training loss curve beside it "
                                   "(with the validation loss, and a panel of training and validation "
                                   "accuracy or R^2, when the model was trained with validation data); "
                                   "for 1 feature the output curve; for other inputs the curves alone. "
                                   "The data default to the dataset the model was trained on.",
                       epilog="examples:\n  fastmlp train --save xor.npz && fastmlp plot xor.npz -o xor.png\n"
                              "  fastmlp plot model.npz --data points.csv -o boundary.png",
                       formatter_class=_Formatter)
    g.add_argument("model", metavar="MODEL.npz")
    gsrc = g.add_mutually_exclusive_group()
    gsrc.add_argument("--data", metavar="FILE", help="points to draw (.csv, .npy, .npz)")
    gsrc.add_argument("--dataset", choices=DATASET_NAMES, help="a built-in dataset's points")
    g.add_argument("--target", metavar="COLUMN", help="target column of --data (default: last)")
    g.add_argument("--output", "-o", metavar="OUT.png", help="image file (default: MODEL.png)")
    g.add_argument("--title", help="a title over the figure")

    f = sub.add_parser("formula", help="the trained network written as one formula",
                       description="Write the network as a formula over its named inputs: each Linear "
                                   "layer expands into its weighted sum, wrapped in the activations.",
                       epilog="examples:\n  fastmlp formula xor.npz\n  fastmlp formula xor.npz --precision 3",
                       formatter_class=_Formatter)
    f.add_argument("model", metavar="MODEL.npz")
    f.add_argument("--precision", type=_positive_int, default=4,
                   help="significant digits per weight (default: 4)")
    f.add_argument("--exact", action="store_true", help="every parameter to full precision")
    f.add_argument("--names", metavar="A,B", help="input names (default: the training columns, or x1, x2...)")

    r = sub.add_parser("trace", help="one step of backpropagation, number by number",
                       description="Show one gradient-descent step the way hand-worked examples do: each "
                                   "layer's forward values, the loss, each gradient from the output back "
                                   "to the input, and each weight before and after the update. The model "
                                   "file is not changed.",
                       epilog="examples:\n  fastmlp trace --example      # the 2-2-1 network of the "
                              "backpropagation tutorial\n"
                              "  fastmlp trace model.npz --x 1,0.5 --y 4 --lr 0.1 --loss half_mse",
                       formatter_class=_Formatter)
    r.add_argument("model", metavar="MODEL.npz", nargs="?")
    r.add_argument("--example", action="store_true",
                   help="the tutorial's network: 2-2-1, no biases, weights 0.5 1.5 2.3 3 and 1 1")
    r.add_argument("--x", metavar="X1,X2", help="one input sample")
    r.add_argument("--y", metavar="T", help="its target (numbers, a class index for softmax models, or a class "
                                            "name for models trained on text labels)")
    r.add_argument("--lr", type=float, help="learning rate (default: the model's, else 0.1)")
    r.add_argument("--loss", choices=LOSS_NAMES,
                   help="loss (default: the model's training loss, else from its output layer)")
    r.add_argument("--precision", type=_positive_int, default=6, help="significant digits shown (default: 6)")
    r.add_argument("--json", action="store_true", help="the trace as JSON")

    x = sub.add_parser("export", help="a saved model as an ONNX file, to serve with onnxruntime",
                       description="Write a saved model as an ONNX graph (MatMul, Add and the activations, "
                                   "in the model's precision) to run with onnxruntime or any ONNX runtime, "
                                   "without fastmlp. Classification models (trained on class labels; for "
                                   "models saved from Python, those ending in Softmax, or in Sigmoid with "
                                   "one output) output 'label' and 'probabilities' (one column per class, "
                                   "as skl2onnx's models do); others output 'variable'. "
                                   "The input is 'X'. Needs the onnx extra: pip install 'fastmlp[onnx]'.",
                       epilog="examples:\n  fastmlp export xor.npz -o xor.onnx\n"
                              "  fastmlp export model.npz --opset 13",
                       formatter_class=_Formatter)
    x.add_argument("model", metavar="MODEL.npz")
    x.add_argument("--output", "-o", metavar="FILE.onnx", help="where to write (default: MODEL.onnx)")
    x.add_argument("--opset", type=int, metavar="N", help="ONNX opset, 13 or later (default: 17)")

    sub.add_parser("bench", help="speed benchmarks against other libraries (see 'fastmlp bench --help')",
                   add_help=False)
    return parser


# -- data ------------------------------------------------------------------------------

def _load_data(dataset, path, target):
    """X, y (n, 1), feature names, target name, source description, and the
    text class labels y indexes (None for a numeric target)."""
    from . import datasets
    try:
        if path is not None:
            datasets.check_data_file(path, "--data")
            X, y, features, target_name, classes = datasets.load_labelled(path, target)
            return X, y, features, target_name, {"data": os.path.abspath(path), "target": target_name}, classes
        if target is not None:
            raise CLIError("--target applies to --data files only.")
        name = dataset or "xor"
        X, y = datasets.get(name)
        return X, y, [f"x{i + 1}" for i in range(X.shape[1])], "y", {"dataset": name}, None
    except (ValueError, TypeError, OSError) as exc:
        raise CLIError(str(exc)) from None


def _infer_task(y, output, name="the target", classes=None):
    """(task, n_outputs, output activation) from the target column and --output."""
    from .tasks import infer_task
    try:
        return infer_task(y, output, name, classes=classes)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _metrics(model, X, y, task):
    """The summary's scores of the model on X, y: accuracy and the number
    correct for classifiers, R^2 (None for a constant target) for regressors."""
    from .tasks import evaluate
    scores = evaluate(task, model.predict_positional(X), y)
    if task == "regression":
        return {"r2": scores["r2"]}
    return {"accuracy": scores["accuracy"], "correct": scores["correct"]}


def _onehot(y, n_out, what):
    """Class indices (n, 1) as one-hot rows (n, n_out), refusing anything else."""
    labels = y[:, 0]
    bad = (labels != np.round(labels)) | (labels < 0) | (labels >= n_out)
    if bad.any():
        i = int(np.argmax(bad))
        raise CLIError(f"{what} has the value {labels[i]:g} in row {i + 2}; the model's classes are 0..{n_out - 1}.")
    return np.eye(n_out)[labels.astype(np.int64)]


def _schedule(name, has_validation):
    """The --lr-schedule object: the library's defaults, except that plateau
    watches the training loss when there is no validation data and halves
    the rate after 5 epochs (so it acts before a typical --early-stopping)."""
    import fastmlp as fm
    if name == "plateau":
        return fm.ReduceLROnPlateau(monitor="val_loss" if has_validation else "loss", factor=0.5, patience=5)
    return name


def _rows_matching(path, feature_names, target_name, classes, flag):
    """X and y of a labelled file whose columns are matched by name to the
    training columns (validation data): text labels are mapped to `classes`."""
    from . import datasets
    try:
        datasets.check_data_file(path, flag)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    try:
        data, names, file_classes = datasets.read_table(path, text_column=target_name)
    except (ValueError, OSError) as exc:
        raise CLIError(f"{flag}: {exc}") from None
    missing = [c for c in list(feature_names) + [target_name] if c not in names]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise CLIError(f"{flag} {path} has no column{plural} {', '.join(map(repr, missing))}; training used the "
                       f"columns {', '.join(feature_names)} and the target {target_name!r} (the file has "
                       f"{', '.join(names)}).")
    X = data[:, [names.index(c) for c in feature_names]]
    column = data[:, names.index(target_name)]
    y = _class_indices(path, target_name, column, file_classes, classes)[:, None]
    return X, y


def _class_indices(path, target_name, column, file_classes, classes):
    """A target column as indices into the model's `classes` (as read: text
    labels come as indices into the file's own sorted `file_classes`)."""
    if classes is None:
        if file_classes is not None:
            raise CLIError(f"{path}: the target column {target_name!r} holds text labels "
                           f"({', '.join(map(str, file_classes[:4]))}...), but the model was trained on a "
                           "numeric target.")
        return column
    labels = np.asarray(file_classes, dtype=object)[column.astype(np.int64)] if file_classes is not None \
        else column
    position = {label: i for i, label in enumerate(classes)}
    text = all(isinstance(c, str) for c in classes)
    out = np.empty(len(labels))
    for i, label in enumerate(labels.tolist()):
        if label not in position:         # 10.0 finds the class 10: equal numbers hash alike
            shown = label if text or isinstance(label, str) else f"{label:g}"
            raise CLIError(f"{path}: the target column {target_name!r} holds the label {shown!r} (row {i + 2}), "
                           f"which is not one of the model's classes ({', '.join(map(str, classes))}).")
        out[i] = position[label]
    return out


def _output_path(path, flag, image=False):
    """Check, before any work is done, that `path` can be written: its directory
    exists and is writable and, for an image, matplotlib knows the format. An
    image name without an extension gets .png. Returns the path to write."""
    from .validation import check_file_type, writable_file
    try:
        if not image:
            return writable_file(path, flag)
        # matplotlib opens the image file itself: an existing one must be writable.
        path = writable_file(path, flag, "an image file name like out.png", default_suffix=".png", in_place=True)
        from .plot import image_formats
        formats = image_formats()
        return path if formats is None else check_file_type(path, flag, formats, what="images")
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _num(v):
    """JSON-safe float: non-finite -> None."""
    return float(v) if v is not None and math.isfinite(v) else None


def _fmt_rate(v):
    if not math.isfinite(v):
        return "inf"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.3g}"


# -- train -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainData:
    """The data `fastmlp train` learns from, and the task it poses."""
    X: np.ndarray               # (n, d) inputs
    y: np.ndarray               # (n, 1) target; class indices for a classification task
    feature_names: list
    target_name: str
    source: dict                # {"dataset": name}, or {"data": absolute path, "target": column}
    description: str            # the dataset's name or the path as given, for the summary
    classes: list               # the text labels y indexes, or None
    task: str                   # "binary", "multiclass" or "regression"
    n_outputs: int
    output: str                 # the output activation


@dataclass(frozen=True)
class TrainSettings:
    """What `fastmlp train` was asked to do: the arguments checked against the
    data, with the defaults filled in."""
    data: TrainData
    sizes: list                 # the widths of the network, e.g. [2, 8, 1]
    network_flag: str           # where the widths came from ("--hidden 8", ...), for messages
    activation: str
    loss: str
    optimizer: str
    momentum: float
    lr: float
    batch_size: int
    epochs: int
    target_loss: float          # or None
    seed: int
    dtype: str
    standardize: bool
    validation: float           # the fraction of the rows held out, or None
    validation_data: str        # the --validation-data file, or None
    early_stopping: int         # patience in epochs, or None
    lr_schedule: str            # the --lr-schedule name, or None (constant)
    engine: str                 # the --engine name
    save: str                   # the --save path, or None
    plot: str                   # the --plot path as given, or None
    json: bool                  # one JSON summary on stdout and nothing else
    interactive: bool           # progress and summary lines on stdout (neither --json nor --quiet)
    progress_bar: bool          # interactive on a terminal
    print_every: int            # progress line every N epochs when interactive off a terminal, else None

    @property
    def has_validation(self):
        """Whether the run is validated (held-out rows or a validation file)."""
        return bool(self.validation) or bool(self.validation_data)


@dataclass(frozen=True)
class TrainSetup:
    """The model and trainer built from TrainSettings, and the checked arrays."""
    model: object               # fastmlp.Model
    trainer: object             # fastmlp.Trainer
    X: np.ndarray               # the inputs, checked for the model
    Y: np.ndarray               # the targets, checked for the loss (one-hot rows for multiclass)
    validation_data: tuple      # (X, Y) of --validation-data, checked, or None
    train_rows: np.ndarray      # the rows trained on
    val_rows: np.ndarray        # the rows held out for validation, or None
    plot_path: str              # the image file to write (an extension added), or None

    @property
    def n_train(self):
        """The number of rows trained on."""
        return len(self.train_rows)

    @property
    def n_validation(self):
        """The number of validation rows (held out, or of --validation-data)."""
        if self.val_rows is not None:
            return len(self.val_rows)
        return self.validation_data[0].shape[0] if self.validation_data is not None else 0


@dataclass(frozen=True)
class TrainRun:
    """What training gave."""
    history: object             # fastmlp.History
    compile_seconds: float      # the warm-up that compiles (or loads) the kernels
    interrupted: bool           # stopped by Ctrl-C
    diverged: str               # the TrainingDiverged message, or None


@dataclass(frozen=True)
class TrainOutcome:
    """What was kept of a run: the files written and the scores of the final model."""
    saved: str                  # the model file written, or None
    plotted: str                # the image written, or None
    restored: int               # the epoch whose weights early stopping put back, or None
    metrics: dict               # scores on the training rows
    val_metrics: dict           # scores and loss on the validation data, or None


def _task_description(task, n_outputs):
    """The task in words: "binary classification", "3-class classification" or "regression"."""
    return {"binary": "binary classification", "multiclass": f"{n_outputs}-class classification",
            "regression": "regression"}[task]


def _train(args, out):
    """`fastmlp train`: the settings, the training run, then the report."""
    settings = _train_settings(args)
    setup = _prepare_training(settings)
    if settings.interactive:
        _print_training_plan(settings, setup, out)
    run = _run_training(settings, setup)
    outcome = _keep_results(settings, setup, run)
    _print_training_result(settings, setup, run, outcome, out)
    return _training_exit_code(settings, run, outcome)


def _train_data(args):
    """TrainData from --dataset or --data, --target and --output (or --loss poisson)."""
    X, y, feature_names, target_name, source, classes = _load_data(args.dataset, args.data, args.target)
    if args.loss == "poisson" and args.output not in (None, "exp"):
        raise CLIError(f"--loss poisson needs --output exp (the log link), not --output {args.output}.")
    task, n_out, output = _infer_task(y, "exp" if args.loss == "poisson" else args.output,
                                      f"the target {target_name!r}" if args.data else "the target", classes)
    return TrainData(X, y, feature_names, target_name, source, source.get("dataset") or args.data, classes,
                     task, n_out, output)


def _network_sizes(args, preset, data):
    """The widths of the network from --layers (checked against the data) or
    --hidden (else the preset's)."""
    d, n_out = data.X.shape[1], data.n_outputs
    if not args.layers:
        hidden = preset["hidden"] if args.hidden is None else _int_list(args.hidden, "--hidden")
        return [d] + hidden + [n_out]
    sizes = _int_list(args.layers, "--layers")
    if len(sizes) < 2:
        raise CLIError(f"--layers needs at least the input and output widths, e.g. {d},8,{n_out}.")
    if sizes[0] != d:
        raise CLIError(f"--layers {args.layers} starts with {sizes[0]} inputs, but the data has {d} "
                       f"feature{'s' if d > 1 else ''} ({', '.join(data.feature_names)}).")
    if sizes[-1] != n_out:
        need = {"binary": "a binary target needs 1 output",
                "multiclass": f"a target with {n_out} classes needs {n_out} outputs",
                "regression": "a single target column needs 1 output"}[data.task]
        raise CLIError(f"--layers {args.layers} ends with {sizes[-1]} outputs, but {need}.")
    return sizes


def _train_settings(args):
    """The arguments of `fastmlp train` checked against the data, with the
    defaults of the dataset's preset filled in."""
    from .tasks import default_loss
    data = _train_data(args)
    preset = PRESETS["file" if args.data else (args.dataset or "xor")]
    n = data.X.shape[0]
    if args.validation_data and not args.data:
        raise CLIError("--validation-data goes with --data FILE (the columns are matched by name).")
    if args.early_stopping is not None and not (args.validation or args.validation_data):
        raise CLIError(f"--early-stopping {args.early_stopping} watches the validation loss: add --validation 0.2 "
                       "or --validation-data FILE.")
    sizes = _network_sizes(args, preset, data)
    network_flag = f"--layers {args.layers}" if args.layers else \
        f"--hidden {args.hidden}" if args.hidden is not None else "the network"
    epochs = preset["epochs"] if args.epochs is None else args.epochs
    batch = preset["batch_size"] if args.batch_size is None else args.batch_size
    if batch > n:
        if args.batch_size is not None and not args.json and not args.quiet:
            print(f"fastmlp: note: --batch-size {batch} is more than the {n} samples; using {n}.",
                  file=sys.stderr)
        batch = n
    if args.print_every is not None and args.print_every < 1:
        raise CLIError(f"--print-every must be >= 1; got {args.print_every}.")
    interactive = not args.json and not args.quiet
    progress_bar = interactive and sys.stdout.isatty()
    print_every = None
    if interactive and not progress_bar:
        print_every = args.print_every or max(1, (epochs or 1) // 10)
    return TrainSettings(
        data=data, sizes=sizes, network_flag=network_flag, activation=args.activation,
        loss=args.loss or default_loss(data.output, data.y), optimizer=args.optimizer or preset["optimizer"],
        momentum=args.momentum, lr=preset["lr"] if args.lr is None else args.lr, batch_size=batch,
        epochs=epochs, target_loss=args.target_loss, seed=args.seed, dtype=args.dtype,
        standardize=bool(args.data) if args.standardize is None else args.standardize,
        validation=args.validation, validation_data=args.validation_data, early_stopping=args.early_stopping,
        lr_schedule=args.lr_schedule, engine=args.engine, save=args.save, plot=args.plot, json=args.json, interactive=interactive,
        progress_bar=progress_bar, print_every=print_every)


def _checked_validation_data(s, model, loss_name):
    """(X, Y) of --validation-data, its columns matched by name to the training data's."""
    data, path = s.data, s.validation_data
    Xv, yv = _rows_matching(path, data.feature_names, data.target_name, data.classes, "--validation-data")
    Xv = model.check_input(Xv, f"--validation-data {path}")
    if data.task == "multiclass":
        yv = _onehot(yv, data.n_outputs, f"the target of --validation-data {path}")
    return Xv, model.check_target(yv, Xv.shape[0], loss=loss_name, name=f"the target of --validation-data {path}")


def _prepare_training(s):
    """TrainSetup: the model, the trainer and the checked arrays; and, before
    any work is done, the check that the results can be written."""
    import fastmlp as fm
    data = s.data
    n = data.X.shape[0]
    try:
        model = fm.MLP(s.sizes, activation=s.activation, output=data.output, dtype=s.dtype, seed=s.seed)
        if data.classes is not None:
            model.classes = data.classes
        trainer = fm.Trainer(model, loss=s.loss, lr=s.lr, batch_size=s.batch_size, epochs=s.epochs, seed=s.seed,
                             target_loss=s.target_loss, optimizer=s.optimizer, momentum=s.momentum,
                             print_every=s.print_every, progress=s.progress_bar, validation_split=s.validation,
                             early_stopping=s.early_stopping,
                             lr_schedule=_schedule(s.lr_schedule, s.has_validation), standardize=s.standardize,
                             engine=s.engine)
        X = model.check_input(data.X, "the data")
        # Class labels become one-hot rows here, so every loss (not only
        # cross_entropy, which also takes indices) can train on them.
        yt = np.eye(data.n_outputs)[data.y[:, 0].astype(np.int64)] if data.task == "multiclass" else data.y
        Y = model.check_target(yt, n, loss=trainer.loss.name, name="the target")
        validation_data = _checked_validation_data(s, model, trainer.loss.name) if s.validation_data else None
        train_rows, val_rows = trainer.split(X, Y) if trainer.validation_split else (np.arange(n), None)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    except MemoryError:
        n_params = sum((a + 1) * b for a, b in zip(s.sizes, s.sizes[1:]))
        gib = n_params * np.dtype(s.dtype).itemsize / 2 ** 30
        raise CLIError(f"{s.network_flag}: the network {'-'.join(map(str, s.sizes))} would need {n_params:,} "
                       f"parameters ({gib:,.1f} GiB for the weights alone), more memory than can be allocated; "
                       "give smaller widths.") from None
    # Fail now, not after a long run, if a result could not be written.
    if s.save:
        _output_path(s.save, "--save")
    plot_path = None
    if s.plot:
        from .plot import figure_class
        figure_class()                      # fail now, not after training, if matplotlib is missing
        plot_path = _output_path(s.plot, "--plot", image=True)
    return TrainSetup(model, trainer, X, Y, validation_data, train_rows, val_rows, plot_path)


def _print_training_plan(s, setup, out):
    """The lines before training: the data, the model and the training settings."""
    data, model = s.data, setup.model
    n, d = data.X.shape
    plural = "s" if d > 1 else ""
    print(f"data      {data.description}: {n} samples, {d} feature{plural} ({', '.join(data.feature_names)}) -> "
          f"{_task_description(data.task, data.n_outputs)}", file=out)
    if data.classes is not None:
        print(f"classes   {', '.join(map(str, data.classes))} (target {data.target_name!r})", file=out)
    if setup.val_rows is not None:
        print(f"          {setup.n_train} for training, {setup.n_validation} held out for validation "
              f"(seed {s.seed})", file=out)
    elif setup.validation_data is not None:
        print(f"          validation: {s.validation_data}, {setup.n_validation} samples", file=out)
    layer_text = " -> ".join(repr(layer) for layer in model.layers)
    print(f"model     {'standardize -> ' if s.standardize else ''}{layer_text}  ({model.n_params} parameters, "
          f"{s.dtype})", file=out)
    extras = []
    if s.early_stopping is not None:
        extras.append(f"early stopping after {s.early_stopping} epochs without a lower validation loss")
    if s.lr_schedule and s.lr_schedule != "constant":
        extras.append(f"{s.lr_schedule} schedule")
    optimizer = s.optimizer + (f" (momentum {s.momentum:g})" if s.optimizer == "sgd" and s.momentum else "")
    print(f"training  loss {setup.trainer.loss.name}, {optimizer}, lr {s.lr:g}, batch {s.batch_size}, "
          f"{s.epochs} epochs, seed {s.seed}" + "".join(f", {e}" for e in extras), file=out, flush=True)


def _warm_up(s, setup):
    """Compile (or load from numba's cache) the engine for this dtype with one
    epoch on a throwaway copy, so the time reported is training time; returns
    the seconds it took."""
    import fastmlp as fm
    t0 = time.perf_counter()
    warm = min(setup.X.shape[0], s.batch_size)
    notice = None
    if s.interactive:
        notice = threading.Timer(5.0, lambda: print(
            "compiling the kernels (once after installing or upgrading; later runs load them from "
            "numba's cache)...", file=sys.stderr, flush=True))
        notice.daemon = True
        notice.start()
    Xw, Yw = setup.X[:warm], setup.Y[:warm]
    # The engine the real run will use (engine="auto" decides from the whole run's steps).
    engine = setup.trainer.planned_engine(setup.X, setup.Y, s.epochs)
    try:
        # With validation, the inference kernels it runs are loaded too.
        fm.Trainer(setup.model.copy(), loss=setup.trainer.loss.name, lr=s.lr, batch_size=warm, epochs=1,
                   optimizer=s.optimizer, engine=engine).fit(
                       Xw, Yw, validation_data=(Xw, Yw) if s.has_validation else None)
    except fm.TrainingDiverged:
        pass                                  # the real run reports it
    finally:
        if notice is not None:
            notice.cancel()
    return time.perf_counter() - t0


def _run_training(s, setup):
    """Warm up, then train; a Ctrl-C or a divergence ends the run with what it has."""
    import fastmlp as fm
    compile_seconds = _warm_up(s, setup)
    interrupted, diverged = False, None
    try:
        history = setup.trainer.fit(setup.X, setup.Y, validation_data=setup.validation_data)
    except KeyboardInterrupt:
        history = setup.trainer.history
        interrupted = True
    except fm.TrainingDiverged as exc:
        history = exc.history
        diverged = str(exc)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    if history is None:                       # interrupted before the first chunk finished
        history = fm.History(np.zeros(0), 0, 0.0, "interrupted")
    return TrainRun(history, compile_seconds, interrupted, diverged)


def _keep_results(s, setup, run):
    """Save the model and the plot as asked, and score the final model (the
    best epoch's, when early stopping restored it)."""
    from . import modelfile
    data, model, trainer, history = s.data, setup.model, setup.trainer, run.history
    saved = None
    metadata = {"feature_names": list(data.feature_names), "target_name": data.target_name, "task": data.task,
                "classes": data.n_outputs if data.task == "multiclass" else None, "source": data.source}
    if s.validation_data:
        metadata["validation_data"] = os.path.abspath(s.validation_data)
    # Early stopping put the best epoch's weights back: worth saving even after a divergence.
    restored = history.best_epoch if trainer.early_stopping is not None else None
    if s.save and (not run.diverged or restored):
        try:
            modelfile.save(model, s.save, trainer=trainer, history=history, metadata=metadata)
        except OSError as exc:
            raise CLIError(f"cannot save the model to {s.save}: {exc.strerror or exc}") from None
        saved = s.save
    metrics = _metrics(model, setup.X[setup.train_rows], data.y[setup.train_rows], data.task)
    val_metrics = None
    if s.has_validation and history.epochs:
        if setup.val_rows is not None:
            Xv, yv, Yv = setup.X[setup.val_rows], data.y[setup.val_rows], setup.Y[setup.val_rows]
        else:
            Xv, Yv = setup.validation_data
            yv = Yv.argmax(axis=1)[:, None] if data.task == "multiclass" else Yv
        val_metrics = _metrics(model, Xv, yv, data.task)
        val_metrics["loss"] = trainer.loss.forward(model.predict(Xv), Yv)
    plotted = None
    if setup.plot_path and not run.diverged and not run.interrupted:
        from .plot import save_plot
        try:
            save_plot(setup.plot_path, model, setup.X, data.y, history, feature_names=data.feature_names,
                      task=data.task, loss_name=trainer.loss.name, classes=data.classes)
        except OSError as exc:
            raise CLIError(f"cannot write the plot to {setup.plot_path}: {exc.strerror or exc}") from None
        plotted = setup.plot_path
    return TrainOutcome(saved, plotted, restored, metrics, val_metrics)


def _json_scores(scores, prefix=""):
    """Scores for a JSON summary: non-finite floats as null, keys prefixed."""
    return {f"{prefix}{k}": _num(v) if isinstance(v, float) else v for k, v in scores.items()}


def _train_summary(s, setup, run, outcome):
    """The --json summary of a run."""
    data, model, history = s.data, setup.model, run.history
    n, d = data.X.shape
    summary = {
        "command": "train", **data.source, "n_samples": n, "n_features": d, "feature_names": data.feature_names,
        "target": data.target_name, "task": data.task, "layers": s.sizes, "activation": s.activation,
        "output": data.output, "dtype": s.dtype, "n_params": model.n_params, "loss": setup.trainer.loss.name,
        "optimizer": s.optimizer, "lr": s.lr, "batch_size": s.batch_size, "epochs": s.epochs, "seed": s.seed,
        "epochs_run": history.epochs, "steps": history.steps, "seconds": history.seconds,
        "steps_per_second": _num(history.steps_per_second), "compile_seconds": run.compile_seconds,
        "stop_reason": history.stop_reason,
        "final_loss": _num(history.final_loss), "saved": outcome.saved, "plot": outcome.plotted,
        "standardize": s.standardize, "classes": data.classes, "n_train": setup.n_train,
        "n_validation": setup.n_validation, "validation": s.validation, "validation_data": s.validation_data,
        "early_stopping": s.early_stopping, "lr_schedule": s.lr_schedule or "constant",
        "best_epoch": history.best_epoch, "restored_epoch": outcome.restored,
    }
    summary.update(_json_scores(outcome.metrics))
    if outcome.val_metrics is not None:
        summary.update(_json_scores(outcome.val_metrics, "val_"))
    return summary


def _print_training_result(s, setup, run, outcome, out):
    """The summary of a run: one JSON object with --json, else the result lines."""
    history = run.history
    if s.json:
        print(json.dumps(_train_summary(s, setup, run, outcome)), file=out)
        out.flush()
        return
    print(f"result    final loss {history.final_loss:.6g} after {history.epochs} epochs "
          f"({history.stop_reason})", file=out)
    if outcome.restored:
        print(f"          best epoch {outcome.restored} by validation loss: the model keeps its weights", file=out)
    label = "training   " if outcome.val_metrics is not None else ""
    for name, scores, count in ((label, outcome.metrics, setup.n_train),
                                ("validation ", outcome.val_metrics, setup.n_validation)):
        if scores is None:
            continue
        tail = f", loss {scores['loss']:.6g}" if "loss" in scores else ""
        if "accuracy" in scores:
            print(f"          {name}accuracy {100 * scores['accuracy']:.2f}% ({scores['correct']} of "
                  f"{count}){tail}", file=out)
        else:
            r2 = scores["r2"]
            text = f"R^2 {r2:.6g}" if r2 is not None else "R^2 undefined (constant target)"
            print(f"          {name}{text}{tail}", file=out)
    print(f"time      {history.seconds:.3g} s, {history.steps} steps, "
          f"{_fmt_rate(history.steps_per_second)} steps/s (plus {run.compile_seconds:.2g} s to compile or "
          f"load the kernels)", file=out)
    if outcome.saved:
        print(f"saved     {outcome.saved}", file=out)
    if outcome.plotted:
        print(f"plot      {outcome.plotted}", file=out)
    out.flush()


def _training_exit_code(s, run, outcome):
    """EXIT_OK, or EXIT_INTERRUPTED after a Ctrl-C (with a note on stderr);
    a divergence is a Failure saying what was saved."""
    history, restored, saved = run.history, outcome.restored, outcome.saved
    if run.interrupted:
        kept = f"{restored} (the best)" if restored else f"{history.epochs}"
        note = f"; saved the weights of epoch {kept} to {saved}" if saved else \
            " (use --save to keep the weights)"
        print(f"fastmlp: interrupted after epoch {history.epochs}{note}.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if run.diverged:
        note = f" The weights of epoch {restored} (the best) were saved to {saved}." if saved else \
            " The model was not saved." if s.save else ""
        raise Failure(run.diverged + note)
    return EXIT_OK


# -- loading models and data for the other commands -----------------------------------

def _read_model(path):
    from . import modelfile
    try:
        return modelfile.read(path)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None


def _inputs_for(mf, dataset, path, target, need_y=False):
    """X (n, d) for a saved model from --dataset or --data, and y when known.

    A CSV's columns are matched by name when the model knows real feature
    names (from the header of the CSV it was trained on): every one of them
    must be in the file. Columns are taken by position when the model's names
    are the generic x1, x2, ... (built-in datasets, .npy/.npz data, models
    saved from Python) and the file does not have them all, or when the file
    has no header (.npy/.npz).

    The target column (--target, else the model's training target) may hold
    text labels; with need_y they are turned into indices of the model's
    classes (a label the model does not know is an error), else the column
    is only skipped."""
    from . import datasets
    model, meta = mf.model, mf.metadata
    d = model.n_features_in
    tname = meta.get("target_name")
    try:
        if dataset:
            X, y = datasets.get(dataset)
            if X.shape[1] != d:
                raise CLIError(f"the model expects {d} features, but the {dataset} dataset has {X.shape[1]}.")
            return X, y
        datasets.check_data_file(path, "--data")
        text_column = target if target is not None else tname
        data, names, file_classes = datasets.read_table(path, text_column=text_column)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    X, y, y_name = _match_columns(mf, path, data, names, target)
    if y is not None and (model.classes is not None or file_classes is not None):
        text_idx = datasets.find_column(text_column, names) if file_classes is not None else None
        column_classes = file_classes if text_idx is not None and y_name == names[text_idx] else None
        try:
            y = _class_indices(path, y_name, y[:, 0], column_classes, model.classes)[:, None]
        except CLIError:
            if need_y:
                raise
            y = None      # predict and plot do without the labels
    return X, y


def _match_columns(mf, path, data, names, target):
    """(X, y or None, the name of y's column) by name or by position (see _inputs_for)."""
    from . import datasets
    model, meta = mf.model, mf.metadata
    d = model.n_features_in
    want = list(meta.get("feature_names") or [])
    y = None
    y_name = target
    if target is not None:
        try:
            data, y, names, y_name = datasets.split_target(data, names, target, path)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    generic = want in ([], [f"x{i + 1}" for i in range(d)])
    header = os.path.splitext(path)[1].lower() not in (".npy", ".npz")      # read as CSV, names from it
    if want and header and (not generic or all(w in names for w in want)):
        missing = [w for w in want if w not in names]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise CLIError(f"{path} has no column{plural} {', '.join(map(repr, missing))}; the model expects "
                           f"the columns {', '.join(want)} (the file has {', '.join(names)}).")
        twice = [w for w in want if names.count(w) > 1]
        if twice:
            raise CLIError(f"{path} has {names.count(twice[0])} columns named {twice[0]!r}; "
                           "expected each of the model's feature names once.")
        tname = meta.get("target_name")
        if y is None and tname in names and tname not in want:
            y, y_name = data[:, names.index(tname)][:, None], tname
        return data[:, [names.index(w) for w in want]], y, y_name
    if data.shape[1] == d:
        return data, y, y_name
    if data.shape[1] == d + 1 and target is None:
        return data[:, :d], data[:, d:], names[d]
    expect = f" ({', '.join(want)})" if want else ""
    raise CLIError(f"{path} has {data.shape[1]} columns, but the model expects {d} features{expect}"
                   + ("" if target else " (plus optionally the target as the last column)") + ".")


def _predict(args, out):
    mf = _read_model(args.model)
    model = mf.model
    X, _ = _inputs_for(mf, args.dataset, args.data, args.target)
    try:
        pred = model.predict_positional(X)      # the columns were matched by name above
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    task = _task_of(mf)
    classes = model.classes
    if task in ("binary", "multiclass"):
        from .tasks import predicted_labels
        indices = predicted_labels(task, pred)
        names = [str(c) for c in classes] if classes is not None else [str(j) for j in range(max(2, pred.shape[1]))]
        labels = [names[i] for i in indices]
        if task == "binary":
            # P(positive class): named after it when the classes have names.
            header = ["label", "probability" if classes is None else f"prob_{names[1]}"]
            rows = [[label, str(p[0])] for label, p in zip(labels, pred)]
        else:
            header = ["label"] + [f"prob_{name}" for name in names]
            rows = [[label] + [str(v) for v in p] for label, p in zip(labels, pred)]
    else:
        tname = mf.metadata.get("target_name") or "prediction"
        header = [tname] if pred.shape[1] == 1 else [f"{tname}_{j + 1}" for j in range(pred.shape[1])]
        rows = [[str(v) for v in p] for p in pred]
    if args.output:
        try:
            with open(args.output, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(header)
                w.writerows(rows)
        except OSError as exc:
            raise CLIError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"wrote {len(rows)} predictions to {args.output}", file=sys.stderr)
    else:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return EXIT_OK


def _task_of(mf):
    """The task of a saved model: as recorded at training, else from its output layer."""
    from .tasks import model_task
    return mf.metadata.get("task") or model_task(mf.model)


def _plot(args, out):
    from . import datasets
    from .plot import save_plot
    mf = _read_model(args.model)
    model = mf.model
    X = y = None
    if args.dataset or args.data:
        X, y = _inputs_for(mf, args.dataset, args.data, args.target)
    else:
        source = mf.metadata.get("source") or {}
        if source.get("dataset") in datasets.NAMES:
            X, y = datasets.get(source["dataset"])
        elif source.get("data") and os.path.exists(source["data"]):
            X, y = _inputs_for(mf, None, source["data"], source.get("target"))
    if X is not None and X.shape[1] != model.n_features_in:
        raise CLIError(f"the model expects {model.n_features_in} features, but the data has {X.shape[1]}.")
    if X is None and mf.history is None:
        raise CLIError(f"{args.model} has no training history and no known data: give --data FILE or "
                       "--dataset NAME to draw.")
    path = _output_path(args.output, "--output", image=True) if args.output \
        else os.path.splitext(args.model)[0] + ".png"
    loss_name = (mf.trainer or {}).get("loss")
    try:
        save_plot(path, model, X, y, mf.history, feature_names=mf.metadata.get("feature_names"),
                  task=mf.metadata.get("task"), loss_name=loss_name, title=args.title, classes=model.classes)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"wrote {path}", file=out)
    return EXIT_OK


def _evaluate(args, out):
    from .tasks import evaluate
    mf = _read_model(args.model)
    model = mf.model
    X, y = _inputs_for(mf, args.dataset, args.data, args.target, need_y=True)
    if y is None:
        tname = mf.metadata.get("target_name")
        known = f"the model's target column {tname!r}" if tname else "a target column"
        raise CLIError(f"{args.data} has no target to score against: it needs {known}, or give --target COLUMN.")
    task = _task_of(mf)
    if task in ("binary", "multiclass"):
        k = model.n_classes or 2
        bad = (y[:, 0] != np.round(y[:, 0])) | (y[:, 0] < 0) | (y[:, 0] >= k)
        if bad.any():
            i = int(np.argmax(bad))
            raise CLIError(f"{args.data or args.dataset}: the target has the value {y[i, 0]:g} (row {i + 2}), "
                           f"but the model's classes are 0..{k - 1}.")
    try:
        pred = model.predict(X)
        scores = evaluate(task, pred, y)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    n = X.shape[0]
    what = args.data or args.dataset
    names = [str(c) for c in model.classes] if model.classes is not None else None
    if args.json:
        summary = {"command": "evaluate", "model": args.model, "data": what, "n_samples": n, "task": task,
                   **{k: _num(v) if isinstance(v, float) else v for k, v in scores.items()}}
        if names is not None:
            summary["classes"] = model.classes
        print(json.dumps(summary), file=out)
        return EXIT_OK
    print(f"data      {what}: {n} samples -> {_task_description(task, model.n_outputs)}", file=out)
    if task == "regression":
        r2 = scores["r2"]
        print(f"R^2       {r2:.6g}" if r2 is not None else "R^2       undefined (constant target)", file=out)
        print(f"MAE       {scores['mae']:.6g}", file=out)
        print(f"RMSE      {scores['rmse']:.6g}", file=out)
        return EXIT_OK
    print(f"accuracy  {100 * scores['accuracy']:.2f}% ({scores['correct']} of {n})", file=out)
    print(f"log-loss  {scores['log_loss']:.6g}", file=out)
    matrix = scores["confusion_matrix"]
    names = names or [str(j) for j in range(len(matrix))]
    width = max(max(len(nm) for nm in names), max(len(str(v)) for row in matrix for v in row), 5)
    print("confusion matrix (rows: true class, columns: predicted class)", file=out)
    print("  " + " " * width + "".join(f"  {nm:>{width}}" for nm in names), file=out)
    for nm, row in zip(names, matrix):
        print(f"  {nm:<{width}}" + "".join(f"  {v:>{width}}" for v in row), file=out)
    return EXIT_OK


def _formula(args, out):
    from .explain import formula, functions_used
    mf = _read_model(args.model)
    names = mf.metadata.get("feature_names")
    if args.names:
        names = [n.strip() for n in args.names.split(",")]
        if len(names) != mf.model.n_features_in:
            raise CLIError(f"--names lists {len(names)} names, but the model has {mf.model.n_features_in} inputs.")
    outputs = None
    target = mf.metadata.get("target_name")
    if target and mf.model.n_outputs == 1:
        outputs = [target]
    text = formula(mf.model, names=names, precision=None if args.exact else args.precision,
                   output_names=outputs)
    print(text, file=out)
    legend = functions_used(text)
    if legend:
        print("where " + "; ".join(legend), file=out)
    return EXIT_OK


def _export(args, out):
    from .export import describe, to_onnx
    mf = _read_model(args.model)
    model = mf.model
    task = _task_of(mf)
    classes = model.classes if model.classes is not None else \
        {"binary": [0, 1], "multiclass": list(range(model.n_outputs))}.get(task)
    path = _output_path(args.output, "--output") if args.output else os.path.splitext(args.model)[0] + ".onnx"
    try:
        onx = to_onnx(model, path, opset=args.opset, classes=classes,
                      feature_names=mf.metadata.get("feature_names"))
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from None

    print(f"wrote     {path} (ONNX opset {onx.opset_import[0].version}, {len(onx.graph.node)} nodes)", file=out)
    print(f"input     {', '.join(describe(onx.graph.input))}", file=out)
    print(f"outputs   {', '.join(describe(onx.graph.output))}", file=out)
    return EXIT_OK


def _example_model():
    import fastmlp as fm
    return fm.Model([fm.Linear(2, 2, bias=False, weight=[[0.5, 2.3], [1.5, 3.0]]),
                     fm.Linear(2, 1, bias=False, weight=[[1.0], [1.0]])], dtype=np.float64)


def _trace(args, out):
    from .explain import trace
    if args.example:
        if args.model:
            raise CLIError("give either MODEL.npz or --example, not both.")
        model, names, trainer_cfg = _example_model(), None, {}
        x = args.x or "1,0.5"
        y = args.y or "4"
        lr = 0.1 if args.lr is None else args.lr
        loss = args.loss or "half_mse"
    else:
        if not args.model:
            raise CLIError("give a model file (MODEL.npz) or --example.")
        mf = _read_model(args.model)
        model, names, trainer_cfg = mf.model, mf.metadata.get("feature_names"), mf.trainer or {}
        if args.x is None or args.y is None:
            raise CLIError("--x and --y are required: one input sample and its target, e.g. --x 1,0.5 --y 4.")
        x, y = args.x, args.y
        lr = args.lr if args.lr is not None else trainer_cfg.get("lr", 0.1)
        loss = args.loss or trainer_cfg.get("loss")
    xs = _float_list(x, "--x")
    labels = [str(c) for c in model.classes] if model.classes is not None else []
    # A classifier with named classes takes its target by name too: --y setosa.
    ys = [float(labels.index(y.strip()))] if y.strip() in labels else _float_list(y, "--y")
    if len(xs) != model.n_features_in:
        raise CLIError(f"--x has {len(xs)} values, but the model has {model.n_features_in} inputs.")
    try:
        t = trace(model, xs, ys, loss=loss, lr=lr, names=names)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        print(json.dumps(t.as_dict()), file=out)
    else:
        print(t.render(args.precision), file=out)
    return EXIT_OK


def _bench(argv):
    try:
        from . import bench
    except ModuleNotFoundError as exc:
        if exc.name in ("fastmlp.bench",):
            raise CLIError("the benchmarks (fastmlp.bench) are not part of this installation.") from None
        raise
    code = bench.main(list(argv))
    return code if isinstance(code, int) else EXIT_OK


# -- entry point -----------------------------------------------------------------------

def _one_line(text):
    return " ".join(str(text).split())


def main(argv=None):
    """Run the command; returns the exit code (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = sys.stdout
    with warnings.catch_warnings():
        def show(message, category, filename, lineno, file=None, line=None):
            print(f"fastmlp: warning: {_one_line(message)}", file=sys.stderr)
        warnings.showwarning = show
        try:
            if argv and argv[0] == "bench":
                return _bench(argv[1:])
            args = _build_parser().parse_args(argv)
            if args.command is None:
                _build_parser().print_help(out)
                return EXIT_OK
            handler = {"train": _train, "evaluate": _evaluate, "predict": _predict, "plot": _plot,
                       "formula": _formula, "trace": _trace, "export": _export}[args.command]
            return handler(args, out)
        except CLIError as exc:
            print(f"fastmlp: error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_USAGE
        except Failure as exc:
            print(f"fastmlp: error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_FAILURE
        except ImportError as exc:
            from .validation import MissingDependency
            if isinstance(exc, MissingDependency):
                print(f"fastmlp: error: {_one_line(exc)}", file=sys.stderr)
                return EXIT_FAILURE
            raise
        except KeyboardInterrupt:
            print("fastmlp: interrupted.", file=sys.stderr)
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # The reader went away (e.g. `fastmlp predict ... | head`): stop quietly.
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
