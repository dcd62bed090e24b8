"""Pictures of a model: decision boundary or prediction surface, and the
training curves (loss, and with validation data the validation loss and the
training and validation accuracy or R^2).

matplotlib is an optional dependency (the ``plot`` extra) and is imported
only inside these functions, so ``import fastmlp`` never loads it. Figures
are built with ``matplotlib.figure.Figure`` directly (no pyplot, no GUI
backend), so plotting works the same on a headless machine.

>>> import numpy as np, fastmlp as fm
>>> from fastmlp.plot import plot_model
>>> X, y = fm.datasets.xor()
>>> model = fm.MLP([2, 8, 1], output="sigmoid", seed=0)
>>> fig = plot_model(model, X, y)        # doctest: +SKIP
>>> fig.savefig("xor.png")               # doctest: +SKIP
"""

import numpy as np

from .tasks import model_task
# MissingDependency (defined in validation) is importable from here too, as before.
from .validation import MissingDependency, missing_dependency  # noqa: F401


def figure_class():
    """matplotlib's Figure class (drawing without pyplot's global state), or
    MissingDependency saying which extra to install."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise missing_dependency("plotting", "matplotlib", extra="plot") from None
    return Figure


def image_formats():
    """The file types matplotlib can write images in ("png", "svg", ...), or
    None when matplotlib is not installed."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        return None
    return sorted(FigureCanvasBase.get_supported_filetypes())


def _grid(X, resolution):
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.where(hi > lo, 0.15 * (hi - lo), 0.5)
    lo, hi = lo - pad, hi + pad
    gx = np.linspace(lo[0], hi[0], resolution)
    gy = np.linspace(lo[1], hi[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def decision_boundary(ax, model, X, y=None, feature_names=None, task=None, resolution=200, classes=None):
    """Draw on `ax` the model's output over the plane of the two features of
    X: class regions and the 0.5 boundary for classifiers, a filled contour
    of the prediction for regressors; the points of (X, y) on top. The plane
    is in the raw units of X: a model's standardizer is applied by predict."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2 or model.n_features_in != 2:
        raise ValueError(f"a decision boundary needs 2 input features; the model has {model.n_features_in}.")
    task = task or model_task(model, y)
    names_of = [str(c) for c in classes] if classes is not None else None
    xx, yy, pts = _grid(X, resolution)
    pred = np.asarray(model.predict_positional(pts), dtype=np.float64)
    names = feature_names or ["x1", "x2"]
    labels = None if y is None else np.asarray(y, dtype=np.float64).reshape(len(X), -1)
    if task == "binary":
        p = pred[:, 0].reshape(xx.shape)
        filled = ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.75)
        ax.contour(xx, yy, p, levels=[0.5], colors="black", linewidths=1.5)
        ax.figure.colorbar(filled, ax=ax, label=f"P({names_of[1]})" if names_of else "P(class 1)")
        if labels is not None:
            for cls, color, marker in ((0, "#2166ac", "o"), (1, "#b2182b", "s")):
                pick = (labels[:, 0] > 0.5) == bool(cls)
                ax.scatter(X[pick, 0], X[pick, 1], color=color, marker=marker, edgecolors="white",
                           linewidths=1.5, s=70, zorder=3,
                           label=names_of[cls] if names_of else f"class {cls}")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
        ax.set_title("decision boundary (P = 0.5)")
    elif task == "multiclass":
        k = pred.shape[1]
        cls = pred.argmax(axis=1).reshape(xx.shape)
        ax.contourf(xx, yy, cls, levels=np.arange(k + 1) - 0.5, cmap="tab10", vmin=0, vmax=9, alpha=0.45)
        ax.contour(xx, yy, cls, levels=np.arange(k) + 0.5, colors="black", linewidths=1.0)
        if labels is not None:
            lab = labels[:, 0] if labels.shape[1] == 1 else labels.argmax(axis=1)
            ax.scatter(X[:, 0], X[:, 1], c=lab, cmap="tab10", vmin=0, vmax=9, edgecolors="black", s=30,
                       zorder=3)
        ax.set_title(f"decision regions ({k} classes)")
    else:
        surface = pred[:, 0].reshape(xx.shape)
        lo, hi = surface.min(), surface.max()
        if labels is not None:
            lo, hi = min(lo, labels[:, 0].min()), max(hi, labels[:, 0].max())
        filled = ax.contourf(xx, yy, surface, levels=20, cmap="viridis", vmin=lo, vmax=hi)
        ax.figure.colorbar(filled, ax=ax, label="prediction")
        if labels is not None:
            ax.scatter(X[:, 0], X[:, 1], c=labels[:, 0], cmap="viridis", vmin=lo, vmax=hi,
                       edgecolors="white", s=30, zorder=3)
        ax.set_title("prediction surface" + (" (first output)" if pred.shape[1] > 1 else ""))
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    return ax


def prediction_curve(ax, model, X, y=None, feature_names=None, resolution=400):
    """For one input feature: the model's output as a curve, the data as points."""
    X = np.asarray(X, dtype=np.float64)
    lo, hi = X[:, 0].min(), X[:, 0].max()
    pad = 0.1 * (hi - lo) if hi > lo else 0.5
    grid = np.linspace(lo - pad, hi + pad, resolution).reshape(-1, 1)
    pred = np.asarray(model.predict_positional(grid), dtype=np.float64)
    if y is not None:
        yy = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
        ax.scatter(X[:, 0], yy[:, 0], s=12, alpha=0.6, color="tab:gray", label="data")
    ax.plot(grid[:, 0], pred[:, 0], color="tab:red", linewidth=2, label="model")
    ax.set_xlabel((feature_names or ["x1"])[0])
    ax.set_ylabel("output")
    ax.set_title("model output")
    ax.legend()
    return ax


def loss_curve(ax, history, loss_name=None):
    """The mean training loss of each epoch (log scale when all positive),
    with the validation loss and the best epoch when the history has them."""
    loss = np.asarray(history.loss, dtype=np.float64)
    epochs = np.arange(1, loss.size + 1)
    val = None if history.val_loss is None else np.asarray(history.val_loss, dtype=np.float64)
    ax.plot(epochs, loss, color="tab:blue", linewidth=1.5, label="training")
    values = loss
    if val is not None:
        ax.plot(epochs, val, color="tab:orange", linewidth=1.5, label="validation")
        values = np.concatenate([loss, val])
    _mark_best(ax, history)
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss" + (f" ({loss_name})" if loss_name else ""))
    title = "training loss"
    if loss.size:
        title += f": {loss[-1]:.3g} after {loss.size} epochs"
        if val is not None:
            title = f"loss: training {loss[-1]:.3g}, validation {val[-1]:.3g}"
    ax.set_title(title)
    if val is not None or history.best_epoch is not None:
        ax.legend()
    ax.grid(True, alpha=0.3)
    return ax


def _mark_best(ax, history):
    if history.best_epoch is not None:
        ax.axvline(history.best_epoch, color="tab:gray", linestyle="--", linewidth=1,
                   label=f"best epoch ({history.best_epoch})")


def metric_curve(ax, history):
    """Training and validation accuracy (in %) or R^2 of each epoch."""
    epochs = np.arange(1, history.epochs + 1)
    accuracy = history.metric == "accuracy"
    scale = 100.0 if accuracy else 1.0
    ax.plot(epochs, scale * np.asarray(history.train_metric), color="tab:blue", linewidth=1.5,
            label="training")
    ax.plot(epochs, scale * np.asarray(history.val_metric), color="tab:orange", linewidth=1.5, label="validation")
    _mark_best(ax, history)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)" if accuracy else "R^2")
    last = scale * float(history.val_metric[-1])
    ax.set_title(f"validation {'accuracy' if accuracy else 'R^2'}: "
                 + (f"{last:.1f}%" if accuracy else f"{last:.3g}") + " at the end")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return ax


def plot_model(model, X=None, y=None, history=None, feature_names=None, task=None, loss_name=None,
               title=None, classes=None):
    """A matplotlib Figure: for 2-feature inputs the decision boundary (or
    prediction surface) with the points of (X, y); for 1 feature the output
    curve; beside it the loss curves when `history` is given (training, and
    validation when the history has it, then a panel of the training and
    validation metric). For other inputs, the curves alone. `classes` names
    the classes (default: the model's)."""
    if classes is None:
        classes = model.classes
    Figure = figure_class()
    panels = []
    if X is not None and model.n_features_in == 2:
        panels.append("boundary")
    elif X is not None and model.n_features_in == 1:
        panels.append("curve")
    if history is not None and history.epochs:
        panels.append("loss")
        if history.val_metric is not None:
            panels.append("metric")
    if not panels:
        raise ValueError("nothing to plot: the model has no training history, and a decision boundary "
                         f"needs data with 1 or 2 features (the model has {model.n_features_in}).")
    fig = Figure(figsize=(5.2 * len(panels), 4.4), dpi=100, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        if panel == "boundary":
            decision_boundary(ax, model, X, y, feature_names=feature_names, task=task, classes=classes)
        elif panel == "curve":
            prediction_curve(ax, model, X, y, feature_names=feature_names)
        elif panel == "metric":
            metric_curve(ax, history)
        else:
            loss_curve(ax, history, loss_name)
    if title:
        fig.suptitle(title)
    return fig


def save_plot(path, model, X=None, y=None, history=None, **kwargs):
    """plot_model(...) written to `path` (format from the extension: .png, .svg, .pdf)."""
    fig = plot_model(model, X, y, history, **kwargs)
    fig.savefig(path)
    return path
