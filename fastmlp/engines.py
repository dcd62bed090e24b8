"""The two training engines, and the rule that picks one.

* ``generic``: ``kernels.train_epochs``, compiled once per loss and dtype, runs
  any stack of layers by reading the layout table: per layer it looks up
  views in lists and dispatches on the layer's kind.
* ``specialized``: an engine generated for one stack of layers (their kinds,
  which Linear layers have a bias, the loss): straight-line code that calls
  each layer's kernels by name, no lists and no dispatch, inlined into the
  epoch loop. It calls the same kernels and runs the same epoch loop
  (``kernels.run_epochs``) as the generic engine, so both compute the same
  numbers (the tests hold each to ``fastmlp.reference``). Layer sizes and the
  batch size stay run-time values: compiling them in as constants measured no
  faster (``python bench/constant_sizes.py``), and this way one compiled
  engine serves every width of a stack.

A specialized engine is Python source written to a file (``engine_dir()``)
and imported, so numba caches it on disk like the rest of fastmlp: the first
run of a new stack compiles it (seconds, see docs/performance.md), later
processes load it. The file's name holds a hash of its source, of
``kernels.py`` and of this module, so an edited kernel can never run through
a stale cached engine.

The choice (``choose``) depends only on the engine option, the model, the
input's kind and the run's length, never on timing or on what is cached, so
a run is bit-reproducible.
"""

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
import types as pytypes

from . import kernels as K

# The engines a run can use (History.engine, model files), and the option's values.
ENGINES = ("generic", "specialized")
NAMES = ("auto",) + ENGINES

# `auto` picks the specialized engine for a dense input when every layer is
# at most AUTO_MAX_WIDTH wide and the run makes at least AUTO_MIN_STEPS
# updates. Measured (python bench/engines.py --compile; docs/library.md): the
# specialized engine saves about 0.5 us of an XOR-sized step (1.47-1.56x:
# 1.46-1.49 against 0.95-0.99 us) but only 1-15% from 16-wide layers on,
# where the products dominate, and compiling it for a new stack of layers
# takes 10-11 s of CPU (with the generic engine's kernels already cached). A
# run of about 20 million XOR-sized steps saves about that much; later runs
# of the same stack load the compiled engine from the cache.
AUTO_MAX_WIDTH = 8
AUTO_MIN_STEPS = 20_000_000

_LOADED = {}
_LOCK = threading.Lock()


def architecture(layout, loss):
    """The key of a specialized engine: the layers' kinds, which ones have a
    bias, and the loss (sizes are not part of it)."""
    return (tuple((int(row[K.L_KIND]), bool(row[K.L_B] >= 0)) for row in layout), int(loss))


def choose(engine, layout, sparse, steps):
    """The engine a run uses: "generic" or "specialized".

    engine is the option ("auto", "generic" or "specialized", already
    checked); layout the model's layout table; sparse whether the input is a
    sparse matrix; steps the updates the run makes. A sparse input always
    runs in the generic engine (asking for the specialized one then is a
    ValueError)."""
    if engine == "generic":
        return "generic"
    if engine == "specialized":
        if sparse:
            raise ValueError("engine='specialized' runs dense inputs only; got a sparse X "
                             "(use engine='generic' or 'auto')")
        return "specialized"
    widest = max(max(int(row[K.L_IN]), int(row[K.L_OUT])) for row in layout)
    if not sparse and widest <= AUTO_MAX_WIDTH and steps >= AUTO_MIN_STEPS:
        return "specialized"
    return "generic"


def engine_dir():
    """Where generated engines are written: $FASTMLP_ENGINE_DIR, else a
    fastmlp_engines folder in numba's cache directory when NUMBA_CACHE_DIR is
    set, else ~/.cache/fastmlp/engines."""
    if os.environ.get("FASTMLP_ENGINE_DIR"):
        return os.environ["FASTMLP_ENGINE_DIR"]
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.path.join(os.environ["NUMBA_CACHE_DIR"], "fastmlp_engines")
    return os.path.join(os.path.expanduser("~"), ".cache", "fastmlp", "engines")


def specialized(layout, loss):
    """The specialized engine's compiled ``train_epochs`` for this layout and
    loss, with the arguments of ``kernels.train_epochs`` but the loss (dense
    inputs: indptr, indices and data are None)."""
    key = architecture(layout, loss)
    with _LOCK:
        fn = _LOADED.get(key)
        if fn is None:
            fn = _LOADED[key] = _load(key).train_epochs
    return fn


def _fingerprint():
    """A hash of the code a generated engine depends on."""
    h = hashlib.sha256()
    for path in (K.__file__, __file__):
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def _load(key):
    source = generate(key)
    digest = hashlib.sha256((source + _fingerprint()).encode()).hexdigest()[:20]
    name = f"fastmlp_engine_{digest}"
    path = _write(name, source)
    if path is None:  # nowhere to write: compile in memory, uncached
        module = pytypes.ModuleType(name)
        exec(compile(source, f"<fastmlp engine {digest}>", "exec"), module.__dict__)
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _write(name, source):
    """The path of the engine's source file, written once and never rewritten
    (numba's cache keys on the file's time stamp); None when no directory is
    writable."""
    folder = engine_dir()
    path = os.path.join(folder, name + ".py")
    if os.path.exists(path):
        return path
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        try:
            os.link(tmp, path)  # atomic, and never replaces a file another process wrote
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    except OSError:
        return None
    return path


def generate(key):
    """The Python source of the specialized engine for an architecture key
    (see architecture)."""
    layers, loss = key
    L = len(layers)
    kinds = [kind for kind, _ in layers]
    if kinds[0] != K.LINEAR:
        raise ValueError(f"a model's first layer is Linear; got layer kinds {kinds}")
    last = kinds[-1]
    fused = ((loss == K.BCE and last == K.SIGMOID) or (loss == K.CROSS_ENTROPY and last == K.SOFTMAX)
             or (loss == K.POISSON and last == K.EXP))
    start = L - 2 if fused else L - 1
    names = [f"x{i}" for i in range(L + 1)]
    view_lines = []
    # acts holds the batch's input and every layer's output; dbuf the gradient
    # of each layer's output that the backward pass needs (layers 0..start).
    view_lines.append("    o = 0")
    for i in range(L + 1):
        width = "layout[0, 1]" if i == 0 else f"layout[{i - 1}, 2]"
        view_lines.append(f"    x{i} = acts[o:o + rows * {width}].reshape((rows, {width}))")
        view_lines.append(f"    o += rows * {width}")
    view_lines.append("    o = 0")
    params_of = []
    for i, (kind, bias) in enumerate(layers):
        if kind == K.LINEAR:
            view_lines.append(f"    wo, d_in, d_out = layout[{i}, 3], layout[{i}, 1], layout[{i}, 2]")
            view_lines.append(f"    w{i} = params[wo:wo + d_in * d_out].reshape((d_in, d_out))")
            view_lines.append(f"    gw{i} = grads[wo:wo + d_in * d_out].reshape((d_in, d_out))")
            if bias:
                view_lines.append(f"    b{i} = params[layout[{i}, 4]:layout[{i}, 4] + d_out]")
                view_lines.append(f"    gb{i} = grads[layout[{i}, 4]:layout[{i}, 4] + d_out]")
            else:
                view_lines.append(f"    b{i} = params[0:0]")
                view_lines.append(f"    gb{i} = grads[0:0]")
            params_of += [f"w{i}", f"gw{i}", f"b{i}", f"gb{i}"]
    for i in range(start + 1):
        view_lines.append(f"    d{i} = dbuf[o:o + rows * layout[{i}, 2]].reshape((rows, layout[{i}, 2]))")
        view_lines.append(f"    o += rows * layout[{i}, 2]")
    grads_of = [f"d{i}" for i in range(start + 1)]
    fields = names + params_of + grads_of + ["yb", "wb", "clip_epsilon", "alpha", "per_sample", "update", "lr"]
    unpack = "    (" + ", ".join(fields) + ") = views"

    forward = []
    for i, (kind, bias) in enumerate(layers):
        if kind == K.LINEAR:
            forward.append(f"    K.linear_forward(x{i}, w{i}, b{i}, {bias}, x{i + 1})")
        else:
            forward.append(f"    K.{K.ACTIVATION_NAMES[kind]}_forward(x{i}, x{i + 1})")
    backward = [f"    value, total = K.output_gradient(loss, {fused}, x{L - 1}, x{L}, yb, wb, clip_epsilon, "
                f"per_sample, d{start})"]
    for i in range(start, -1, -1):
        kind, bias = layers[i]
        if kind == K.LINEAR:
            dx = f"d{i - 1}" if i > 0 else f"d{i}"
            backward.append(f"    K.linear_backward_sgd(x{i}, w{i}, b{i}, d{i}, {bias}, gw{i}, gb{i}, {i > 0}, {dx}, "
                            f"update, lr)")
            backward.append("    if alpha != 0.0:")
            backward.append(f"        value += K.add_l2(w{i}, gw{i}, alpha / total)")
        elif i > 0:
            backward.append(f"    K.{K.ACTIVATION_NAMES[kind]}_backward(x{i + 1}, d{i}, d{i - 1})")
    acts_width = " + ".join(["layout[0, 1]"] + [f"layout[{i}, 2]" for i in range(L)])
    grad_width = " + ".join(f"layout[{i}, 2]" for i in range(start + 1))
    description = ", ".join(
        ("Linear" + ("" if bias else " (no bias)")) if kind == K.LINEAR else K.ACTIVATION_NAMES[kind]
        for kind, bias in layers)
    return f'''"""fastmlp's specialized training engine for the layers {description},
loss code {loss}. Generated by fastmlp.engines: do not edit."""

import numba
import numpy as np

from fastmlp import kernels as K

LOSS = {loss}  # compiled in as a constant, as in the generic engine


@K.jit(inline="always")
def views(params, grads, layout, acts, dbuf, ybuf, wbuf, rows, k, settings):
{chr(10).join(view_lines)}
    yb = ybuf[0:rows * k].reshape((rows, k))
    wb = K.head(wbuf, rows)
    return ({", ".join(fields[:-5])}, settings.clip_epsilon, settings.alpha, settings.per_sample,
            K.sgd_in_backward(settings, True), settings.lr)


@K.jit(inline="always")
def step(views, loss, X, indptr, indices, data, Y, W, order, first_row, load):
{unpack}
    if load:
        K.gather(X, Y, order, first_row, x0, yb)
        K.gather_weights(W, order, first_row, wb)
{chr(10).join(forward)}
{chr(10).join(backward)}
    return value, x{L}, yb


@K.jit
def train_epochs(params, grads, layout, X, indptr, indices, data, Y, W, order_in, shuffle_u, settings, first_moment,
                 second_moment, adam_step, epoch_loss, status, watch):
    n, k = Y.shape
    batch = K.engine_batch(settings, n)
    acts = np.empty(batch * ({acts_width}), dtype=params.dtype)
    dbuf = np.empty(batch * ({grad_width}), dtype=params.dtype)
    ybuf = np.empty(batch * k, dtype=params.dtype)
    wbuf = K.weight_buffer(W, batch)
    tail_rows = K.last_batch_rows(n, batch)
    full = views(params, grads, layout, acts, dbuf, ybuf, wbuf, batch, k, settings)
    tail = views(params, grads, layout, acts, dbuf, ybuf, wbuf, tail_rows, k, settings)
    K.run_epochs(step, full, tail, tail_rows, LOSS, X, None, None, None, Y, W, K.sample_order(order_in, n),
                 shuffle_u, settings, params, grads, first_moment, second_moment, adam_step, epoch_loss, status,
                 watch)
'''
