"""fastmlp: multi-layer perceptrons trained on the CPU at the speed of the hardware.

>>> import numpy as np, fastmlp as fm
>>> X, y = fm.datasets.xor()
>>> model = fm.MLP([2, 8, 1], activation="relu", output="sigmoid", dtype=np.float32, seed=0)
>>> history = fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=10_000, seed=0).fit(X, y)
>>> (model.predict(X) > 0.5).astype(int).ravel().tolist()
[0, 1, 1, 0]
"""

__version__ = "0.1.0"

from . import datasets, init, kernels, preprocessing, reference  # noqa: F401
from .callbacks import ConstantLR, CosineDecay, EarlyStopping, ReduceLROnPlateau, StepDecay  # noqa: F401
from .layers import Exp, Identity, Layer, Linear, ReLU, Sigmoid, Softmax, Tanh  # noqa: F401
from .losses import Loss, get_loss  # noqa: F401
from .model import MLP, Model  # noqa: F401
from .optim import SGD, Adam, get_optimizer  # noqa: F401
from .trainer import History, Trainer, TrainingDiverged  # noqa: F401
from .preprocessing import Standardizer  # noqa: F401
from .validation import MissingDependency, NotFittedError  # noqa: F401
from .modelfile import ModelFileError, load  # noqa: F401
from .explain import formula, trace  # noqa: F401
from .export import register_skl2onnx, to_onnx  # noqa: F401

__all__ = [
    "Model", "MLP", "Trainer", "History", "TrainingDiverged", "NotFittedError", "ModelFileError",
    "MissingDependency",
    "Linear", "ReLU", "Sigmoid", "Tanh", "Identity", "Softmax", "Exp", "Layer",
    "Loss", "get_loss", "SGD", "Adam", "get_optimizer",
    "EarlyStopping", "ConstantLR", "StepDecay", "CosineDecay", "ReduceLROnPlateau", "Standardizer",
    "datasets", "init", "kernels", "preprocessing", "reference",
    "load", "formula", "trace", "to_onnx", "register_skl2onnx",
    "MLPClassifier", "MLPRegressor",
]

_LAZY = ("MLPClassifier", "MLPRegressor")


def __getattr__(name):
    # The scikit-learn estimators import scikit-learn: load them on first access
    # only, so that `import fastmlp` never imports sklearn.
    if name in _LAZY:
        try:
            from . import estimators
        except ImportError as exc:
            from .validation import missing_dependency
            raise missing_dependency(f"fastmlp.{name}", "scikit-learn", extra="sklearn", cause=exc) from exc
        return getattr(estimators, name)
    raise AttributeError(f"module 'fastmlp' has no attribute {name!r}")
