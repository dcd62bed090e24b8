"""The two training engines (fastmlp.engines): the specialized engine trains
exactly like the generic one and like the numpy reference, the choice of
engine follows its rule and is recorded, generated engines are written once
and found again, and a bad engine option is refused."""

import hashlib
import os

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, note, settings
from hypothesis import strategies as st

import fastmlp as fm
from fastmlp import engines
from fastmlp import kernels as K

# A few stacks of layers, each compiled once for the whole file: every layer
# kind, a fused and a plain output, a Linear layer without bias.
STACKS = {
    "relu-sigmoid-bce": (lambda w: [fm.Linear(2, w), fm.ReLU(), fm.Linear(w, 1), fm.Sigmoid()], "bce"),
    "tanh-identity-mse": (lambda w: [fm.Linear(2, w), fm.Tanh(), fm.Linear(w, w, bias=False), fm.Identity(),
                                     fm.Linear(w, 2)], "mse"),
    "sigmoid-softmax-ce": (lambda w: [fm.Linear(2, w), fm.Sigmoid(), fm.Linear(w, 3), fm.Softmax()],
                           "cross_entropy"),
}


def _data(stack, n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    loss = STACKS[stack][1]
    if loss == "bce":
        y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    elif loss == "cross_entropy":
        y = np.eye(3)[rng.integers(0, 3, n)]
    else:
        y = np.column_stack([np.sin(X[:, 0]), X[:, 1] ** 2])
    return X, y


def _fit(stack, engine, width=8, n=40, dtype=np.float64, batch=7, epochs=4, sample_weight=None, **kw):
    layers, loss = STACKS[stack]
    model = fm.Model(layers(width), dtype=dtype, seed=3)
    X, y = _data(stack, n)
    trainer = fm.Trainer(model, loss=loss, lr=0.05, batch_size=batch, epochs=epochs, seed=1, engine=engine, **kw)
    history = trainer.fit(X, y, sample_weight=sample_weight)
    return model, history


@pytest.mark.parametrize("stack", list(STACKS))
def test_specialized_engine_matches_the_numpy_reference(stack):
    """float64: the specialized engine's losses and weights are the reference's
    (sizes and batches drawn; the stack fixed, so it compiles once)."""
    layers, loss = STACKS[stack]

    @settings(max_examples=8, deadline=None)
    @given(width=st.integers(1, 24), n=st.integers(2, 20), data=st.data())
    def compare(width, n, data):
        batch = data.draw(st.integers(1, n), label="batch")
        epochs = data.draw(st.integers(1, 3), label="epochs")
        seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
        model = fm.Model(layers(width), dtype=np.float64, seed=5)
        X, y = _data(stack, n, seed=seed % 100)
        Y = model.check_target(y, n, loss=loss)
        reference = fm.reference.Net.from_model(model)
        history = fm.Trainer(model, loss=loss, lr=0.03, batch_size=batch, epochs=epochs, seed=seed,
                             engine="specialized").fit(X, y)
        note(f"width {width}, n {n}, batch {batch}, epochs {epochs}")
        assert history.engine == "specialized"
        orders = fm.trainer.shuffle_orders(seed, epochs, n) if batch < n else None
        ref_loss = reference.train(X, Y, loss, 0.03, batch, epochs, orders=orders)
        np.testing.assert_allclose(history.loss, ref_loss, rtol=1e-10, atol=1e-14)
        ref_params = reference.flat()
        np.testing.assert_allclose(model.params, ref_params, rtol=1e-10,
                                   atol=1e-10 * max(1.0, np.abs(ref_params).max()))

    compare()


# Every stack in float64, one in float32 too: each (stack, dtype) compiles once.
BIT_CASES = [(stack, np.float64) for stack in STACKS] + [("relu-sigmoid-bce", np.float32)]


@pytest.mark.parametrize("stack,dtype", BIT_CASES, ids=[f"{s}-{np.dtype(d).name}" for s, d in BIT_CASES])
def test_both_engines_give_bit_identical_weights(stack, dtype):
    """Same kernels, same loop: the same bits, for every optimizer, with and
    without sample weights, with the L2 penalty, a short last batch and one
    unshuffled full batch."""
    weights = np.linspace(0.5, 2.0, 40)
    for optimizer in ("sgd", "momentum", "nesterov", "adam"):
        kw = dict(optimizer="sgd", momentum=0.9, nesterov=optimizer == "nesterov") \
            if optimizer in ("momentum", "nesterov") else dict(optimizer=optimizer)
        for batch, sample_weight in ((7, None), (7, weights), (40, None)):
            digests = []
            for engine in ("generic", "specialized"):
                model, history = _fit(stack, engine, dtype=dtype, batch=batch, sample_weight=sample_weight,
                                      alpha=1e-3, **kw)
                assert history.engine == engine
                digests.append((hashlib.sha256(model.params.tobytes()).hexdigest(), history.loss.tobytes()))
            assert digests[0] == digests[1], (optimizer, batch, sample_weight is not None)


def test_divergence_keeps_the_last_finite_weights_in_the_specialized_engine():
    layers, loss = STACKS["tanh-identity-mse"]
    X, y = _data("tanh-identity-mse", 40)
    kept = []
    for engine in ("generic", "specialized"):
        model = fm.Model(layers(8), dtype=np.float64, seed=3)
        trainer = fm.Trainer(model, loss=loss, lr=1e6, batch_size=7, epochs=50, seed=1, engine=engine)
        with pytest.raises(fm.TrainingDiverged):
            trainer.fit(X, y)
        assert np.all(np.isfinite(model.params))
        kept.append(model.params.copy())
    np.testing.assert_array_equal(kept[0], kept[1])


def test_the_auto_rule():
    layout = fm.MLP([2, 8, 1], output="sigmoid").layout
    wide = fm.MLP([2, 16, 1], output="sigmoid").layout
    long_run = engines.AUTO_MIN_STEPS
    assert engines.choose("auto", layout, False, long_run) == "specialized"
    assert engines.choose("auto", layout, False, long_run - 1) == "generic"
    assert engines.choose("auto", wide, False, long_run) == "generic"
    assert engines.choose("auto", layout, True, long_run) == "generic"  # sparse
    assert engines.choose("generic", layout, False, long_run) == "generic"
    assert engines.choose("specialized", wide, False, 1) == "specialized"


def test_a_short_run_uses_the_generic_engine_and_says_so():
    model, history = _fit("relu-sigmoid-bce", "auto")
    assert history.engine == "generic"
    assert history.as_dict()["engine"] == "generic"


def test_the_engine_is_recorded_in_the_model_file(tmp_path):
    layers, loss = STACKS["relu-sigmoid-bce"]
    model = fm.Model(layers(8), dtype=np.float64, seed=3)
    X, y = _data("relu-sigmoid-bce", 40)
    trainer = fm.Trainer(model, loss=loss, lr=0.05, batch_size=7, epochs=2, seed=1, engine="specialized")
    trainer.fit(X, y)
    path = str(tmp_path / "m.npz")
    model.save(path, trainer=trainer)
    read = fm.modelfile.read(path)
    assert read.history.engine == "specialized"
    assert read.trainer["engine"] == "specialized"


def test_specialized_engine_refuses_a_sparse_input():
    layers, loss = STACKS["relu-sigmoid-bce"]
    X, y = _data("relu-sigmoid-bce", 40)
    trainer = fm.Trainer(fm.Model(layers(8), seed=3), loss=loss, batch_size=7, epochs=1, engine="specialized")
    with pytest.raises(ValueError, match="engine='specialized' runs dense inputs only"):
        trainer.fit(sp.csr_matrix(X), y)


def test_a_generated_engine_is_written_once_and_found_again(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMLP_ENGINE_DIR", str(tmp_path))
    key = engines.architecture(fm.MLP([2, 8, 1], output="sigmoid").layout, K.MSE)
    source = engines.generate(key)
    assert "K.relu_forward(x1, x2)" in source and "K.sigmoid_forward(x3, x4)" in source
    path = engines._write("fastmlp_engine_test", source)
    stamp = os.stat(path).st_mtime_ns
    assert engines._write("fastmlp_engine_test", source + "# changed") == path
    assert os.stat(path).st_mtime_ns == stamp            # never rewritten: numba's cache keys on it
    with open(path) as f:
        assert f.read() == source


def test_an_unwritable_engine_folder_falls_back_to_memory(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("FASTMLP_ENGINE_DIR", str(blocked / "engines"))
    assert engines._write("fastmlp_engine_test", "x = 1\n") is None


def test_an_edit_to_the_kernels_changes_the_engine_file_name(monkeypatch):
    """The file name hashes kernels.py and engines.py too: a cached engine can
    never run stale kernels."""
    first = engines._fingerprint()
    monkeypatch.setattr(K, "__file__", engines.__file__)  # any other content
    assert engines._fingerprint() != first


@pytest.mark.parametrize("validation_split", [None, 0.2])
def test_planned_engine_is_the_engine_fit_runs(monkeypatch, validation_split):
    # 10 rows in batches of 2: 5 steps an epoch, 4 when 2 rows are held out.
    # With the threshold between the two run lengths, only the rows fit
    # trains on decide, as fastmlp train's warm-up needs.
    monkeypatch.setattr(engines, "AUTO_MIN_STEPS", 450)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 2)), (np.arange(10) % 2).astype(float)
    model = fm.MLP([2, 4, 1], output="sigmoid", seed=0)
    trainer = fm.Trainer(model, loss="bce", lr=0.05, batch_size=2, epochs=100, seed=0,
                         validation_split=validation_split)
    planned = trainer.planned_engine(X, y)
    assert planned == ("specialized" if validation_split is None else "generic")
    assert trainer.fit(X, y).engine == planned

