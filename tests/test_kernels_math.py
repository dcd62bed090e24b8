"""The vectorisable elementary functions of fastmlp.kernels (vec_exp, vec_log,
vec_log1p, vec_tanh, vec_sigmoid): accuracy within 4 ulp of numpy over each
function's whole float range in both dtypes, numpy's results on signed zeros,
subnormals, infinities and NaN, and the vectorised code they compile to."""

import platform
import re

import numba
import numpy as np
import pytest

from fastmlp import kernels as K

MAX_ULP = 4
DTYPES = [np.float32, np.float64]


def stable_sigmoid(x):
    """numpy's sigmoid without overflow, in x's dtype."""
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)


NUMPY = {"exp": np.exp, "log": np.log, "log1p": np.log1p, "tanh": np.tanh, "sigmoid": stable_sigmoid}


def numpy_result(name, x):
    """numpy's value of the function at x: computed in float64 and rounded
    for float32 inputs, in float64 for float64 inputs."""
    with np.errstate(all="ignore"):
        if x.dtype == np.float32:
            return NUMPY[name](x.astype(np.float64)).astype(np.float32)
        return NUMPY[name](x)


def compiled(name, x):
    out = np.empty_like(x)
    K.elementwise(K.ELEMENTWISE_FUNCTIONS.index(name), x, out)
    return out


def ulp_distance(a, b):
    """Number of representable floats between a and b (0 when both are NaN,
    a huge number when only one is)."""
    ints = np.int32 if a.dtype == np.float32 else np.int64
    sign = ints(np.iinfo(ints).min)

    def ordered(v):
        bits = v.view(ints).astype(np.int64)
        return np.where(bits < 0, -(bits & ~np.int64(sign)), bits)

    dist = np.abs(ordered(a) - ordered(b))
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    dist[nan_a & nan_b] = 0
    dist[nan_a != nan_b] = np.iinfo(np.int64).max
    return dist


def sweep(dtype):
    """Every 2^12-th float32 bit pattern (about a million values, both signs,
    zero to NaN), or as many float64 patterns evenly spaced; plus a dense
    grid over [-800, 800] where exp, tanh and sigmoid change, and a grid near
    0 and near -1 where log1p is delicate."""
    if dtype == np.float32:
        bits = np.arange(0, 2**32, 2**12, dtype=np.uint64).astype(np.uint32).view(np.int32)
    else:
        bits = (np.arange(0, 2**20, dtype=np.uint64) * np.uint64(2**44) + np.uint64(12345)).view(np.int64)
    x = bits.view(dtype)
    dense = np.linspace(-800, 800, 400_001)
    near = np.concatenate([np.geomspace(1e-30, 1.0, 20_001), -np.geomspace(1e-30, 1.0, 20_001)])
    return np.concatenate([x, dense.astype(dtype), near.astype(dtype), (near - 1.0).astype(dtype)])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", K.ELEMENTWISE_FUNCTIONS)
def test_within_4_ulp_of_numpy_over_the_whole_range(name, dtype):
    x = sweep(dtype)
    got = compiled(name, x)
    want = numpy_result(name, x)
    dist = ulp_distance(got, want)
    worst = int(dist.argmax())
    assert dist[worst] <= MAX_ULP, (f"{name}({x[worst]!r}) = {got[worst]!r}, numpy {want[worst]!r}: "
                                    f"{dist[worst]} ulp; {(dist > MAX_ULP).sum()} inputs over {MAX_ULP}")
    assert got.dtype == dtype


def _edges(dtype):
    info = np.finfo(dtype)
    sub = info.smallest_subnormal
    return np.array([0.0, -0.0, sub, -sub, info.tiny, -info.tiny, info.tiny / 3, info.eps, 1.0, -1.0,
                     info.max, -info.max, np.inf, -np.inf, np.nan,
                     # exp's overflow and underflow edges
                     np.log(info.max), np.nextafter(np.log(info.max), 0.0), 709.79, 88.73, -103.98, -745.2,
                     np.log(info.tiny), np.log(sub)], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", K.ELEMENTWISE_FUNCTIONS)
def test_edges_match_numpy(name, dtype):
    x = _edges(dtype)
    got = compiled(name, x)
    want = numpy_result(name, x)
    dist = ulp_distance(got, want)
    assert (dist <= MAX_ULP).all(), list(zip(x[dist > MAX_ULP], got[dist > MAX_ULP], want[dist > MAX_ULP]))
    # Signed zeros come out with numpy's sign.
    zero = want == 0
    assert (np.signbit(got[zero]) == np.signbit(want[zero])).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_non_finite_inputs_behave_as_numpy(dtype):
    inf, nan = dtype(np.inf), dtype(np.nan)
    x = np.array([inf, -inf, nan], dtype=dtype)
    expected = {
        "exp": [np.inf, 0.0, np.nan],
        "log": [np.inf, np.nan, np.nan],
        "log1p": [np.inf, np.nan, np.nan],
        "tanh": [1.0, -1.0, np.nan],
        "sigmoid": [1.0, 0.0, np.nan],
    }
    for name, want in expected.items():
        np.testing.assert_array_equal(compiled(name, x), np.array(want, dtype=dtype), err_msg=name)
    # The poles: log(0) = log1p(-1) = -inf, and below them NaN.
    np.testing.assert_array_equal(compiled("log", np.array([0.0, -0.0, -1.0], dtype)), [-inf, -inf, nan])
    np.testing.assert_array_equal(compiled("log1p", np.array([-1.0, -2.0], dtype)), [-inf, nan])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_no_finite_input_gives_nan(dtype):
    info = np.finfo(dtype)
    wide = np.linspace(-0.5, 0.5, 100_001) * float(info.max)
    x = np.concatenate([wide.astype(dtype), sweep(dtype)])
    x = x[np.isfinite(x)]
    for name in ("exp", "tanh", "sigmoid"):
        assert not np.isnan(compiled(name, x)).any(), name
    positive = np.abs(x)
    for name in ("log", "log1p"):
        assert not np.isnan(compiled(name, positive)).any(), name


def test_python_fallbacks_are_the_math_functions():
    assert K.vec_exp(1.0) == pytest.approx(np.e)
    assert K.vec_tanh(0.5) == pytest.approx(np.tanh(0.5))
    assert K.vec_sigmoid(-800.0) == 0.0 and K.vec_sigmoid(800.0) == 1.0
    assert K.vec_log(0.0) == -np.inf and np.isnan(K.vec_log(-1.0))
    assert K.vec_log1p(-1.0) == -np.inf and np.isnan(K.vec_log1p(-2.0))


def test_layers_give_numpy_values():
    """The activation, softmax and loss kernels that call them."""
    rng = np.random.default_rng(0)
    for dtype in DTYPES:
        x = (rng.standard_normal((64, 7)) * 5).astype(dtype)
        out = np.empty_like(x)
        K.tanh_forward(x, out)
        assert (ulp_distance(out, numpy_result("tanh", x)) <= MAX_ULP).all()
        K.sigmoid_forward(x, out)
        assert (ulp_distance(out, numpy_result("sigmoid", x)) <= MAX_ULP).all()
        K.softmax_forward(x, out)
        e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
        np.testing.assert_allclose(out, e / e.sum(axis=1, keepdims=True), rtol=16 * np.finfo(dtype).eps)


# ---------------------------------------------------------------------------
# Vectorisation
# ---------------------------------------------------------------------------

PACKED = {np.float32: re.compile(r"^\s*v(?:add|sub|mul|div|fn?madd\w*|fn?msub\w*|max|min|blendm?|cmp\w*)ps\s.*%[xyz]mm",
                                 re.M),
          np.float64: re.compile(r"^\s*v(?:add|sub|mul|div|fn?madd\w*|fn?msub\w*|max|min|blendm?|cmp\w*)pd\s.*%[xyz]mm",
                                 re.M)}


def _fresh_asm(kernel, *args):
    """Assembly of kernel compiled anew with its own options (code loaded from
    numba's cache cannot be inspected)."""
    options = dict(kernel.targetoptions)
    for key in ("cache", "nopython"):
        options.pop(key, None)
    fresh = numba.njit(**options)(kernel.py_func)
    fresh(*args)
    return fresh.inspect_asm(fresh.signatures[0])


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="the packed-instruction patterns are x86-64 assembly (AVX/AVX-512 mnemonics)")
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("kernel", ["tanh_forward", "sigmoid_forward", "softmax_forward", "relu_forward",
                                    "elementwise"])
def test_kernels_vectorise(kernel, dtype):
    x = np.linspace(-3, 3, 64, dtype=dtype).reshape(8, 8)
    out = np.empty_like(x)
    fn = getattr(K, kernel)
    args = (K.FN_TANH, x.ravel(), out.ravel()) if kernel == "elementwise" else (x, out)
    asm = _fresh_asm(fn, *args)
    packed = PACKED[dtype].findall(asm)
    assert len(packed) >= 2, f"{kernel} ({np.dtype(dtype).name}) has {len(packed)} packed instructions"
    # No call into libm is left in the loop.
    assert not re.search(r"call\w*\s+\S*(tanh|exp|log)", asm)
