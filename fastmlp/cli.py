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

def _train(args, out):
    import fastmlp as fm
    from . import modelfile
    from .tasks import default_loss

    X, y, feature_names, target_name, source, classes = _load_data(args.dataset, args.data, args.target)
    preset = PRESETS["file" if args.data else (args.dataset or "xor")]
    if args.loss == "poisson" and args.output not in (None, "exp"):
        raise CLIError(f"--loss poisson needs --output exp (the log link), not --output {args.output}.")
    task, n_out, output = _infer_task(y, "exp" if args.loss == "poisson" else args.output,
                                      f"the target {target_name!r}" if args.data else "the target", classes)
    n, d = X.shape
    if args.validation_data and not args.data:
        raise CLIError("--validation-data goes with --data FILE (the columns are matched by name).")
    has_validation = bool(args.validation) or bool(args.validation_data)
    if args.early_stopping is not None and not has_validation:
        raise CLIError(f"--early-stopping {args.early_stopping} watches the validation loss: add --validation 0.2 "
                       "or --validation-data FILE.")
    standardize = bool(args.data) if args.standardize is None else args.standardize

    if args.layers:
        sizes = _int_list(args.layers, "--layers")
        if len(sizes) < 2:
            raise CLIError(f"--layers needs at least the input and output widths, e.g. {d},8,{n_out}.")
        if sizes[0] != d:
            raise CLIError(f"--layers {args.layers} starts with {sizes[0]} inputs, but the data has {d} "
                           f"feature{'s' if d > 1 else ''} ({', '.join(feature_names)}).")
        if sizes[-1] != n_out:
            need = {"binary": "a binary target needs 1 output",
                    "multiclass": f"a target with {n_out} classes needs {n_out} outputs",
                    "regression": "a single target column needs 1 output"}[task]
            raise CLIError(f"--layers {args.layers} ends with {sizes[-1]} outputs, but {need}.")
    else:
        hidden = preset["hidden"] if args.hidden is None else _int_list(args.hidden, "--hidden")
        sizes = [d] + hidden + [n_out]
    loss = args.loss or default_loss(output, y)
    optimizer = args.optimizer or preset["optimizer"]
    lr = preset["lr"] if args.lr is None else args.lr
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
    tty = interactive and sys.stdout.isatty()
    print_every = None
    if interactive and not tty:
        print_every = args.print_every or max(1, (epochs or 1) // 10)
    try:
        model = fm.MLP(sizes, activation=args.activation, output=output, dtype=args.dtype, seed=args.seed)
        if classes is not None:
            model.classes = classes
        trainer = fm.Trainer(model, loss=loss, lr=lr, batch_size=batch, epochs=epochs, seed=args.seed,
                             target_loss=args.target_loss, optimizer=optimizer, momentum=args.momentum,
                             print_every=print_every, progress=tty, validation_split=args.validation,
                             early_stopping=args.early_stopping,
                             lr_schedule=_schedule(args.lr_schedule, has_validation), standardize=standardize)
        Xc = model.check_input(X, "the data")
        # Class labels become one-hot rows here, so every loss (not only
        # cross_entropy, which also takes indices) can train on them.
        yt = np.eye(n_out)[y[:, 0].astype(np.int64)] if task == "multiclass" else y
        Yc = model.check_target(yt, n, loss=trainer.loss.name, name="the target")
        validation_data = None
        if args.validation_data:
            Xv, yv = _rows_matching(args.validation_data, feature_names, target_name, classes,
                                    "--validation-data")
            Xv = model.check_input(Xv, f"--validation-data {args.validation_data}")
            yvt = _onehot(yv, n_out, f"the target of --validation-data {args.validation_data}") \
                if task == "multiclass" else yv
            validation_data = (Xv, model.check_target(yvt, Xv.shape[0], loss=trainer.loss.name,
                                                      name=f"the target of --validation-data "
                                                           f"{args.validation_data}"))
        train_rows, val_rows = trainer.split(Xc, Yc) if trainer.validation_split else (np.arange(n), None)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    except MemoryError:
        n_params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
        flag = f"--layers {args.layers}" if args.layers else \
            f"--hidden {args.hidden}" if args.hidden is not None else "the network"
        gib = n_params * np.dtype(args.dtype).itemsize / 2 ** 30
        raise CLIError(f"{flag}: the network {'-'.join(map(str, sizes))} would need {n_params:,} parameters "
                       f"({gib:,.1f} GiB for the weights alone), more memory than can be allocated; "
                       "give smaller widths.") from None
    # Fail now, not after a long run, if a result could not be written.
    if args.save:
        _output_path(args.save, "--save")
    plot_path = None
    if args.plot:
        from .plot import figure_class
        figure_class()                      # fail now, not after training, if matplotlib is missing
        plot_path = _output_path(args.plot, "--plot", image=True)

    what = source.get("dataset") or args.data
    kind = {"binary": "binary classification", "multiclass": f"{n_out}-class classification",
            "regression": "regression"}[task]
    layer_text = " -> ".join(repr(l) for l in model.layers)
    opt_text = optimizer + (f" (momentum {args.momentum:g})" if optimizer == "sgd" and args.momentum else "")
    n_train = len(train_rows)
    n_val = len(val_rows) if val_rows is not None else (
        validation_data[0].shape[0] if validation_data is not None else 0)
    if interactive:
        plural = "s" if d > 1 else ""
        print(f"data      {what}: {n} samples, {d} feature{plural} ({', '.join(feature_names)}) -> {kind}",
              file=out)
        if classes is not None:
            print(f"classes   {', '.join(map(str, classes))} (target {target_name!r})", file=out)
        if val_rows is not None:
            print(f"          {n_train} for training, {n_val} held out for validation (seed {args.seed})", file=out)
        elif validation_data is not None:
            print(f"          validation: {args.validation_data}, {n_val} samples", file=out)
        print(f"model     {'standardize -> ' if standardize else ''}{layer_text}  ({model.n_params} parameters, "
              f"{args.dtype})", file=out)
        extras = []
        if args.early_stopping is not None:
            extras.append(f"early stopping after {args.early_stopping} epochs without a lower validation loss")
        if args.lr_schedule and args.lr_schedule != "constant":
            extras.append(f"{args.lr_schedule} schedule")
        print(f"training  loss {trainer.loss.name}, {opt_text}, lr {lr:g}, batch {batch}, "
              f"{epochs} epochs, seed {args.seed}" + "".join(f", {e}" for e in extras), file=out, flush=True)

    # Compile (or load from numba's cache) the engine for this dtype with one
    # epoch on a throwaway copy, so the time reported is training time.
    t0 = time.perf_counter()
    warm = min(n, batch)
    notice = None
    if interactive:
        notice = threading.Timer(5.0, lambda: print(
            "compiling the kernels (once after installing or upgrading; later runs load them from "
            "numba's cache)...", file=sys.stderr, flush=True))
        notice.daemon = True
        notice.start()
    try:
        # With validation, the inference kernels it runs are loaded too.
        fm.Trainer(model.copy(), loss=trainer.loss.name, lr=lr, batch_size=warm, epochs=1,
                   optimizer=optimizer).fit(Xc[:warm], Yc[:warm], validation_data=(
                       Xc[:warm], Yc[:warm]) if has_validation else None)
    except fm.TrainingDiverged:
        pass                                  # the real run reports it
    finally:
        if notice is not None:
            notice.cancel()
    compile_seconds = time.perf_counter() - t0

    interrupted = diverged = None
    try:
        history = trainer.fit(Xc, Yc, validation_data=validation_data)
    except KeyboardInterrupt:
        history = trainer.history
        interrupted = True
    except fm.TrainingDiverged as exc:
        history = exc.history
        diverged = str(exc)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    if history is None:                       # interrupted before the first chunk finished
        history = fm.History(np.zeros(0), 0, 0.0, "interrupted")

    saved = None
    metadata = {"feature_names": list(feature_names), "target_name": target_name, "task": task,
                "classes": n_out if task == "multiclass" else None, "source": source}
    if args.validation_data:
        metadata["validation_data"] = os.path.abspath(args.validation_data)
    # Early stopping put the best epoch's weights back: worth saving even after a divergence.
    restored = history.best_epoch if trainer.early_stopping is not None else None
    if args.save and (not diverged or restored):
        try:
            modelfile.save(model, args.save, trainer=trainer, history=history, metadata=metadata)
        except OSError as exc:
            raise CLIError(f"cannot save the model to {args.save}: {exc.strerror or exc}") from None
        saved = args.save
    # Scores of the final model (the best epoch's, when early stopping restored it).
    metrics = _metrics(model, Xc[train_rows], y[train_rows], task)
    val_metrics = None
    if has_validation and history.epochs:
        if val_rows is not None:
            Xv, yv, Yv = Xc[val_rows], y[val_rows], Yc[val_rows]
        else:
            Xv, Yv = validation_data
            yv = Yv.argmax(axis=1)[:, None] if task == "multiclass" else Yv
        val_metrics = _metrics(model, Xv, yv, task)
        val_metrics["loss"] = trainer.loss.forward(model.predict(Xv), Yv)
    plotted = None
    if args.plot and not diverged and not interrupted:
        from .plot import save_plot
        try:
            save_plot(plot_path, model, Xc, y, history, feature_names=feature_names, task=task,
                      loss_name=trainer.loss.name, classes=classes)
        except OSError as exc:
            raise CLIError(f"cannot write the plot to {plot_path}: {exc.strerror or exc}") from None
        plotted = plot_path

    if args.json:
        summary = {
            "command": "train", **source, "n_samples": n, "n_features": d, "feature_names": feature_names,
            "target": target_name, "task": task, "layers": sizes, "activation": args.activation,
            "output": output, "dtype": args.dtype, "n_params": model.n_params, "loss": trainer.loss.name,
            "optimizer": optimizer, "lr": lr, "batch_size": batch, "epochs": epochs, "seed": args.seed,
            "epochs_run": history.epochs, "steps": history.steps, "seconds": history.seconds,
            "steps_per_second": _num(history.steps_per_second), "compile_seconds": compile_seconds,
            "stop_reason": history.stop_reason,
            "final_loss": _num(history.final_loss), "saved": saved, "plot": plotted,
            "standardize": standardize, "classes": classes, "n_train": n_train, "n_validation": n_val,
            "validation": args.validation, "validation_data": args.validation_data,
            "early_stopping": args.early_stopping, "lr_schedule": args.lr_schedule or "constant",
            "best_epoch": history.best_epoch, "restored_epoch": restored,
        }
        summary.update({k: _num(v) if isinstance(v, float) else v for k, v in metrics.items()})
        if val_metrics is not None:
            summary.update({f"val_{k}": _num(v) if isinstance(v, float) else v for k, v in val_metrics.items()})
        print(json.dumps(summary), file=out)
    else:
        print(f"result    final loss {history.final_loss:.6g} after {history.epochs} epochs "
              f"({history.stop_reason})", file=out)
        if restored:
            print(f"          best epoch {restored} by validation loss: the model keeps its weights", file=out)
        label = "training   " if val_metrics is not None else ""
        for name, scores, count in ((label, metrics, n_train), ("validation ", val_metrics, n_val)):
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
              f"{_fmt_rate(history.steps_per_second)} steps/s (plus {compile_seconds:.2g} s to compile or "
              f"load the kernels)", file=out)
        if saved:
            print(f"saved     {saved}", file=out)
        if plotted:
            print(f"plot      {plotted}", file=out)
    out.flush()
    if interrupted:
        kept = f"{restored} (the best)" if restored else f"{history.epochs}"
        note = f"; saved the weights of epoch {kept} to {saved}" if saved else \
            " (use --save to keep the weights)"
        print(f"fastmlp: interrupted after epoch {history.epochs}{note}.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if diverged:
        note = f" The weights of epoch {restored} (the best) were saved to {saved}." if saved else \
            " The model was not saved." if args.save else ""
        raise Failure(diverged + note)
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
    kind = {"binary": "binary classification", "multiclass": f"{model.n_outputs}-class classification",
            "regression": "regression"}[task]
    print(f"data      {what}: {n} samples -> {kind}", file=out)
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
    from . import kernels as K
    from .export import describe, to_onnx
    mf = _read_model(args.model)
    model = mf.model
    task = mf.metadata.get("task")
    if task is None:                           # saved from Python: judged by the output layer, as predict does
        task = "multiclass" if model.output_kind == K.SOFTMAX else \
            "binary" if model.output_kind == K.SIGMOID and model.n_outputs == 1 else "regression"
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
