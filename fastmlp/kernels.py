"""Every compiled function of fastmlp: layer and loss kernels, optimizer updates,
and the fused training engine that calls them.

They live in one module on purpose: numba's on-disk cache does not notice when a
callee defined in another file changes, so a cached engine would keep running
old kernels (numba issues #1833, #9483).

Conventions
-----------
* Kernels take plain, C-contiguous float32 or float64 arrays (one compiled
  specialisation per dtype) and write into preallocated outputs. Checking and
  normalising arguments is the caller's job (``fastmlp.validation``).
* A model is a flat parameter buffer plus an int64 ``layout`` table with one
  row per layer: ``(kind, d_in, d_out, w_off, b_off)``; ``b_off`` is -1 for a
  Linear layer without bias and for parameter-free layers. Weights are stored
  ``(d_in, d_out)`` row-major and a Linear layer computes ``x @ W + b``.
* Losses return float64 (accumulated in float64 for both dtypes).
* A sparse input is the three arrays of a CSR matrix: indptr (n + 1,) and
  indices (nnz,) int64, data (nnz,) of the model's dtype; a batch of its rows
  is given by each row's entry range, starts[r]..ends[r] into indices and
  data, so no entry is ever copied. Dense-input calls pass empty arrays.
"""

import collections
import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np import linalg as numba_linalg

# Layer kinds (column 0 of the layout table).
LINEAR, RELU, SIGMOID, TANH, IDENTITY, SOFTMAX, EXP = 0, 1, 2, 3, 4, 5, 6
# Losses.
MSE, HALF_MSE, BCE, CROSS_ENTROPY, POISSON = 0, 1, 2, 3, 4
LOSS_KINDS = (MSE, HALF_MSE, BCE, CROSS_ENTROPY, POISSON)
# Optimizers.
OPT_SGD, OPT_ADAM = 0, 1
# How mse, half_mse, bce and poisson treat a model's k outputs (EngineSettings.per_sample):
# averaged with the samples; summed over the outputs in the loss and its gradient; or summed in
# the gradient only, the reported loss averaging them (scikit-learn's MLPRegressor).
PER_ELEMENT, SUM_OVER_OUTPUTS, SUM_GRADIENT_OVER_OUTPUTS = 0, 1, 2
# The kernel names of the parameter-free layer kinds: kernels <name>_forward, <name>_backward.
ACTIVATION_NAMES = {RELU: "relu", SIGMOID: "sigmoid", TANH: "tanh", IDENTITY: "identity", SOFTMAX: "softmax",
                    EXP: "exp"}
# Layout columns.
L_KIND, L_IN, L_OUT, L_W, L_B = 0, 1, 2, 3, 4
LAYOUT_COLS = 5

# The settings of one engine call. A module-level namedtuple: numba passes it
# as a typed record and caches the engine compiled for it. Its field types
# are fixed (int, float, bool: build it with `engine_settings`), since any
# other type, np.float32 for lr say, would compile a new specialisation.
EngineSettings = collections.namedtuple("EngineSettings", [
    "batch",           # int >= 1: samples per update (clipped to the data)
    "optimizer",       # int: OPT_SGD or OPT_ADAM
    "lr",              # float: learning rate
    "momentum",        # float: sgd momentum (0: plain sgd)
    "nesterov",        # bool: Nesterov momentum
    "beta_1",          # float: Adam's first-moment decay
    "beta_2",          # float: Adam's second-moment decay
    "adam_epsilon",    # float: Adam's denominator offset
    "alpha",           # float: L2 penalty, alpha / 2 * ||W||^2 / batch rows
    "clip_epsilon",    # float: probabilities are clipped to [clip_epsilon, 1 - clip_epsilon]
    "shuffle",         # bool: a new sample order every epoch (from shuffle_u)
    "target_loss",     # float: stop after the first epoch whose mean loss is below it
    "has_target",      # bool: whether target_loss applies
    "per_sample",      # int: PER_ELEMENT, SUM_OVER_OUTPUTS or SUM_GRADIENT_OVER_OUTPUTS
])


def engine_settings(batch, optimizer, lr, clip_epsilon, momentum=0.0, nesterov=False, beta_1=0.9, beta_2=0.999,
                    adam_epsilon=1e-8, alpha=0.0, shuffle=False, target_loss=None, per_sample=PER_ELEMENT):
    """The EngineSettings record with every field of its one type, for
    already-checked values (fastmlp.Trainer.engine_settings checks them;
    clip_epsilon comes from fastmlp.losses.clip_epsilon)."""
    return EngineSettings(int(batch), int(optimizer), float(lr), float(momentum), bool(nesterov),
                          float(beta_1), float(beta_2), float(adam_epsilon), float(alpha), float(clip_epsilon),
                          bool(shuffle), 0.0 if target_loss is None else float(target_loss),
                          target_loss is not None, int(per_sample))

# Status written by the engine.
S_EPOCHS, S_STOP = 0, 1
STOP_NONE, STOP_TARGET, STOP_DIVERGED, STOP_EARLY = 0, 1, 2, 3
# What a watched run scores (see watch_epoch): its task, and what its best epoch is judged by.
TASK_BINARY, TASK_MULTICLASS, TASK_REGRESSION = 0, 1, 2
MONITOR_LOSS, MONITOR_VAL_LOSS, MONITOR_VAL_METRIC = 0, 1, 2
# The slots of a watch's state arrays: fstate (float64), istate (int64).
W_BEST, W_TRAIN_SUM = 0, 1
W_BEST_EPOCH, W_WAITED, W_EPOCH_BASE = 0, 1, 2

# A watched run's state (see watch_epoch): what the engine scores after every
# epoch and the arrays it writes. A module-level namedtuple, as
# EngineSettings, so numba passes it as a typed record and caches the engine.
Watch = collections.namedtuple("Watch", [
    "layout",          # (L, LAYOUT_COLS) int64: the model's layout
    "Xv",              # (m, d) validation inputs (or (0, 0) when sparse, see input_arrays)
    "indptr",          # CSR validation inputs (empty when dense)
    "indices",
    "data",
    "Yv",              # (m, k) validation targets
    "out",             # (m, k) buffer for the validation outputs
    "labels",          # (m,) int64 validation classes (empty for regression)
    "task",            # int: TASK_BINARY, TASK_MULTICLASS or TASK_REGRESSION
    "ss_tot",          # float: total sum of squares of Yv (R^2's denominator)
    "train_ss_tot",    # float: the same of the training targets
    "clip_epsilon",    # float: probabilities clipped as in training
    "loss_scale",      # float: validation loss factor matching the engine's per_sample rule
    "monitor",         # int: MONITOR_LOSS, MONITOR_VAL_LOSS or MONITOR_VAL_METRIC
    "sign",            # float: 1.0 when smaller is better, -1.0 when larger is
    "min_delta",       # float: an improvement is smaller than the best by more than this
    "patience",        # int: stop after this many epochs without improvement (-1: never)
    "restore",         # bool: copy the best epoch's weights into best_params
    "fstate",          # (2,) float64, slots W_BEST, W_TRAIN_SUM
    "istate",          # (3,) int64, slots W_BEST_EPOCH, W_WAITED, W_EPOCH_BASE
    "best_params",     # (P,) the best epoch's weights (empty unless restore)
    "val_losses",      # (epochs,) float64 per epoch of the fit (empty without validation)
    "val_metrics",     # (epochs,) float64
    "train_metrics",   # (epochs,) float64
    "block",           # int: rows per block of the validation pass
])

# Up to this many multiply-adds a matrix product runs in a hand loop: a BLAS
# call costs about 0.1-0.2 us however small the product, which dominates for
# XOR-sized layers; from about 1,000 multiply-adds on, BLAS wins even at
# (32, 2) @ (2, 16) (measured with bench/test_kernels.py and a numba loop).
# A product whose inner dimension is 1 (an outer product: dx of a layer with
# one output, the forward pass of a layer with one input, gw at batch size 1)
# always runs in the hand loop: OpenBLAS's gemm handles k = 1 poorly. Measured
# on (256, 1) @ (1, 512) as each of the three products: 30-37 us in BLAS and
# 10-25 us by hand in float32, 210 us and 21-57 us in float64.
SMALL_PRODUCT = 256

# Safe fastmath subset: "nnan"/"ninf" would turn isnan/isfinite into constants
# and break divergence detection; "afn" is left out to keep exp/log accurate.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}


def jit(fn=None, **extra):
    """The one decorator of every compiled function.

    `jit(inline="always")` marks a function that numba inlines into its
    callers at the IR level instead of compiling it on its own: the
    activation and loss kernels, the optimizer updates, the engine's epoch
    loop and step, and small helpers. Each of them is still an ordinary
    compiled function when called from Python (the tests do). Measured with
    alternating runs of `fastmlp train --dataset xor` on an empty cache and
    of the engine alone: 23 compiled signatures instead of 48, a shorter cold
    compile, and a faster engine (xor 0.70 against 0.83 us/step, line 6.0
    against 6.6 us, best of six runs each). Inlining the Linear kernels as
    well compiled and ran no faster, so they stay separate.

    What stays separate is what would be inlined whole at a call site that
    does not need it: numba copies a callee's IR for every inlined call
    (`copy.deepcopy`, the largest single cost of a cold compile), while a
    separately compiled callee is optimised by LLVM again in every library
    that links it. So the two kind dispatchers (activation_forward,
    activation_backward: every activation's code, ~600 IR statements each)
    are compiled once and called, and the generic engine's body is written in
    its per-loss entry rather than inlined into it (see _train_epochs_entry).
    Measured the same way (CPU seconds, empty cache), together with the step
    typed once instead of twice (see run_epochs): 13.7 s against 18.3-19.6 s."""
    if fn is None:
        return lambda f: jit(f, **extra)
    opts = dict(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)
    opts.update(extra)
    try:
        return numba.njit(**opts)(fn)
    except RuntimeError:
        # No writable cache location (read-only install, no home): compile in memory.
        opts["cache"] = False
        return numba.njit(**opts)(fn)


# ---------------------------------------------------------------------------
# Vectorisable elementary functions
#
# numba compiles math.exp, math.tanh, ... to libm calls, one element at a
# time, and a call inside a loop keeps LLVM's loop vectorizer off the whole
# loop. vec_exp, vec_log, vec_log1p, vec_tanh and vec_sigmoid are branch-free
# versions (selects, no jumps) that LLVM inlines and vectorises: a range
# reduction, a polynomial, and powers of two built from their exponent bits.
#
# Each has one implementation per float type, picked when the caller compiles
# (numba.extending.overload), compiled on its own with FMA contraction as its
# only fast-math flag and `forceinline` (LLVM's alwaysinline). Being compiled
# apart keeps the callers' flags off it, reassoc above all, which would undo
# the rounding and range-reduction steps (`(t + magic) - magic` is not `t`
# here); alwaysinline then puts it into the caller's loop, where it is
# vectorised. The tests hold each to within 4 ulp of numpy over its whole
# float range and to numpy's results on +-0, subnormals, +-inf and NaN
# (tests/test_kernels_math.py); bench/math_speed.py times them.
#
# Called from Python, the vec_* functions are the plain math functions;
# `elementwise` runs a compiled one over an array.
# ---------------------------------------------------------------------------

# Function codes of `elementwise`, in the order of their names.
FN_EXP, FN_LOG, FN_LOG1P, FN_TANH, FN_SIGMOID = range(5)
ELEMENTWISE_FUNCTIONS = ("exp", "log", "log1p", "tanh", "sigmoid")

_MATH_OPTS = dict(fastmath={"contract"}, error_model="numpy", nogil=True, forceinline=True)

# Per float type: (float type, integer type of the same width, mantissa bits,
# exponent bias, exp's clamp [lo, hi] (beyond it exp is already 0 or inf),
# |n| beyond which 2^n is applied in two factors 2^split apart, the
# Cody-Waite split ln 2 = ln2_hi + ln2_lo (ln2_hi has trailing zero bits, so
# n * ln2_hi is exact), the number of Taylor terms of exp(r) on |r| <= ln(2)/2
# (the first one left out is below a tenth of an ulp), and the input above
# which tanh is 1.
_FORMATS = {
    32: (np.float32, np.int32, 23, 127, -104.0, 89.0, 100, 32, 0.693359375, -2.12194440e-4, 8, 9.5),
    64: (np.float64, np.int64, 52, 1023, -746.0, 710.0, 1000, 64,
         6.93147180369123816490e-01, 1.90821492927058770002e-10, 14, 22.0),
}
# fdlibm's minimax coefficients of log(1 + g) = g - hfsq + s (hfsq + R(s^2)),
# s = g / (2 + g), on sqrt(1/2) <= 1 + g <= sqrt(2) (R's coefficients, lowest first).
_LOG_COEFFS = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
               2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
               1.479819860511658591e-01)
def _exp_steps(bits):
    """The steps exp and tanh share, as functions numba inlines into them:
    reduce(x) = (n, r) with x = n ln 2 + r, |r| <= ln(2) / 2, for a finite x
    already clamped to the format's range; expm1_near0(r) = exp(r) - 1 by
    its Taylor polynomial; pow2(n) = 2^n from the exponent bits, for n in
    the normal range. n = round(x / ln 2) comes from adding 1.5 *
    2^mantissa_bits (no float-to-int conversion, which AVX2 lacks for 64-bit
    integers) and r = x - n ln 2 is taken in two steps (Cody-Waite)."""
    f, i, mant, bias, _, _, _, _, ln2_hi, ln2_lo, terms, _ = _FORMATS[bits]
    magic = f(1.5 * 2.0**mant)
    magic_bits = i(np.array(magic, dtype=f).view(i))
    ln2_hi, ln2_lo, log2e = f(ln2_hi), f(ln2_lo), f(1.4426950408889634)
    inv_fact = tuple(f(1.0 / math.factorial(q)) for q in range(terms))
    bias, mant = i(bias), i(mant)

    def reduce(x):
        t = x * log2e + magic
        nf = t - magic
        n = f(t).view(i) - magic_bits
        r = x - nf * ln2_hi
        return n, r - nf * ln2_lo

    def expm1_near0(r):
        p = inv_fact[terms - 1]
        for q in range(terms - 2, 0, -1):
            p = p * r + inv_fact[q]
        return p * r

    def pow2(n):
        return i((n + bias) << mant).view(f)

    return tuple(numba.njit(inline="always")(fn) for fn in (reduce, expm1_near0, pow2))


def _exp_impl(bits):
    """exp(x) = 2^n (1 + expm1_near0(r)), with 2^n in two factors when n is
    near either end of the range, so that a subnormal result is rounded once
    and one just below the overflow threshold stays finite. x is clamped to
    the range where that happens (past it the result overflows to inf or
    underflows to 0 by itself); NaN is passed through."""
    reduce, expm1_near0, pow2 = _exp_steps(bits)
    f, i, _, _, lo, hi, far, split, _, _, _, _ = _FORMATS[bits]
    lo, hi, one = f(lo), f(hi), f(1.0)
    far, split, zero = i(far), i(split), i(0)

    def exp(x):
        xc = x if x < hi else hi  # NaN takes this branch; it is put back at the end
        xc = xc if xc > lo else lo
        n, r = reduce(xc)
        a = split if n < -far else (-split if n > far else zero)
        y = (one + expm1_near0(r)) * pow2(n + a) * pow2(-a)
        return x if x != x else y

    return exp


def _log_impl(bits):
    """log(x), fdlibm's method: x = 2^e m with sqrt(1/2) <= m <= sqrt(2),
    taken from the bits (a subnormal x is scaled up first), then log(m) by
    a minimax polynomial in s = (m - 1) / (m + 1) and e ln 2 added in two
    parts. log(0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN passes."""
    f, i, mant, bias, _, _, _, _, ln2_hi, ln2_lo, _, _ = _FORMATS[bits]
    tiny = f(np.finfo(f).tiny)
    up, up_e = f(2.0 ** (mant + 2)), i(mant + 2)
    mant_mask, one_bits = i((1 << mant) - 1), i(np.array(1.0, dtype=f).view(i))
    exp_mask = i((1 << (bits - 1 - mant)) - 1)
    mant, bias = i(mant), i(bias)
    sqrt2, ln2_hi, ln2_lo = f(1.4142135623730951), f(ln2_hi), f(ln2_lo)
    coeffs = tuple(f(v) for v in _LOG_COEFFS)
    nc = len(coeffs)
    one, two, half, zero = f(1.0), f(2.0), f(0.5), f(0.0)
    ninf, nan, inf = f(-np.inf), f(np.nan), f(np.inf)

    def log(x):
        sub = x < tiny
        xs = x * up if sub else x
        xb = f(xs).view(i)
        e = ((xb >> mant) & exp_mask) - bias
        e = e - up_e if sub else e
        m = i((xb & mant_mask) | one_bits).view(f)
        big = m > sqrt2
        m = m * half if big else m
        e = e + 1 if big else e
        fe = f(e)
        g = m - one
        s = g / (two + g)
        z = s * s
        R = coeffs[nc - 1]
        for q in range(nc - 2, -1, -1):
            R = R * z + coeffs[q]
        R = R * z
        hfsq = half * g * g
        y = fe * ln2_hi - ((hfsq - (s * (hfsq + R) + fe * ln2_lo)) - g)
        y = ninf if x == zero else y
        y = nan if x < zero else y
        return x if (x != x or x == inf) else y

    return log


def _log1p_impl(bits):
    """log1p(x) = log(u) + (x - (u - 1)) / u with u = 1 + x: the second term
    puts back what rounding 1 + x lost. x itself when 1 + x rounds to 1."""
    f = _FORMATS[bits][0]
    one, zero, inf, ninf = f(1.0), f(0.0), f(np.inf), f(-np.inf)

    def log1p(x):
        u = one + x
        y = vec_log(u) + (x - (u - one)) / u
        y = x if u == one else y
        y = ninf if u == zero else y
        return u if u == inf else y

    return log1p


def _tanh_impl(bits):
    """tanh(x) = sign(x) t with t = -E / (2 + E), E = expm1(-2|x|) = 2^n
    expm1_near0(r) + (2^n - 1): no cancellation near 0, one division, and E
    reaches -1 (t = 1) before 2^n leaves the normal range, so -2|x| is
    clamped there (at -2 x_one, x_one being where tanh rounds to 1)."""
    reduce, expm1_near0, pow2 = _exp_steps(bits)
    f = _FORMATS[bits][0]
    lo = f(-2.0 * _FORMATS[bits][11])
    one, two = f(1.0), f(2.0)

    def tanh(x):
        m = -two * abs(x)
        mc = m if m > lo else lo  # NaN takes this branch and stays NaN below
        n, r = reduce(mc)
        s = pow2(n)
        e = s * expm1_near0(r) + (s - one)
        t = -e / (two + e)
        return math.copysign(x if x != x else t, x)

    return tanh


def _sigmoid_impl(bits):
    """1 / (1 + exp(-x)) for x >= 0, exp(x) / (1 + exp(x)) below: exp is only
    taken of -|x|, so it never overflows and tiny results stay accurate."""
    f = _FORMATS[bits][0]
    one, zero = f(1.0), f(0.0)

    def sigmoid(x):
        e = vec_exp(-abs(x))
        inv = one / (one + e)
        return inv if x >= zero else e * inv

    return sigmoid


def vec_exp(x):
    """exp(x); vectorisable in compiled code."""
    return math.exp(x)


def vec_log(x):
    """log(x); vectorisable in compiled code (-inf at 0, NaN below)."""
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


def vec_log1p(x):
    """log(1 + x); vectorisable in compiled code."""
    return math.log1p(x) if x > -1 else (-math.inf if x == -1 else math.nan)


def vec_tanh(x):
    """tanh(x); vectorisable in compiled code."""
    return math.tanh(x)


def vec_sigmoid(x):
    """1 / (1 + exp(-x)) without overflow; vectorisable in compiled code."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _register_vectorised(python_fn, make_impl):
    impls = {bits: make_impl(bits) for bits in _FORMATS}

    @overload(python_fn, jit_options=_MATH_OPTS)
    def _typed(x):
        if isinstance(x, types.Float):
            return impls[x.bitwidth]


for _fn, _make in ((vec_exp, _exp_impl), (vec_log, _log_impl), (vec_log1p, _log1p_impl),
                   (vec_tanh, _tanh_impl), (vec_sigmoid, _sigmoid_impl)):
    _register_vectorised(_fn, _make)


@jit
def elementwise(fn, x, out):
    """x (n,) -> out (n,) = f(x) for the function with code fn (FN_EXP, ...)."""
    n = x.shape[0]
    if fn == FN_EXP:
        for q in range(n):
            out[q] = vec_exp(x[q])
    elif fn == FN_LOG:
        for q in range(n):
            out[q] = vec_log(x[q])
    elif fn == FN_LOG1P:
        for q in range(n):
            out[q] = vec_log1p(x[q])
    elif fn == FN_TANH:
        for q in range(n):
            out[q] = vec_tanh(x[q])
    else:
        for q in range(n):
            out[q] = vec_sigmoid(x[q])


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


# Hand loops for tiny products. Each runs its longest dimension innermost: a
# length-1 inner loop costs tens of cycles per entry (vector prologue and
# epilogue) and dominated XOR-sized steps before.


@jit(inline="always")
def _small_nn(a, b, out):
    """a (m, k), b (k, n) -> out (m, n) = a @ b."""
    m, k = a.shape
    n = b.shape[1]
    if n >= k:
        for i in range(m):
            for j in range(n):
                out[i, j] = 0.0
            for p in range(k):
                aip = a[i, p]
                for j in range(n):
                    out[i, j] += aip * b[p, j]
    else:
        for i in range(m):
            for j in range(n):
                s = 0.0
                for p in range(k):
                    s += a[i, p] * b[p, j]
                out[i, j] = s


@jit(inline="always")
def _small_tn(a, b, out):
    """a (m, k), b (m, n) -> out (k, n) = a.T @ b, without a transposed view."""
    m, k = a.shape
    n = b.shape[1]
    if n >= m:
        for p in range(k):
            for j in range(n):
                out[p, j] = 0.0
        for i in range(m):
            for p in range(k):
                aip = a[i, p]
                for j in range(n):
                    out[p, j] += aip * b[i, j]
    else:
        for p in range(k):
            for j in range(n):
                s = 0.0
                for i in range(m):
                    s += a[i, p] * b[i, j]
                out[p, j] = s


@jit(inline="always")
def _small_nt(a, b, out):
    """a (m, n), b (k, n) -> out (m, k) = a @ b.T, without a transposed view."""
    m, n = a.shape
    k = b.shape[0]
    if n == 1:  # an outer product (dx of a one-output layer): one pass, no zeroing
        for i in range(m):
            ai = a[i, 0]
            for p in range(k):
                out[i, p] = ai * b[p, 0]
    elif n >= k:
        for i in range(m):
            for p in range(k):
                s = 0.0
                for j in range(n):
                    s += a[i, j] * b[p, j]
                out[i, p] = s
    else:
        for i in range(m):
            for p in range(k):
                out[i, p] = 0.0
            for j in range(n):
                aij = a[i, j]
                for p in range(k):
                    out[i, p] += aij * b[p, j]


# Element-wise loops. Each takes the operation as a compiled function and
# runs it over an (n, d) array, with a loop of its own for d == 1: a loop over
# the rows and then the columns of an (n, 1) array runs a one-element inner
# loop per row, which LLVM cannot vectorise (a 1-D view instead costs a call
# into numba's reshape helper, about 40 ns, more than a whole XOR-sized layer).


@jit(inline="always")
def _apply(op, x, out):
    """out[i, j] = op(x[i, j])."""
    n, d = x.shape
    if d == 1:
        for i in range(n):
            out[i, 0] = op(x[i, 0])
    else:
        for i in range(n):
            for j in range(d):
                out[i, j] = op(x[i, j])


@jit(inline="always")
def _apply2(op, a, b, c, out):
    """out[i, j] = op(a[i, j], b[i, j], c) for a scalar c."""
    n, d = a.shape
    if d == 1:
        for i in range(n):
            out[i, 0] = op(a[i, 0], b[i, 0], c)
    else:
        for i in range(n):
            for j in range(d):
                out[i, j] = op(a[i, j], b[i, j], c)


@jit(inline="always")
def _sum2(op, a, b, c):
    """The float64 sum of op(a[i, j], b[i, j], c) over all elements."""
    n, d = a.shape
    s = 0.0
    if d == 1:
        for i in range(n):
            s += op(a[i, 0], b[i, 0], c)
    else:
        for i in range(n):
            for j in range(d):
                s += op(a[i, j], b[i, j], c)
    return s


@jit(inline="always")
def _by_hand(m, k, n):
    """Whether an (m, k) @ (k, n) product runs in a hand loop rather than BLAS."""
    return k == 1 or m * k * n <= SMALL_PRODUCT


@intrinsic
def gemm_accumulate(typingctx, a, b, c, alpha, beta):
    """c = alpha * a @ b + beta * c for a (m, k), b (k, n), c (m, n) C-contiguous
    of one float dtype, in one BLAS xGEMM call: np.dot(a, b, c) with alpha and
    beta, which numba's np.dot fixes at 1 and 0. a and b may be transposed
    views (a C-contiguous array's .T). The call is the one numba's np.dot
    makes (numba's numba_xxgemm helper, scipy's BLAS), so it caches and runs
    without the GIL as np.dot does."""
    arrays = (a, b, c)
    if not all(isinstance(t, types.Array) and t.ndim == 2 and t.dtype in (types.float32, types.float64)
               for t in arrays) or len({t.dtype for t in arrays}) != 1:
        return None
    if c.layout != "C" or a.layout not in "CF" or b.layout not in "CF":
        return None
    numba_linalg.ensure_blas()
    dtype = c.dtype
    char, void_p = ir.IntType(8), ir.IntType(8).as_pointer()

    def codegen(context, builder, signature, args):
        intp = context.get_value_type(types.intp)
        fnty = ir.FunctionType(ir.IntType(32), [char, char, char, intp, intp, intp, void_p, void_p, intp, void_p,
                                                intp, void_p, void_p, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        A, B, C = (context.make_array(t)(context, builder, v) for t, v in zip(arrays, args[:3]))
        m, k = cgutils.unpack_tuple(builder, A.shape)
        n = cgutils.unpack_tuple(builder, B.shape)[1]
        alpha_slot = cgutils.alloca_once_value(builder, context.cast(builder, args[3], signature.args[3], dtype))
        beta_slot = cgutils.alloca_once_value(builder, context.cast(builder, args[4], signature.args[4], dtype))

        def blas_operand(ty, arr):
            # Row-major C = A B is column-major C^T = B^T A^T: a C array is
            # passed as it is, an F one (a transposed view) transposed.
            rows, cols = cgutils.unpack_tuple(builder, arr.shape)
            return (ir.Constant(char, ord("n" if ty.layout == "C" else "t")), cols if ty.layout == "C" else rows,
                    builder.bitcast(arr.data, void_p))

        trans_b, ld_b, data_b = blas_operand(b, B)
        trans_a, ld_a, data_a = blas_operand(a, A)
        _, ld_c, data_c = blas_operand(c, C)
        kind = ir.Constant(char, ord(numba_linalg.get_blas_kind(dtype)))
        status = builder.call(fn, (kind, trans_b, trans_a, n, m, k, builder.bitcast(alpha_slot, void_p), data_b,
                                   ld_b, data_a, ld_a, builder.bitcast(beta_slot, void_p), data_c, ld_c))
        numba_linalg.check_blas_return(context, builder, status)
        return context.get_dummy_value()

    return types.void(a, b, c, alpha, beta), codegen


# ---------------------------------------------------------------------------
# Layer kernels: forward/backward pairs
# ---------------------------------------------------------------------------


@jit
def linear_forward(x, w, b, has_bias, out):
    """x (n, d_in), w (d_in, d_out), b (d_out,) -> out (n, d_out) = x @ w + b."""
    if _by_hand(x.shape[0], w.shape[0], w.shape[1]):
        _small_nn(x, w, out)
    else:
        np.dot(x, w, out)
    if has_bias:
        n, d = out.shape
        if d == 1:  # a loop of its own, as in _apply
            b0 = b[0]
            for i in range(n):
                out[i, 0] += b0
        else:
            for i in range(n):
                for j in range(d):
                    out[i, j] += b[j]


@jit(inline="always")
def _bias_gradient(dout, gb):
    """gb (d_out,) = dout (n, d_out) summed over its rows."""
    n, d_out = dout.shape
    if d_out == 1:  # a loop of its own, as in _apply
        s = 0.0
        for i in range(n):
            s += dout[i, 0]
        gb[0] = s
    else:
        for j in range(d_out):
            gb[j] = 0.0
        for i in range(n):
            for j in range(d_out):
                gb[j] += dout[i, j]


@jit
def linear_backward(x, w, dout, has_bias, gw, gb, need_dx, dx):
    """x (n, d_in), w (d_in, d_out), dout (n, d_out) -> gw (d_in, d_out),
    gb (d_out,), and dx (n, d_in) when need_dx. Gradients are overwritten.
    (linear_backward_sgd without its step.)"""
    linear_backward_sgd(x, w, gb, dout, has_bias, gw, gb, need_dx, dx, False, 0.0)


@jit
def linear_backward_sgd(x, w, b, dout, has_bias, gw, gb, need_dx, dx, sgd, lr):
    """linear_backward, and with sgd true this layer's plain SGD step, for x
    (n, d_in), w (d_in, d_out), b (d_out,), dout (n, d_out): dx (n, d_in)
    from the weights before the step when need_dx, then the gradients gw
    (d_in, d_out) and gb (d_out,), and with sgd w -= lr * gw, b -= lr * gb.
    With sgd, a weight product that runs in BLAS updates w inside the GEMM
    (C = C - lr A B) and gw is not written: the gradient is never written and
    read back (measured on a 784-512 layer with 256 rows: 1.1 ms against
    1.7 ms for the product and a separate update). The engines call this
    one kernel in both modes, so it compiles once per engine."""
    n, d_in = x.shape
    d_out = w.shape[1]
    if need_dx:
        if _by_hand(n, d_out, d_in):
            _small_nt(dout, w, dx)
        else:
            np.dot(dout, w.T, dx)
    if _by_hand(d_in, n, d_out):
        _small_tn(x, dout, gw)
        if sgd:
            sgd_update_matrix(w, gw, lr)
    elif sgd:
        gemm_accumulate(x.T, dout, w, -lr, 1.0)
    else:
        np.dot(x.T, dout, gw)
    if has_bias:
        _bias_gradient(dout, gb)
        if sgd:
            sgd_update(b, gb, lr)


@jit
def sparse_linear_forward(starts, ends, indices, data, w, b, has_bias, out):
    """Sparse rows times dense weights: row r of the batch holds the entries
    indices[p], data[p] for p in starts[r]..ends[r] - 1 (CSR arrays, starts
    and ends (n,) int64), w (d_in, d_out), b (d_out,) -> out (n, d_out) =
    X_batch @ w + b, with n = out.shape[0]. Columns without an entry cost
    nothing."""
    n, d = out.shape
    if d == 1:
        for r in range(n):
            acc = 0.0
            for p in range(starts[r], ends[r]):
                acc += data[p] * w[indices[p], 0]
            out[r, 0] = acc + b[0] if has_bias else acc
        return
    for r in range(n):
        for j in range(d):
            out[r, j] = 0.0
        for p in range(starts[r], ends[r]):
            v = data[p]
            c = indices[p]
            for j in range(d):
                out[r, j] += v * w[c, j]
        if has_bias:
            for j in range(d):
                out[r, j] += b[j]


@jit
def sparse_linear_backward(starts, ends, indices, data, dout, has_bias, gw, gb):
    """The weight gradient of sparse_linear_forward: gw (d_in, d_out) =
    X_batch^T @ dout for dout (n, d_out), and gb (d_out,) = dout summed over
    rows. Gradients are overwritten; there is no dX (a sparse input is the
    first layer's)."""
    n, d = dout.shape
    d_in = gw.shape[0]
    for c in range(d_in):
        for j in range(d):
            gw[c, j] = 0.0
    for r in range(n):
        for p in range(starts[r], ends[r]):
            v = data[p]
            c = indices[p]
            for j in range(d):
                gw[c, j] += v * dout[r, j]
    if has_bias:
        _bias_gradient(dout, gb)


@jit(inline="always")
def _relu(v):
    return v if v > 0.0 else 0.0


@jit(inline="always")
def relu_forward(x, out):
    """x (n, d) -> out (n, d) = max(x, 0)."""
    _apply(_relu, x, out)


@jit(inline="always")
def _relu_grad(y, g, _):
    return g if y > 0.0 else 0.0


@jit(inline="always")
def relu_backward(out, dout, dx):
    """out (n, d) = relu(x), dout (n, d) -> dx (n, d). The derivative at 0 is 0."""
    _apply2(_relu_grad, out, dout, 0.0, dx)


@jit(inline="always")
def _sigmoid(v):
    return vec_sigmoid(v)


@jit(inline="always")
def sigmoid_forward(x, out):
    """x (n, d) -> out (n, d) = 1 / (1 + exp(-x)), finite for every finite x."""
    _apply(_sigmoid, x, out)


@jit(inline="always")
def _sigmoid_grad(s, g, _):
    return g * s * (1.0 - s)


@jit(inline="always")
def sigmoid_backward(out, dout, dx):
    """out (n, d) = sigmoid(x), dout (n, d) -> dx (n, d) = dout * out * (1 - out)."""
    _apply2(_sigmoid_grad, out, dout, 0.0, dx)


@jit(inline="always")
def _tanh(v):
    return vec_tanh(v)


@jit(inline="always")
def tanh_forward(x, out):
    """x (n, d) -> out (n, d) = tanh(x)."""
    _apply(_tanh, x, out)


@jit(inline="always")
def _tanh_grad(t, g, _):
    return g * (1.0 - t * t)


@jit(inline="always")
def tanh_backward(out, dout, dx):
    """out (n, d) = tanh(x), dout (n, d) -> dx (n, d) = dout * (1 - out**2)."""
    _apply2(_tanh_grad, out, dout, 0.0, dx)


@jit(inline="always")
def _same(v):
    return v


@jit(inline="always")
def identity_forward(x, out):
    """x (n, d) -> out (n, d) = x."""
    _apply(_same, x, out)


@jit(inline="always")
def _pass_grad(_, g, __):
    return g


@jit(inline="always")
def identity_backward(out, dout, dx):
    """out (n, d), dout (n, d) -> dx (n, d) = dout."""
    _apply2(_pass_grad, out, dout, 0.0, dx)


@jit(inline="always")
def _exp(v):
    return vec_exp(v)


@jit(inline="always")
def exp_forward(x, out):
    """x (n, d) -> out (n, d) = exp(x) (inf beyond the format's range)."""
    _apply(_exp, x, out)


@jit(inline="always")
def _exp_grad(e, g, _):
    return g * e


@jit(inline="always")
def exp_backward(out, dout, dx):
    """out (n, d) = exp(x), dout (n, d) -> dx (n, d) = dout * out."""
    _apply2(_exp_grad, out, dout, 0.0, dx)


@jit(inline="always")
def softmax_forward(x, out):
    """x (n, d) -> out (n, d): row-wise softmax, max-shifted so exp never overflows."""
    n, d = x.shape
    for i in range(n):
        m = x[i, 0]
        for j in range(1, d):
            if x[i, j] > m:
                m = x[i, j]
        s = 0.0
        for j in range(d):
            e = vec_exp(x[i, j] - m)
            out[i, j] = e
            s += e
        inv = 1.0 / s
        for j in range(d):
            out[i, j] *= inv


@jit(inline="always")
def softmax_backward(out, dout, dx):
    """out (n, d) = softmax(x), dout (n, d) -> dx (n, d) = out * (dout - sum(dout * out))."""
    n, d = out.shape
    for i in range(n):
        s = 0.0
        for j in range(d):
            s += dout[i, j] * out[i, j]
        for j in range(d):
            dx[i, j] = out[i, j] * (dout[i, j] - s)


@jit
def activation_forward(kind, x, out):
    """Forward of a parameter-free layer, dispatched on its kind."""
    if kind == RELU:
        relu_forward(x, out)
    elif kind == SIGMOID:
        sigmoid_forward(x, out)
    elif kind == TANH:
        tanh_forward(x, out)
    elif kind == SOFTMAX:
        softmax_forward(x, out)
    elif kind == EXP:
        exp_forward(x, out)
    else:
        identity_forward(x, out)


@jit
def activation_backward(kind, out, dout, dx):
    """Backward of a parameter-free layer, from its output."""
    if kind == RELU:
        relu_backward(out, dout, dx)
    elif kind == SIGMOID:
        sigmoid_backward(out, dout, dx)
    elif kind == TANH:
        tanh_backward(out, dout, dx)
    elif kind == SOFTMAX:
        softmax_backward(out, dout, dx)
    elif kind == EXP:
        exp_backward(out, dout, dx)
    else:
        identity_backward(out, dout, dx)


# ---------------------------------------------------------------------------
# Loss kernels. Each *_forward returns the loss as float64; each *_backward
# writes d loss / d input into its last argument.
# mse, half_mse, bce and poisson average over all n*k elements; cross-entropy
# sums over classes and averages over the n samples.
# The *_weighted_sum kernels are the sample-weighted forms: the float64 sum
# over samples of w[i] times the sample's loss summed over its k outputs.
# ---------------------------------------------------------------------------


@jit(inline="always")
def _squared_error(p, t, _):
    r = float(p) - float(t)
    return r * r


@jit(inline="always")
def _scaled_difference(p, t, c):
    return c * (p - t)


@jit(inline="always")
def mse_forward(pred, y):
    """pred (n, k), y (n, k) -> mean((pred - y)**2) over all elements."""
    return _sum2(_squared_error, pred, y, 0.0) / pred.size


@jit(inline="always")
def mse_backward(pred, y, dpred):
    """pred (n, k), y (n, k) -> dpred (n, k) = 2 (pred - y) / (n k)."""
    _apply2(_scaled_difference, pred, y, 2.0 / pred.size, dpred)


@jit(inline="always")
def half_mse_forward(pred, y):
    """pred (n, k), y (n, k) -> mean((pred - y)**2) / 2."""
    return 0.5 * mse_forward(pred, y)


@jit(inline="always")
def half_mse_backward(pred, y, dpred):
    """pred (n, k), y (n, k) -> dpred (n, k) = (pred - y) / (n k)."""
    _apply2(_scaled_difference, pred, y, 1.0 / pred.size, dpred)


@jit(inline="always")
def _clip_prob(p, clip_epsilon):
    if p < clip_epsilon:
        return clip_epsilon
    if p > 1.0 - clip_epsilon:
        return 1.0 - clip_epsilon
    return p


@jit(inline="always")
def _bce_element(p, t, clip_epsilon):
    q = _clip_prob(float(p), clip_epsilon)
    t = float(t)
    return -(t * vec_log(q) + (1.0 - t) * vec_log1p(-q))


@jit(inline="always")
def _bce_grad(p, t, clip_epsilon_and_scale):
    clip_epsilon, c = clip_epsilon_and_scale
    q = _clip_prob(float(p), clip_epsilon)
    return c * (q - t) / (q * (1.0 - q))


@jit(inline="always")
def bce_forward(p, y, clip_epsilon):
    """p (n, k) probabilities, y (n, k) in [0, 1] -> mean binary cross-entropy.
    p is clipped to [clip_epsilon, 1 - clip_epsilon]; prefer bce_logits_forward when logits exist."""
    return _sum2(_bce_element, p, y, clip_epsilon) / p.size


@jit(inline="always")
def bce_backward(p, y, clip_epsilon, dp):
    """p (n, k), y (n, k) -> dp (n, k) = (p - y) / (p (1 - p)) / (n k), p clipped."""
    _apply2(_bce_grad, p, y, (clip_epsilon, 1.0 / p.size), dp)


@jit(inline="always")
def _bce_logits_element(z, t, _):
    v = float(z)
    return max(v, 0.0) - v * float(t) + vec_log1p(vec_exp(-abs(v)))


@jit(inline="always")
def bce_logits_forward(z, y):
    """z (n, k) logits, y (n, k) -> mean BCE of sigmoid(z), in the form
    max(z, 0) - z y + log1p(exp(-|z|)), finite for every finite z."""
    return _sum2(_bce_logits_element, z, y, 0.0) / z.size


@jit(inline="always")
def bce_logits_backward(p, y, dz):
    """p (n, k) = sigmoid(z), y (n, k) -> dz (n, k) = (p - y) / (n k)."""
    _apply2(_scaled_difference, p, y, 1.0 / p.size, dz)


@jit(inline="always")
def cross_entropy_forward(p, y, clip_epsilon):
    """p (n, k) class probabilities, y (n, k) one-hot or probabilities ->
    mean over samples of -sum_k y log(p); p is clipped below at clip_epsilon."""
    n, k = p.shape
    s = 0.0
    for i in range(n):
        for j in range(k):
            t = float(y[i, j])
            if t != 0.0:
                s -= t * vec_log(max(float(p[i, j]), clip_epsilon))
    return s / n


@jit(inline="always")
def cross_entropy_backward(p, y, clip_epsilon, dp):
    """p (n, k), y (n, k) -> dp (n, k) = -y / p / n."""
    n, k = p.shape
    c = 1.0 / n
    for i in range(n):
        for j in range(k):
            dp[i, j] = -c * y[i, j] / max(float(p[i, j]), clip_epsilon)


@jit(inline="always")
def softmax_cross_entropy_forward(z, y):
    """z (n, k) logits, y (n, k) -> mean over samples of
    sum_k y (logsumexp(z) - z): the cross-entropy of softmax(z), always finite."""
    n, k = z.shape
    s = 0.0
    for i in range(n):
        m = float(z[i, 0])
        for j in range(1, k):
            if z[i, j] > m:
                m = float(z[i, j])
        se = 0.0
        for j in range(k):
            se += vec_exp(float(z[i, j]) - m)
        lse = m + vec_log(se)
        for j in range(k):
            t = float(y[i, j])
            if t != 0.0:
                s += t * (lse - float(z[i, j]))
    return s / n


@jit(inline="always")
def softmax_cross_entropy_backward(p, y, dz):
    """p (n, k) = softmax(z), y (n, k) -> dz (n, k) = (p sum_k(y) - y) / n,
    which is (p - y) / n for one-hot or probability rows."""
    n, k = p.shape
    c = 1.0 / n
    for i in range(n):
        sy = 0.0
        for j in range(k):
            sy += y[i, j]
        for j in range(k):
            dz[i, j] = c * (p[i, j] * sy - y[i, j])


@jit(inline="always")
def _xlogx(t):
    """t log t, 0 at t = 0 (scipy's xlogy(t, t))."""
    return t * vec_log(t) if t > 0.0 else 0.0


@jit(inline="always")
def _poisson_element(m, t, clip_epsilon):
    q = float(m)
    q = q if q > clip_epsilon else clip_epsilon
    t = float(t)
    return q - t * vec_log(q) + _xlogx(t) - t


@jit(inline="always")
def _poisson_grad(m, t, clip_epsilon_and_scale):
    clip_epsilon, c = clip_epsilon_and_scale
    q = float(m)
    q = q if q > clip_epsilon else clip_epsilon
    return c * (1.0 - t / q)


@jit(inline="always")
def poisson_forward(mu, y, clip_epsilon):
    """mu (n, k) predicted means, y (n, k) >= 0 -> mean Poisson deviance term
    mu - y log(mu) + y log(y) - y (scikit-learn's poisson loss, summed over
    outputs there); mu is clipped below at clip_epsilon. Prefer poisson_logits_forward
    when the log-means exist."""
    return _sum2(_poisson_element, mu, y, clip_epsilon) / mu.size


@jit(inline="always")
def poisson_backward(mu, y, clip_epsilon, dmu):
    """mu (n, k), y (n, k) -> dmu (n, k) = (1 - y / mu) / (n k), mu clipped."""
    _apply2(_poisson_grad, mu, y, (clip_epsilon, 1.0 / mu.size), dmu)


@jit(inline="always")
def _poisson_logits_element(z, t, _):
    # np.float64, not float(): numba's float() keeps a float32 a float32, and
    # exp(z) is to be taken in float64 (finite up to z = 709 for both dtypes).
    v = np.float64(z)
    t = np.float64(t)
    return vec_exp(v) - t * v + _xlogx(t) - t


@jit(inline="always")
def poisson_logits_forward(z, y):
    """z (n, k) log-means, y (n, k) >= 0 -> mean of exp(z) - y z + y log(y) - y,
    the Poisson deviance term of mu = exp(z) without forming log(mu) or y / mu:
    finite wherever exp(z) is (computed in float64, so float32 logits up to
    about 709 give a finite loss), and where exp(z) underflows to 0."""
    return _sum2(_poisson_logits_element, z, y, 0.0) / z.size


@jit(inline="always")
def poisson_logits_backward(mu, y, dz):
    """mu (n, k) = exp(z), y (n, k) -> dz (n, k) = (mu - y) / (n k)."""
    _apply2(_scaled_difference, mu, y, 1.0 / mu.size, dz)


@jit(inline="always")
def _weighted_sum2(op, a, b, c, w):
    """The float64 sum over rows i of w[i] * sum_j op(a[i, j], b[i, j], c)."""
    n, d = a.shape
    s = 0.0
    for i in range(n):
        r = 0.0
        for j in range(d):
            r += op(a[i, j], b[i, j], c)
        s += w[i] * r
    return s


@jit(inline="always")
def _half_squared_error(p, t, _):
    r = float(p) - float(t)
    return 0.5 * r * r


@jit(inline="always")
def cross_entropy_weighted_sum(p, y, clip_epsilon, w):
    """p (n, k), y (n, k), w (n,) -> sum_i w_i (-sum_k y log(max(p, clip_epsilon)))."""
    n, k = p.shape
    s = 0.0
    for i in range(n):
        r = 0.0
        for j in range(k):
            t = float(y[i, j])
            if t != 0.0:
                r -= t * vec_log(max(float(p[i, j]), clip_epsilon))
        s += w[i] * r
    return s


@jit(inline="always")
def softmax_cross_entropy_weighted_sum(z, y, w):
    """z (n, k) logits, y (n, k), w (n,) -> sum_i w_i sum_k y (logsumexp(z) - z)."""
    n, k = z.shape
    s = 0.0
    for i in range(n):
        m = float(z[i, 0])
        for j in range(1, k):
            if z[i, j] > m:
                m = float(z[i, j])
        se = 0.0
        for j in range(k):
            se += vec_exp(float(z[i, j]) - m)
        lse = m + vec_log(se)
        r = 0.0
        for j in range(k):
            t = float(y[i, j])
            if t != 0.0:
                r += t * (lse - float(z[i, j]))
        s += w[i] * r
    return s


# The loss dispatch. A loss is a compile-time constant of the code that uses
# it (numba.literally in the functions called from Python): loss_terms picks
# that loss's kernels when the caller is compiled, so an engine holds the
# code of its own loss only, and the engine a first run compiles is a fifth
# of what it would be with every loss in it. This table is the one place
# where a loss's kernels are named.

def _loss_impls(kind):
    """The implementations of loss_value, loss_gradient and
    loss_weighted_value for the loss `kind`."""
    # Arguments: loss, fused, z (logits), p (outputs), y, clip (clip_epsilon), d (gradient), w (weights).
    if kind == MSE:
        return (lambda loss, fused, z, p, y, clip: mse_forward(p, y),
                lambda loss, fused, p, y, clip, d: mse_backward(p, y, d),
                lambda loss, fused, z, p, y, clip, w: _weighted_sum2(_squared_error, p, y, 0.0, w))
    if kind == HALF_MSE:
        return (lambda loss, fused, z, p, y, clip: half_mse_forward(p, y),
                lambda loss, fused, p, y, clip, d: half_mse_backward(p, y, d),
                lambda loss, fused, z, p, y, clip, w: _weighted_sum2(_half_squared_error, p, y, 0.0, w))
    if kind == BCE:
        return (lambda loss, fused, z, p, y, clip: bce_logits_forward(z, y) if fused else bce_forward(p, y, clip),
                _gradient_of(bce_logits_backward, bce_backward),
                lambda loss, fused, z, p, y, clip, w: (_weighted_sum2(_bce_logits_element, z, y, 0.0, w) if fused
                                                       else _weighted_sum2(_bce_element, p, y, clip, w)))
    if kind == POISSON:
        return (lambda loss, fused, z, p, y, clip: (poisson_logits_forward(z, y) if fused
                                                    else poisson_forward(p, y, clip)),
                _gradient_of(poisson_logits_backward, poisson_backward),
                lambda loss, fused, z, p, y, clip, w: (_weighted_sum2(_poisson_logits_element, z, y, 0.0, w)
                                                       if fused else _weighted_sum2(_poisson_element, p, y, clip, w)))
    if kind == CROSS_ENTROPY:
        return (lambda loss, fused, z, p, y, clip: (softmax_cross_entropy_forward(z, y) if fused
                                                    else cross_entropy_forward(p, y, clip)),
                _gradient_of(softmax_cross_entropy_backward, cross_entropy_backward),
                lambda loss, fused, z, p, y, clip, w: (softmax_cross_entropy_weighted_sum(z, y, w) if fused
                                                       else cross_entropy_weighted_sum(p, y, clip, w)))
    raise ValueError(f"unknown loss kind {kind}")


def _gradient_of(logits_backward, backward):
    """loss_gradient's implementation for a loss with a fused logits form:
    logits_backward(p, y, d) when fused, else backward(p, y, clip, d)."""
    def gradient(loss, fused, p, y, clip, d):
        if fused:
            logits_backward(p, y, d)
        else:
            backward(p, y, clip, d)
    return gradient


def loss_value(loss, fused, z, p, y, clip):
    """The loss (float64) of outputs p (n, k) against y (n, k); from the
    logits z (n, k) when fused (Sigmoid + bce, Softmax + cross-entropy, Exp +
    poisson: the stable form). loss must be a compile-time constant."""


def loss_gradient(loss, fused, p, y, clip, d):
    """d (n, k) = d loss / d p, or d loss / d logits when fused."""


def loss_weighted_value(loss, fused, z, p, y, clip, w):
    """sum_i w[i] * (the loss of sample i summed over its k outputs), float64,
    for sample weights w (n,)."""


# Made once: numba compiles an implementation once per function object, and
# typing asks for it many times.
_LOSS_IMPLS = {kind: _loss_impls(kind) for kind in LOSS_KINDS}


def _loss_impl(stub, which, loss):
    """The implementation of `stub` for the loss type `loss` (a literal int)."""
    if isinstance(loss, types.IntegerLiteral) and loss.literal_value in _LOSS_IMPLS:
        return _LOSS_IMPLS[loss.literal_value][which]
    raise numba.errors.TypingError(f"{stub.__name__}: the loss must be a compile-time constant "
                                   f"(numba.literally); got {loss}")


_LOSS_OPTS = dict(prefer_literal=True, jit_options=dict(nogil=True, error_model="numpy"))


@overload(loss_value, **_LOSS_OPTS)
def _loss_value_typed(loss, fused, z, p, y, clip):
    return _loss_impl(loss_value, 0, loss)


@overload(loss_gradient, **_LOSS_OPTS)
def _loss_gradient_typed(loss, fused, p, y, clip, d):
    return _loss_impl(loss_gradient, 1, loss)


@overload(loss_weighted_value, **_LOSS_OPTS)
def _loss_weighted_value_typed(loss, fused, z, p, y, clip, w):
    return _loss_impl(loss_weighted_value, 2, loss)


@jit
def _loss_weighted_sum(loss, fused, z, pred, y, clip_epsilon, w):
    """sum_i w[i] * (the loss of sample i summed over its k outputs), float64:
    z (n, k) the logits (used when fused: Sigmoid + bce, Softmax +
    cross-entropy, Exp + poisson), pred (n, k) the outputs, y (n, k), w (n,)."""
    numba.literally(loss)
    return loss_weighted_value(loss, fused, z, pred, y, clip_epsilon, w)


@jit(inline="always")
def scale_rows(d, w, c):
    """d (n, k), w (n,): d[i, j] *= c * w[i]."""
    n, k = d.shape
    if k == 1:
        for i in range(n):
            d[i, 0] *= c * w[i]
    else:
        for i in range(n):
            f = c * w[i]
            for j in range(k):
                d[i, j] *= f


@jit
def _loss_forward(loss, pred, y, clip_epsilon):
    """Loss of model outputs pred (n, k) against y (n, k)."""
    numba.literally(loss)
    return loss_value(loss, False, pred, pred, y, clip_epsilon)


@jit
def _loss_backward(loss, pred, y, clip_epsilon, dpred):
    """d loss / d pred (n, k) for outputs pred (n, k)."""
    numba.literally(loss)
    loss_gradient(loss, False, pred, y, clip_epsilon, dpred)


# ---------------------------------------------------------------------------
# Optimizer updates on flat buffers (the formulas of scikit-learn's
# SGDOptimizer and AdamOptimizer).
#
# Compiled without fast-math flags, each on its own, and inlined by LLVM
# (`forceinline`) rather than by numba: an update is element-wise, so it
# vectorises without them, and with `contract` and `reassoc` the same update
# could be rounded differently by each caller it is compiled into (the
# Nesterov step in float64 came out in different last bits in the generic
# and the specialized engine, and between a process that compiled an engine
# and one that loaded it from the cache). Without them every engine and
# every process computes the update exactly as written.
# ---------------------------------------------------------------------------

_UPDATE_OPTS = dict(fastmath=False, forceinline=True)


@jit(inline="always")
def _sgd_step(p, g, lr):
    """One parameter's plain SGD step (sgd_update, sgd_update_matrix)."""
    return p - lr * g


@jit(**_UPDATE_OPTS)
def sgd_update(params, grads, lr):
    """params (P,), grads (P,): params -= lr * grads."""
    for i in range(params.shape[0]):
        params[i] = _sgd_step(params[i], grads[i], lr)


@jit(**_UPDATE_OPTS)
def sgd_update_matrix(w, gw, lr):
    """w, gw (d_in, d_out), a Linear layer's weights and their gradient:
    w -= lr * gw, as sgd_update does. (Reshaping the views to 1-D for
    sgd_update would cost a run-time reshape call each, per layer per step.)"""
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            w[i, j] = _sgd_step(w[i, j], gw[i, j], lr)


@jit(**_UPDATE_OPTS)
def momentum_update(params, grads, velocity, lr, momentum, nesterov):
    """params, grads, velocity (P,): velocity = momentum * velocity - lr * grads;
    params += velocity, or with Nesterov params += momentum * velocity - lr * grads."""
    for i in range(params.shape[0]):
        v = momentum * velocity[i] - lr * grads[i]
        velocity[i] = v
        if nesterov:
            params[i] += momentum * v - lr * grads[i]
        else:
            params[i] += v


@jit(**_UPDATE_OPTS)
def adam_update(params, grads, m, v, t, lr, beta1, beta2, adam_epsilon):
    """params, grads, m, v (P,), step t >= 1: Adam with bias correction folded
    into the step size, lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)."""
    lr_t = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    for i in range(params.shape[0]):
        g = grads[i]
        mi = beta1 * m[i] + (1.0 - beta1) * g
        vi = beta2 * v[i] + (1.0 - beta2) * g * g
        m[i] = mi
        v[i] = vi
        params[i] -= lr_t * mi / (math.sqrt(vi) + adam_epsilon)


# ---------------------------------------------------------------------------
# Whole-model functions on the flat buffer
# ---------------------------------------------------------------------------


@jit(inline="always")
def _max_width(layout):
    """The widest gradient of the backward pass: every layer's output (the
    model's input needs none, the first layer being Linear)."""
    w = 0
    for i in range(layout.shape[0]):
        w = max(w, layout[i, L_OUT])
    return w


@jit(inline="always")
def activation_size(layout, rows, dense_input):
    """The size of an activation buffer for `rows` samples: rows x width for
    the input (nothing for a sparse input, which is read from its CSR
    arrays) and for every layer's output, in the order layer_views lays
    them out."""
    size = rows * layout[0, L_IN] if dense_input else 0
    for i in range(layout.shape[0]):
        size += rows * layout[i, L_OUT]
    return size


@jit(inline="always")
def fused_output(layout, loss):
    """True when the last layer and the loss combine into the stable
    logits form: Sigmoid + bce, Softmax + cross-entropy or Exp + poisson."""
    last = layout[layout.shape[0] - 1, L_KIND]
    return ((loss == BCE and last == SIGMOID) or (loss == CROSS_ENTROPY and last == SOFTMAX)
            or (loss == POISSON and last == EXP))


@jit(inline="always")
def backward_start(layout, loss):
    """Index of the first layer the backward pass runs through: the fused
    output layer is skipped, its gradient being computed with the loss."""
    L = layout.shape[0]
    return L - 2 if fused_output(layout, loss) else L - 1


@jit
def layer_views(params, grads, layout, acts, grad_even, grad_odd, rows, start, dense_input):
    """2-D views for a batch of `rows` samples, built once per engine call so
    the hot loop never slices or reshapes: xs[i] is layer i's input and
    xs[i + 1] its output (all in acts; xs[0] is (rows, 0) for a sparse
    input); ws/gws and bs/gbs the weights, bias and their gradients (empty
    for parameter-free layers); douts[i]/dxs[i] the gradient with respect to
    layer i's output/input in the backward pass, alternating between the
    buffers grad_even (the output gradients of the layers an even number of
    steps below `start`) and grad_odd (empty when grad_even is empty, for
    inference; dxs[0] always, the first layer being Linear, whose dX is never
    needed)."""
    L = layout.shape[0]
    empty2 = params[0:0].reshape((0, 0))
    gempty2 = grads[0:0].reshape((0, 0))
    d_in0 = layout[0, L_IN] if dense_input else 0
    xs = [acts[0:rows * d_in0].reshape((rows, d_in0))]
    ws = [empty2]
    gws = [gempty2]
    bs = [params[0:0]]
    gbs = [grads[0:0]]
    douts = [empty2]
    dxs = [empty2]
    ws.pop()
    gws.pop()
    bs.pop()
    gbs.pop()
    douts.pop()
    dxs.pop()
    off = rows * d_in0
    for i in range(L):
        d_in = layout[i, L_IN]
        d_out = layout[i, L_OUT]
        xs.append(acts[off:off + rows * d_out].reshape((rows, d_out)))
        off += rows * d_out
        wo = layout[i, L_W]
        bo = layout[i, L_B]
        if layout[i, L_KIND] == LINEAR:
            ws.append(params[wo:wo + d_in * d_out].reshape((d_in, d_out)))
            gws.append(grads[wo:wo + d_in * d_out].reshape((d_in, d_out)))
        else:
            ws.append(empty2)
            gws.append(gempty2)
        if bo >= 0:
            bs.append(params[bo:bo + d_out])
            gbs.append(grads[bo:bo + d_out])
        else:
            bs.append(params[0:0])
            gbs.append(grads[0:0])
        if grad_even.shape[0] == 0:  # inference: no backward buffers
            douts.append(empty2)
            dxs.append(empty2)
            continue
        first = (start - i) % 2 == 0 or i > start
        a = grad_even if first else grad_odd
        b = grad_odd if first else grad_even
        douts.append(a[0:rows * d_out].reshape((rows, d_out)))
        if i == 0:
            dxs.append(empty2)
        else:
            dxs.append(b[0:rows * d_in].reshape((rows, d_in)))
    return xs, ws, gws, bs, gbs, douts, dxs


@jit
def forward_views(layout, xs, ws, bs, first):
    """Forward pass from layer `first` of the batch whose input is already in
    xs[first]; every layer's output is kept in xs for the backward pass.
    first is 1 after the caller computed the first layer from a sparse input
    (sparse_linear_forward), else 0. (The sparse arrays are not passed here:
    four more array arguments per call cost the XOR-sized steps 8%.)"""
    for i in range(first, layout.shape[0]):
        kind = layout[i, L_KIND]
        if kind == LINEAR:
            linear_forward(xs[i], ws[i], bs[i], layout[i, L_B] >= 0, xs[i + 1])
        else:
            activation_forward(kind, xs[i], xs[i + 1])


@jit(inline="always")
def add_l2(w, gw, c):
    """w, gw (d_in, d_out) a Linear layer's weights and their gradient: add
    c * w to gw; returns the layer's L2 term 0.5 * c * ||w||^2 (float64)."""
    sq = 0.0
    d_in, d_out = w.shape
    for i in range(d_in):
        for j in range(d_out):
            wij = w[i, j]
            gw[i, j] += c * wij
            sq += float(wij) * float(wij)
    return 0.5 * c * sq


@jit(inline="always")
def _weight_sum(wb):
    """The sum of a batch's sample weights wb (rows,) float64: what a weighted
    batch's gradients and penalty are divided by (an unweighted one divides
    by its rows)."""
    s = 0.0
    for r in range(wb.shape[0]):
        s += wb[r]
    return s


@jit
def sparse_input_backward(layout, starts, ends, indices, data, dout, w, gw, gb, alpha, wb):
    """The first layer's gradient for a sparse batch (see sparse_linear_backward),
    after backward_views stopped above it: gw, gb from dout (rows, d_out),
    plus the layer's L2 penalty alpha / total * W, total being the batch's
    weight sum, or its rows when wb is None (unweighted). Returns the
    penalty's share of the loss (0.0 without one)."""
    sparse_linear_backward(starts, ends, indices, data, dout, layout[0, L_B] >= 0, gw, gb)
    if alpha == 0.0:
        return 0.0
    total = float(dout.shape[0])
    if wb is not None:
        total = _weight_sum(wb)
    return add_l2(w, gw, alpha / total)


@jit
def output_gradient(loss, fused, z, p, yb, wb, clip_epsilon, per_sample, dcur):
    """The loss of a batch's outputs p (rows, k) against yb (rows, k), and its
    gradient written into dcur: with respect to p, or when fused (the output
    layer and the loss in their logits form, see fused_output) with respect
    to the logits z (rows, k). wb (rows,) the samples' weights or None; see
    backward_views for per_sample and the weighted formulas. Returns (loss,
    what the batch's gradients and penalty are divided by: its rows, or its
    weight sum), both float64. The start of every backward pass, of both
    engines."""
    rows, k = p.shape
    # `wb is None` is tested where it is used, on the argument itself: numba
    # then drops the weighted code from the unweighted engine when compiling it.
    total = float(rows)  # what the gradients and the penalty are divided by
    value = 0.0
    # Elementwise losses average over the k outputs unless per_sample says to
    # sum them, in the gradient (and then in the reported loss too, unless
    # SUM_GRADIENT_OVER_OUTPUTS).
    sum_gradient = per_sample != PER_ELEMENT and loss != CROSS_ENTROPY
    sum_value = per_sample == SUM_OVER_OUTPUTS and loss != CROSS_ENTROPY
    if wb is not None:
        total = _weight_sum(wb)
        per = total if (sum_value or loss == CROSS_ENTROPY) else total * k
        value = loss_weighted_value(loss, fused, z, p, yb, clip_epsilon, wb) / per
    if wb is None:
        value = loss_value(loss, fused, z, p, yb, clip_epsilon)
    loss_gradient(loss, fused, p, yb, clip_epsilon, dcur)
    if wb is not None:
        # The unweighted gradient is an average over the rows (and over the k
        # outputs unless summed): turn 1 / rows into w_i / S.
        c = rows / total
        if sum_gradient:
            c *= k
        scale_rows(dcur, wb, c)
    elif sum_gradient and k > 1:
        if sum_value:
            value *= k
        for r in range(rows):
            for j in range(k):
                dcur[r, j] *= k
    return value, total


@jit
def backward_views(params, grads, layout, loss, xs, ws, gws, gbs, douts, dxs, yb, wb, clip_epsilon, alpha,
                   per_sample, start, stop, bs, update, lr):
    """Loss of the forward pass held in xs against yb (rows, k), and its
    gradient in grads (through the views gws/gbs). alpha is the L2 penalty,
    scikit-learn style: alpha / 2 * ||W||^2 / rows is added to the loss.
    per_sample (PER_ELEMENT, SUM_OVER_OUTPUTS or SUM_GRADIENT_OVER_OUTPUTS):
    whether mse, half_mse, bce and poisson average over all elements, or sum
    over the k outputs and average over samples (scikit-learn's gradient), in
    the gradient and the returned loss or in the gradient only (the loss that
    scikit-learn's MLPRegressor reports). Returns the loss (float64).

    wb (rows,) float64 holds the samples' weights, or is None for an
    unweighted batch. Weighted, scikit-learn's formulas: the loss is the
    weighted average over the batch, each sample's output gradient is scaled
    by its weight, and the gradients and the penalty are divided by the
    batch's weight sum S instead of its rows (alpha / 2 * ||W||^2 / S).

    The backward pass runs from layer `start` down to layer `stop`: 0, or 1
    for a sparse input, whose first layer sparse_input_backward does.

    update: each Linear layer takes its plain SGD step with learning rate lr
    as soon as its gradient is known (linear_backward_sgd: the weights bs and
    ws are updated, the gradients are scratch), instead of writing its
    gradient for the optimizer; only without the L2 penalty (see
    sgd_in_backward)."""
    L = layout.shape[0]
    value, total = output_gradient(loss, start == L - 2, xs[L - 1], xs[L], yb, wb, clip_epsilon, per_sample,
                                   douts[start])
    for i in range(start, stop - 1, -1):
        kind = layout[i, L_KIND]
        if kind == LINEAR:
            linear_backward_sgd(xs[i], ws[i], bs[i], douts[i], layout[i, L_B] >= 0, gws[i], gbs[i], i > 0, dxs[i],
                                update, lr)
            if alpha != 0.0:
                value += add_l2(ws[i], gws[i], alpha / total)
        elif i > 0:
            activation_backward(kind, xs[i + 1], douts[i], dxs[i])
    return value


@jit(inline="always")
def gather(X, Y, order, start, xb, yb):
    """Copy samples order[start:start + rows] of X and Y into xb, yb."""
    rows, d = xb.shape
    k = yb.shape[1]
    for r in range(rows):
        src = order[start + r]
        for j in range(d):
            xb[r, j] = X[src, j]
        for j in range(k):
            yb[r, j] = Y[src, j]


@jit(inline="always")
def _gather_targets(Y, order, start, yb):
    """Copy the rows order[start:start + rows] of Y into yb (rows, k)."""
    rows, k = yb.shape
    for r in range(rows):
        src = order[start + r]
        for j in range(k):
            yb[r, j] = Y[src, j]


@jit(inline="always")
def _sparse_rows(indptr, order, start, starts, ends):
    """The entry ranges of CSR rows order[start:start + len(starts)]."""
    for r in range(starts.shape[0]):
        src = order[start + r]
        starts[r] = indptr[src]
        ends[r] = indptr[src + 1]


def gather_weights(W, order, start, wb):
    """Copy the weights of samples order[start:start + len(wb)] into wb; does
    nothing when W is None (an unweighted run; typed by numba, see
    weight_buffer)."""
    if W is not None:
        for r in range(wb.shape[0]):
            wb[r] = W[order[start + r]]


@overload(gather_weights, jit_options=dict(nogil=True, error_model="numpy"))
def _gather_weights_typed(W, order, start, wb):
    if isinstance(W, types.NoneType):
        return lambda W, order, start, wb: None

    def copy(W, order, start, wb):
        for r in range(wb.shape[0]):
            wb[r] = W[order[start + r]]
    return copy


def weight_buffer(W, rows):
    """A batch's sample-weight buffer (rows,) float64 for weights W, or None
    when W is None (an unweighted run). Typed by numba from W's type, so the
    unweighted engine holds no weight code at all."""
    return None if W is None else np.empty(rows, dtype=np.float64)


def head(buf, rows):
    """buf[0:rows], or None when buf is None (see weight_buffer)."""
    return None if buf is None else buf[0:rows]


@overload(weight_buffer, jit_options=dict(nogil=True, error_model="numpy"))
def _weight_buffer_typed(W, rows):
    if isinstance(W, types.NoneType):
        return lambda W, rows: None
    return lambda W, rows: np.empty(rows, dtype=np.float64)


@overload(head, jit_options=dict(nogil=True, error_model="numpy"))
def _head_typed(buf, rows):
    if isinstance(buf, types.NoneType):
        return lambda buf, rows: None
    return lambda buf, rows: buf[0:rows]


@jit
def predict_into(params, layout, X, indptr, indices, data, out, block):
    """X (n, d_in) -> out (n, d_out): inference in blocks of `block` rows. A
    sparse X comes as CSR arrays indptr (n + 1,), indices, data, with X None;
    a dense one with the three CSR arguments None. n is out.shape[0]."""
    n = out.shape[0]
    L = layout.shape[0]
    rows = min(block, n)
    acts = np.empty(activation_size(layout, rows, indptr is None), dtype=params.dtype)
    none = params[0:0]
    xs, ws, _, bs, _, _, _ = layer_views(params, params, layout, acts, none, none, rows, L - 1, indptr is None)
    if indptr is not None:
        order = np.arange(n)
        sbuf = np.empty(rows, dtype=np.int64)
        ebuf = np.empty(rows, dtype=np.int64)
    for start in range(0, n, block):
        if n - start < rows:
            rows = n - start
            xs, ws, _, bs, _, _, _ = layer_views(params, params, layout, acts, none, none, rows, L - 1,
                                                 indptr is None)
        if indptr is not None:
            starts, ends = sbuf[0:rows], ebuf[0:rows]
            _sparse_rows(indptr, order, start, starts, ends)
            sparse_linear_forward(starts, ends, indices, data, ws[0], bs[0], layout[0, L_B] >= 0, xs[1])
            forward_views(layout, xs, ws, bs, 1)
        if X is not None:
            x0 = xs[0]
            for r in range(rows):
                for j in range(x0.shape[1]):
                    x0[r, j] = X[start + r, j]
            forward_views(layout, xs, ws, bs, 0)
        p = xs[L]
        for r in range(rows):
            for j in range(p.shape[1]):
                out[start + r, j] = p[r, j]


@jit
def _loss_and_gradient(params, grads, layout, loss, X, indptr, indices, data, Y, W, clip_epsilon, alpha, per_sample):
    """Full-batch loss (float64) and its gradient in grads, for X (n, d_in)
    or the CSR arrays indptr (n + 1,), indices, data of a sparse X (X then
    None; the three are None for a dense X), Y (n, k) and sample weights W
    (n,) float64 (None: unweighted; see backward_views). Used by L-BFGS and
    by gradient checks of the training path."""
    numba.literally(loss)
    n = Y.shape[0]
    acts = np.empty(activation_size(layout, n, indptr is None), dtype=params.dtype)
    width = _max_width(layout)
    grad_even = np.empty(n * width, dtype=params.dtype)
    grad_odd = np.empty(n * width, dtype=params.dtype)
    start = backward_start(layout, loss)
    xs, ws, gws, bs, gbs, douts, dxs = layer_views(params, grads, layout, acts, grad_even, grad_odd, n, start,
                                                   indptr is None)
    if indptr is not None:
        starts = indptr[0:n].copy()
        ends = indptr[1:n + 1].copy()
        sparse_linear_forward(starts, ends, indices, data, ws[0], bs[0], layout[0, L_B] >= 0, xs[1])
        forward_views(layout, xs, ws, bs, 1)
        value = backward_views(params, grads, layout, loss, xs, ws, gws, gbs, douts, dxs, Y, W, clip_epsilon, alpha,
                               per_sample, start, 1, bs, False, 0.0)
        value += sparse_input_backward(layout, starts, ends, indices, data, douts[0], ws[0], gws[0], gbs[0],
                                       alpha, W)
    if X is not None:
        x0 = xs[0]
        for r in range(n):
            for j in range(X.shape[1]):
                x0[r, j] = X[r, j]
        forward_views(layout, xs, ws, bs, 0)
        value = backward_views(params, grads, layout, loss, xs, ws, gws, gbs, douts, dxs, Y, W, clip_epsilon, alpha,
                               per_sample, start, 0, bs, False, 0.0)
    return value


@jit
def shuffle_order(u, order):
    """u (n,) uniform [0, 1) draws -> order (n,): a Fisher-Yates permutation of
    0..n-1. Drawing u in numpy from the Trainer's seed keeps the batch order
    reproducible and independent of how epochs are split into chunks."""
    n = order.shape[0]
    for i in range(n):
        order[i] = i
    for i in range(n - 1, 0, -1):
        j = int(u[i] * (i + 1))
        if j > i:  # u just below 1.0 rounds up
            j = i
        t = order[i]
        order[i] = order[j]
        order[j] = t


@jit(inline="always")
def _all_finite(a):
    for i in range(a.shape[0]):
        if not np.isfinite(a[i]):
            return False
    return True


@jit(inline="always")
def sgd_in_backward(settings, dense):
    """Whether a run's optimizer step is taken inside the backward pass, each
    Linear layer updated as its gradient is known (linear_backward_sgd)
    instead of by optimizer_step after it: plain SGD (no momentum, no Adam)
    without the L2 penalty, on a dense input (a sparse first layer writes its
    gradient for optimizer_step)."""
    return dense and settings.optimizer == OPT_SGD and settings.momentum == 0.0 and settings.alpha == 0.0


@jit(inline="always")
def optimizer_step(params, grads, first_moment, second_moment, adam_step, settings):
    """One update of params (P,) from grads (P,) by the optimizer of settings
    (an EngineSettings); first_moment, second_moment (P,) and adam_step (1,)
    its state (see train_epochs)."""
    if settings.optimizer == OPT_ADAM:
        adam_step[0] += 1
        adam_update(params, grads, first_moment, second_moment, adam_step[0], settings.lr, settings.beta_1,
                    settings.beta_2, settings.adam_epsilon)
    elif settings.momentum != 0.0:
        momentum_update(params, grads, first_moment, settings.lr, settings.momentum, settings.nesterov)
    else:
        sgd_update(params, grads, settings.lr)


@jit(inline="always")
def engine_batch(settings, n):
    """The rows of a full batch for n samples: settings.batch clipped to [1, n]."""
    return min(max(settings.batch, 1), n)


@jit(inline="always")
def last_batch_rows(n, batch):
    """The rows of an epoch's last batch of n samples: batch when n is a
    multiple of it, else the remainder."""
    return n - (n - 1) // batch * batch


def sample_order(order_in, n):
    """The engine's sample order, int64: a copy of order_in ((n,), or one
    order per epoch, (epochs * n,)), or 0..n-1 when order_in is None."""
    return np.arange(n) if order_in is None else order_in.copy()


@overload(sample_order, jit_options=dict(nogil=True, error_model="numpy"))
def _sample_order_typed(order_in, n):
    if isinstance(order_in, types.NoneType):
        return lambda order_in, n: np.arange(n)

    def copy(order_in, n):
        order = np.empty(order_in.shape[0], dtype=np.int64)
        for q in range(order_in.shape[0]):
            order[q] = order_in[q]
        return order
    return copy


# ---------------------------------------------------------------------------
# Watching a run: validation, metrics and early stopping inside the engine
#
# A run with validation data or early stopping is "watched": after every
# epoch the engine scores the validation rows, records the losses and
# metrics, tracks the best epoch (Keras's rule: better than the best by more
# than min_delta; NaN never is) and stops when patience runs out, all inside
# the compiled call, so a watched run steps out to Python no more often than
# an unwatched one. The training metric is Keras's: the metric of each batch's
# outputs as the batch was trained (before its update), over the epoch.
#
# `watch` is None for an unwatched run, else a Watch record (built by
# fastmlp.Trainer._watch_state). watch_batch and watch_epoch are compiled on their
# own, so numba drops their bodies for watch None (the unwatched engine
# compiles none of this), and inlined by LLVM (`forceinline`), so a watched
# batch pays no call. They and task_score compile without fast-math flags, so
# that a metric is the exact quotient fastmlp.tasks.score computes (`arcp`
# made 39 / 40 into 39 * (1 / 40) = 0.9750000000000001), and the validation
# loss is _loss_forward's, so it equals kernels.loss_forward's bit for bit.
# ---------------------------------------------------------------------------

_WATCH_OPTS = dict(fastmath=False, forceinline=True)


@jit(fastmath=False)
def task_score(task, pred, labels, y, ss_tot):
    """The metric of outputs pred (n, k), float64: accuracy against class
    indices labels (n,) for TASK_BINARY (P(class 1) > 0.5) and
    TASK_MULTICLASS (the first largest output); R^2 against y (n, k) with
    its total sum of squares ss_tot for TASK_REGRESSION (NaN unless ss_tot
    > 0). The numbers of fastmlp.tasks.score."""
    n = pred.shape[0]
    if task == TASK_REGRESSION:
        if not ss_tot > 0:
            return np.nan
        residual = 0.0
        for r in range(n):
            for j in range(pred.shape[1]):
                d = np.float64(pred[r, j]) - y[r, j]
                residual += d * d
        return 1.0 - residual / ss_tot
    correct = 0
    for r in range(n):
        if _predicted_class(task, pred, r) == labels[r]:
            correct += 1
    return correct / n


@jit(inline="always")
def _predicted_class(task, p, r):
    if task == TASK_BINARY:
        return 1 if p[r, 0] > 0.5 else 0
    best = 0
    for j in range(1, p.shape[1]):
        if p[r, j] > p[r, best]:
            best = j
    return best


@jit(**_WATCH_OPTS)
def watch_batch(watch, p, yb):
    """Add the training metric's share of one batch: outputs p (rows, k)
    against its targets yb (rows, k) (correct rows, or the squared error)."""
    if watch is None:
        return
    task, fstate = watch.task, watch.fstate
    if task == TASK_REGRESSION:
        residual = 0.0
        for r in range(p.shape[0]):
            for j in range(p.shape[1]):
                d = np.float64(p[r, j]) - np.float64(yb[r, j])
                residual += d * d
        fstate[W_TRAIN_SUM] += residual
        return
    correct = 0
    for r in range(p.shape[0]):
        if _predicted_class(task, p, r) == _predicted_class(task, yb, r):
            correct += 1
    fstate[W_TRAIN_SUM] += correct


@jit(**_WATCH_OPTS)
def watch_epoch(watch, params, loss, e, train_loss, n):
    """After epoch e (0-based within this call) of a watched run over n
    training rows with mean loss train_loss: score the validation rows,
    record the epoch's validation loss and metric and its training metric,
    update the best epoch, and return True when early stopping's patience has
    run out."""
    if watch is None:
        return False
    numba.literally(loss)
    fstate, istate, task = watch.fstate, watch.istate, watch.task
    epoch = istate[W_EPOCH_BASE] + e         # 0-based within the fit
    value = train_loss
    if watch.out.shape[0] > 0:
        out = watch.out
        predict_into(params, watch.layout, watch.Xv, watch.indptr, watch.indices, watch.data, out, watch.block)
        val_loss = _loss_forward(loss, out, watch.Yv, watch.clip_epsilon) * watch.loss_scale
        val_metric = task_score(task, out, watch.labels, watch.Yv, watch.ss_tot)
        watch.val_losses[epoch] = val_loss
        watch.val_metrics[epoch] = val_metric
        if watch.monitor == MONITOR_VAL_LOSS:
            value = val_loss
        elif watch.monitor == MONITOR_VAL_METRIC:
            value = val_metric
    if watch.train_metrics.shape[0] > 0:
        if task == TASK_REGRESSION:
            ss_tot = watch.train_ss_tot
            watch.train_metrics[epoch] = 1.0 - fstate[W_TRAIN_SUM] / ss_tot if ss_tot > 0 else np.nan
        else:
            watch.train_metrics[epoch] = fstate[W_TRAIN_SUM] / n
    fstate[W_TRAIN_SUM] = 0.0
    v = watch.sign * value
    if not np.isnan(v) and v < fstate[W_BEST] - watch.min_delta:
        fstate[W_BEST] = v
        istate[W_BEST_EPOCH] = epoch + 1
        istate[W_WAITED] = 0
        if watch.restore:
            best_params = watch.best_params
            for q in range(params.shape[0]):
                best_params[q] = params[q]
        return False
    # Keras's count: stop after `patience` epochs without improvement.
    istate[W_WAITED] += 1
    return watch.patience >= 0 and istate[W_WAITED] >= watch.patience


@jit(inline="always")
def run_epochs(step, full, tail, tail_rows, loss, X, indptr, indices, data, Y, W, order, shuffle_u, settings,
               params, grads, first_moment, second_moment, adam_step, epoch_loss, status, watch):
    """The epoch loop both engines share: len(epoch_loss) epochs of minibatch
    descent (see train_epochs for the arguments and what is written).

    step(views, loss, X, indptr, indices, data, Y, W, order, b0, load) is
    the engine's forward and backward pass of the batch of samples
    order[b0:b0 + rows]: it copies them into its buffers when load is
    true, computes the gradient into the buffer behind params' gradients
    (or, when sgd_in_backward, takes the SGD step itself, and the loop
    calls no optimizer_step), and returns the batch's mean loss (penalty
    included), its outputs (rows, k) and its targets (rows, k). watch is
    None, or a watched run's state (see watch_epoch). full and tail are
    its views for the full batches and for the short last one of tail_rows
    rows (the same as full when n is a multiple of the batch). Inlined
    into each engine, so each engine's step is compiled into its loop."""
    n = Y.shape[0]
    P = params.shape[0]
    batch = engine_batch(settings, n)
    n_full = n // batch  # the full batches; the short last one (if any) follows
    stateful = settings.optimizer == OPT_ADAM or settings.momentum != 0.0
    updated_in_step = sgd_in_backward(settings, indptr is None)
    # order holds one order per epoch (epoch e reads order[e * n:(e + 1) * n])
    # or one order (n,) for every epoch, shuffled in place when settings.shuffle.
    per_epoch_order = order.shape[0] > n
    # One unshuffled full batch (XOR-sized data): the batch never changes and
    # nothing else writes the step's input buffers, so it is gathered once.
    static_batch = batch == n and not settings.shuffle and not per_epoch_order
    gathered = False
    saved = np.empty(P, dtype=params.dtype)
    saved_first = np.empty(P, dtype=first_moment.dtype)
    saved_second = np.empty(P, dtype=second_moment.dtype)
    n_epochs = epoch_loss.shape[0]
    status[S_EPOCHS] = 0
    status[S_STOP] = STOP_NONE

    for e in range(n_epochs):
        for q in range(P):
            saved[q] = params[q]
        if stateful:
            for q in range(P):
                saved_first[q] = first_moment[q]
                saved_second[q] = second_moment[q]
        saved_step = adam_step[0]
        if settings.shuffle:
            shuffle_order(shuffle_u[e], order)
        first = e * n if per_epoch_order else 0
        total = 0.0
        for bi in range(n_full):
            value, p, yb = step(full, loss, X, indptr, indices, data, Y, W, order, first + bi * batch,
                                not (static_batch and gathered))
            gathered = True
            total += value * batch
            watch_batch(watch, p, yb)
            if not updated_in_step:
                optimizer_step(params, grads, first_moment, second_moment, adam_step, settings)
        if tail_rows < batch:
            # load is a runtime bool, as in the call above: a literal True
            # would type (and compile) the step a second time.
            value, p, yb = step(tail, loss, X, indptr, indices, data, Y, W, order, first + n_full * batch,
                                tail_rows > 0)
            total += value * tail_rows
            watch_batch(watch, p, yb)
            if not updated_in_step:
                optimizer_step(params, grads, first_moment, second_moment, adam_step, settings)
        mean = total / n
        if not (np.isfinite(mean) and _all_finite(params)):
            for q in range(P):
                params[q] = saved[q]
            if stateful:
                for q in range(P):
                    first_moment[q] = saved_first[q]
                    second_moment[q] = saved_second[q]
            adam_step[0] = saved_step
            epoch_loss[e] = mean
            status[S_EPOCHS] = e
            status[S_STOP] = STOP_DIVERGED
            return
        epoch_loss[e] = mean
        status[S_EPOCHS] = e + 1
        patience_ran_out = watch_epoch(watch, params, loss, e, mean, n)
        if settings.has_target and mean < settings.target_loss:
            status[S_STOP] = STOP_TARGET
            return
        if patience_ran_out:
            status[S_STOP] = STOP_EARLY
            return


@jit(inline="always")
def _generic_step(views, loss, X, indptr, indices, data, Y, W, order, b0, load):
    """The generic engine's step for run_epochs: any stack of layers, read
    from the layout table (views: see _generic_views)."""
    (params, grads, layout, xs, ws, gws, bs, gbs, douts, dxs, yb, wb, starts, ends, clip_epsilon, alpha, per_sample,
     start, update, lr) = views
    if load:
        if indptr is not None:
            _gather_targets(Y, order, b0, yb)
            _sparse_rows(indptr, order, b0, starts, ends)
        if X is not None:
            gather(X, Y, order, b0, xs[0], yb)
        gather_weights(W, order, b0, wb)
    value = 0.0
    if indptr is not None:
        sparse_linear_forward(starts, ends, indices, data, ws[0], bs[0], layout[0, L_B] >= 0, xs[1])
        forward_views(layout, xs, ws, bs, 1)
        value = backward_views(params, grads, layout, loss, xs, ws, gws, gbs, douts, dxs, yb, wb, clip_epsilon,
                               alpha, per_sample, start, 1, bs, False, lr)
        value += sparse_input_backward(layout, starts, ends, indices, data, douts[0], ws[0], gws[0], gbs[0], alpha,
                                       wb)
    if X is not None:
        forward_views(layout, xs, ws, bs, 0)
        value = backward_views(params, grads, layout, loss, xs, ws, gws, gbs, douts, dxs, yb, wb, clip_epsilon,
                               alpha, per_sample, start, 0, bs, update, lr)
    return value, xs[layout.shape[0]], yb


@jit(inline="always")
def _generic_views(params, grads, layout, loss, acts, grad_even, grad_odd, ybuf, wbuf, sbuf, ebuf, rows, k, dense,
                   settings):
    """The generic step's views for batches of `rows` samples and k targets:
    a tuple of the buffers it works in and the settings it reads."""
    start = backward_start(layout, loss)
    xs, ws, gws, bs, gbs, douts, dxs = layer_views(params, grads, layout, acts, grad_even, grad_odd, rows, start,
                                                   dense)
    return (params, grads, layout, xs, ws, gws, bs, gbs, douts, dxs, ybuf[0:rows * k].reshape((rows, k)),
            head(wbuf, rows), sbuf[0:rows], ebuf[0:rows], settings.clip_epsilon, settings.alpha,
            settings.per_sample, start, sgd_in_backward(settings, dense), settings.lr)


# ---------------------------------------------------------------------------
# Entry points called from Python
#
# A loss is compiled into the code that uses it (see loss_value). numba
# passes a literal value only between compiled functions: a Python call with
# a literal argument (numba.literally) goes through the compiler on every
# call. So each function above that takes a loss has one compiled entry per
# loss, a closure over the loss kind (numba caches closures over plain
# integers), and the Python function of the same name calls the entry of its
# loss: a dictionary look-up, and each loss compiles when first used. The
# generic engine is written in its entry: as a function of its own, inlined
# into the entry, numba would copy its IR (1,400 statements) on every compile.
# ---------------------------------------------------------------------------


def _train_epochs_entry(loss):
    @jit
    def train_epochs_for_loss(params, grads, layout, X, indptr, indices, data, Y, W, order_in, shuffle_u, settings,
                              first_moment, second_moment, adam_step, epoch_loss, status, watch):
        """The generic training engine: len(epoch_loss) epochs of minibatch
        gradient descent in compiled code, for any stack of layers.

        params, grads (P,); layout (L, 5); loss (MSE, ..., compiled in as a
        constant: each loss has its own engine); X (n, d_in), or None when the input
        is sparse: the CSR arrays indptr (n + 1,), indices and data (all three
        None for a dense X), whose batches the first layer reads in place; Y (n,
        k); W (n,) float64 sample weights, or None for an unweighted run (see
        backward_views; an epoch's loss is still the mean over samples of the
        batch losses, each batch counting by its rows, as in scikit-learn);
        order_in (n,) int64 the sample order of every unshuffled epoch, or
        (epochs * n,) one order per epoch, epoch e's in order_in[e * n:(e + 1)
        * n] (None: 0..n-1); shuffle_u (epochs, n) uniform draws (ignored unless
        settings.shuffle); settings an EngineSettings; first_moment (P,) the
        momentum velocity or Adam's first moment, second_moment (P,) Adam's
        second moment, adam_step (1,) Adam's step count (all three carried over
        between calls). Writes each epoch's mean loss (penalty included) into
        epoch_loss and (epochs run, stop reason) into status. When an epoch ends
        with a non-finite loss or parameter, the parameters and optimizer state
        of the start of that epoch are restored and the engine stops with
        STOP_DIVERGED. watch: None, or the state of a watched run (validation,
        metrics, early stopping: see watch_epoch), which may stop it with
        STOP_EARLY.

        Each combination of None arguments is its own compiled signature, and
        the code for a sparse input, sample weights or a given order is only in
        the signatures that have them: numba drops a branch on `arg is None` or
        `arg is not None` when it compiles for a None argument (an array
        argument keeps both), so the dense code runs under `X is not None`, the
        sparse code under `indptr is not None`, and a dense, unweighted run
        compiles none of the sparse or weighted code.
        """
        n = Y.shape[0]
        k = Y.shape[1]
        batch = engine_batch(settings, n)
        acts = np.empty(activation_size(layout, batch, indptr is None), dtype=params.dtype)
        width = _max_width(layout)
        grad_even = np.empty(batch * width, dtype=params.dtype)
        grad_odd = np.empty(batch * width, dtype=params.dtype)
        ybuf = np.empty(batch * k, dtype=params.dtype)
        wbuf = weight_buffer(W, batch)
        # A sparse batch: the entry ranges of its rows in the CSR arrays.
        sparse_rows = batch if indptr is not None else 0
        sbuf = np.empty(sparse_rows, dtype=np.int64)
        ebuf = np.empty(sparse_rows, dtype=np.int64)
        tail_rows = last_batch_rows(n, batch)
        full = _generic_views(params, grads, layout, loss, acts, grad_even, grad_odd, ybuf, wbuf, sbuf, ebuf, batch, k,
                              indptr is None, settings)
        tail = _generic_views(params, grads, layout, loss, acts, grad_even, grad_odd, ybuf, wbuf, sbuf, ebuf,
                              tail_rows, k, indptr is None, settings)
        run_epochs(_generic_step, full, tail, tail_rows, loss, X, indptr, indices, data, Y, W, sample_order(order_in, n),
                   shuffle_u, settings, params, grads, first_moment, second_moment, adam_step, epoch_loss, status, watch)
    return train_epochs_for_loss


def _loss_and_gradient_entry(loss):
    @jit
    def loss_and_gradient_for_loss(params, grads, layout, X, indptr, indices, data, Y, W, clip_epsilon, alpha,
                                   per_sample):
        return _loss_and_gradient(params, grads, layout, loss, X, indptr, indices, data, Y, W, clip_epsilon, alpha,
                                  per_sample)
    return loss_and_gradient_for_loss


def _loss_forward_entry(loss):
    @jit
    def loss_forward_for_loss(pred, y, clip_epsilon):
        return _loss_forward(loss, pred, y, clip_epsilon)
    return loss_forward_for_loss


def _loss_backward_entry(loss):
    @jit
    def loss_backward_for_loss(pred, y, clip_epsilon, dpred):
        _loss_backward(loss, pred, y, clip_epsilon, dpred)
    return loss_backward_for_loss


def _loss_weighted_sum_entry(loss):
    @jit
    def loss_weighted_sum_for_loss(fused, z, pred, y, clip_epsilon, w):
        return _loss_weighted_sum(loss, fused, z, pred, y, clip_epsilon, w)
    return loss_weighted_sum_for_loss


ENTRIES = {name: {kind: make(kind) for kind in LOSS_KINDS} for name, make in (
    ("train_epochs", _train_epochs_entry), ("loss_and_gradient", _loss_and_gradient_entry),
    ("loss_forward", _loss_forward_entry), ("loss_backward", _loss_backward_entry),
    ("loss_weighted_sum", _loss_weighted_sum_entry))}
_TRAIN_EPOCHS = ENTRIES["train_epochs"]
_LOSS_AND_GRADIENT = ENTRIES["loss_and_gradient"]
_LOSS_FORWARD = ENTRIES["loss_forward"]
_LOSS_BACKWARD = ENTRIES["loss_backward"]
_LOSS_WEIGHTED_SUM = ENTRIES["loss_weighted_sum"]


def train_epochs(params, grads, layout, loss, X, indptr, indices, data, Y, W, order_in, shuffle_u, settings,
                 first_moment, second_moment, adam_step, epoch_loss, status, watch=None):
    """The fused training engine for the loss `loss` (MSE, ...): see
    _train_epochs_entry for the arguments."""
    _TRAIN_EPOCHS[loss](params, grads, layout, X, indptr, indices, data, Y, W, order_in, shuffle_u, settings,
                        first_moment, second_moment, adam_step, epoch_loss, status, watch)


def loss_and_gradient(params, grads, layout, loss, X, indptr, indices, data, Y, W, clip_epsilon, alpha, per_sample):
    """Full-batch loss and gradient (see _loss_and_gradient)."""
    return _LOSS_AND_GRADIENT[loss](params, grads, layout, X, indptr, indices, data, Y, W, clip_epsilon, alpha,
                                    per_sample)


def loss_forward(loss, pred, y, clip_epsilon):
    """Loss (float64) of model outputs pred (n, k) against y (n, k)."""
    return _LOSS_FORWARD[loss](pred, y, clip_epsilon)


def loss_backward(loss, pred, y, clip_epsilon, dpred):
    """dpred (n, k) = d loss / d pred for outputs pred (n, k)."""
    _LOSS_BACKWARD[loss](pred, y, clip_epsilon, dpred)


def loss_weighted_sum(loss, fused, z, pred, y, clip_epsilon, w):
    """sum_i w[i] * (the loss of sample i summed over its k outputs), float64:
    z (n, k) the logits (used when fused), pred (n, k) the outputs, y (n, k),
    w (n,)."""
    return _LOSS_WEIGHTED_SUM[loss](fused, z, pred, y, clip_epsilon, w)
