"""Model files: round trips, validation of every field, and fuzzing (corrupted
and truncated files are refused with a ValueError, never loaded wrong)."""

import json
import os
import pickle

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import modelfile


@pytest.fixture(scope="module")
def trained():
    X, y = fm.datasets.xor()
    model = fm.MLP([2, 4, 1], activation="tanh", output="sigmoid", dtype=np.float64, seed=1)
    trainer = fm.Trainer(model, loss="bce", lr=0.5, batch_size=4, epochs=50, seed=0)
    trainer.fit(X, y)
    return model, trainer


def small_model(dtype=np.float64):
    return fm.MLP([2, 3, 1], activation="relu", output="sigmoid", dtype=dtype, seed=3)


def write_raw(path, header, params, fix_checksum=True):
    """Write a model file by hand (for files the library would never write)."""
    header = dict(header)
    if fix_checksum:
        header["sha256"] = modelfile.checksum(header, params)
    raw = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, header=raw, params=params)


def header_of(path):
    with np.load(path, allow_pickle=False) as z:
        return json.loads(z["header"].tobytes().decode()), z["params"].copy()


# -- round trips ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_predicts_bit_identically(tmp_path, dtype):
    model = fm.Model([fm.Linear(3, 5), fm.Tanh(), fm.Linear(5, 4, bias=False), fm.ReLU(),
                      fm.Linear(4, 3), fm.Softmax()], dtype=dtype, seed=7)
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = fm.load(path)
    assert loaded.dtype is dtype
    assert [l.config() for l in loaded.layers] == [l.config() for l in model.layers]
    assert loaded.params.dtype == model.params.dtype
    assert np.array_equal(loaded.params, model.params)
    X = np.random.default_rng(0).normal(size=(50, 3))
    assert np.array_equal(loaded.predict(X), model.predict(X))
    # The loaded model's layers are views into its own parameters (training it works).
    assert np.shares_memory(loaded.layers[0].weight, loaded.params)
    assert not np.shares_memory(loaded.params, model.params)


def test_trainer_history_and_metadata_are_kept(tmp_path, trained):
    model, trainer = trained
    path = tmp_path / "t.npz"
    modelfile.save(model, path, trainer=trainer, metadata={"feature_names": ["a", "b"], "task": "binary"})
    f = modelfile.read(path)
    assert f.trainer == trainer.config()
    assert f.trainer["loss"] == "bce" and f.trainer["lr"] == 0.5
    assert isinstance(f.history, fm.History)
    assert np.array_equal(f.history.loss, trainer.history.loss)
    assert f.history.epochs == 50 and f.history.steps == 50
    assert f.history.stop_reason == "completed"
    assert f.metadata == {"feature_names": ["a", "b"], "task": "binary"}
    # No standardizer or classes: written in version 1, which older fastmlp versions read.
    assert f.header["format_version"] == 1
    assert f.header["fastmlp_version"] == fm.__version__
    assert f.header["dtype"] == "float64"


def test_model_save_method_passes_trainer(tmp_path, trained):
    model, trainer = trained
    model.save(tmp_path / "m.npz", trainer=trainer)
    f = modelfile.read(tmp_path / "m.npz")
    assert f.trainer["batch_size"] == 4
    assert f.history.epochs == 50
    plain = small_model()
    plain.save(tmp_path / "p.npz")
    g = modelfile.read(tmp_path / "p.npz")
    assert g.trainer is None and g.history is None and g.metadata == {}


def test_file_has_no_pickled_data(tmp_path):
    small_model().save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["header", "params"]
        assert z["header"].dtype == np.uint8
        assert z["params"].dtype == np.dtype("<f8")


def test_save_replaces_atomically_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "m.npz"
    small_model().save(path)
    other = fm.MLP([2, 5, 1], seed=9)
    other.save(path)
    assert fm.load(path).sizes == [2, 5, 1]
    assert os.listdir(tmp_path) == ["m.npz"]


def test_save_rejects_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="fastmlp.Model"):
        modelfile.save("not a model", tmp_path / "x.npz")
    with pytest.raises(ValueError, match="metadata"):
        modelfile.save(small_model(), tmp_path / "x.npz", metadata={"bad": float("nan")})
    assert not (tmp_path / "x.npz").exists()


# -- refused files ---------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        fm.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("content, problem", [
    (b"", "empty"),
    (b"a,b\n1,2\n", "not a .npz"),
    (pickle.dumps({"weights": [1, 2]}), "pickle"),
])
def test_foreign_bytes(tmp_path, content, problem):
    path = tmp_path / "foreign.npz"
    path.write_bytes(content)
    with pytest.raises(modelfile.ModelFileError, match=problem) as info:
        fm.load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_npy_and_other_npz_are_not_models(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(ValueError, match="single .npy array"):
        fm.load(tmp_path / "a.npy")
    np.savez(tmp_path / "d.npz", X=np.zeros((2, 2)), y=np.zeros(2))
    with pytest.raises(ValueError, match=r"expected the arrays \['header', 'params'\]"):
        fm.load(tmp_path / "d.npz")


def test_object_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    # A pickled object array: loading it with pickle would call os.system.
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))
    np.savez(path, header=np.array([Evil()], dtype=object), params=np.zeros(3))
    with pytest.raises(modelfile.ModelFileError, match="pickled object arrays"):
        fm.load(path)
    assert not (tmp_path / "pwned").exists()


def test_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        fm.load(tmp_path)


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.npz"
    small_model().save(path, trainer={"loss": "bce"},
                       history={"loss": [0.5, 0.25], "epochs": 2, "steps": 2, "seconds": 0.1,
                                "stop_reason": "completed"})
    header, params = header_of(path)
    return tmp_path / "bad.npz", header, params


def test_handwritten_good_file_loads(good):
    path, header, params = good
    write_raw(path, header, params)
    f = modelfile.read(path)
    assert f.history.loss.tolist() == [0.5, 0.25]
    assert f.trainer == {"loss": "bce"}


@pytest.mark.parametrize("change, problem", [
    (lambda h, p: h.update(format="something-else"), "not a fastmlp model file"),
    (lambda h, p: h.update(format_version=99), "format version 99.*Upgrade fastmlp"),
    (lambda h, p: h.update(format_version="1"), "invalid format_version"),
    (lambda h, p: h.pop("layers"), "fields do not match"),
    (lambda h, p: h.update(extra=1), "unexpected \\['extra'\\]"),
    (lambda h, p: h.update(dtype="int8"), "dtype is 'int8'"),
    (lambda h, p: h.update(dtype="float32"), "stored as <f8, but the header says float32"),
    (lambda h, p: h.update(n_params=10), "says 10 parameters, but the file holds 13"),
    (lambda h, p: h["layers"][0].update(in_features=3), "need 16 parameters, but the file holds 13"),
    (lambda h, p: h["layers"][2].update(in_features=4, bias=False), "do not form a valid model.*do not chain"),
    # counted before anything is allocated: no MemoryError for a header declaring 2**60 weights
    (lambda h, p: h["layers"][0].update(in_features=1 << 30, out_features=1 << 30),
     "need 1152921505680588804 parameters, but the file holds 13"),
    (lambda h, p: h["layers"][0].update(in_features=2.0), "in_features=2.0"),
    (lambda h, p: h["layers"][0].update(bias="yes"), "bias='yes'"),
    (lambda h, p: h["layers"][0].update(code="os.system('x')"), "exactly type, in_features"),
    (lambda h, p: h["layers"][1].update(type="Evil"), "unknown type 'Evil'"),
    (lambda h, p: h["layers"][1].update(slope=2), "takes no settings"),
    (lambda h, p: h.update(layers=[]), "at least one layer"),
    (lambda h, p: h.update(layers=[{"type": "ReLU"}]), "first layer must be Linear"),
    (lambda h, p: h["history"].update(epochs=3), "says 3 epochs but holds 2"),
    (lambda h, p: h["history"].update(stop_reason="exploded"), "unknown stop_reason"),
    (lambda h, p: h["history"].update(engine="fast"), "engine must be 'generic' or 'specialized' or null"),
    (lambda h, p: h["history"].update(loss="0.5"), "list of numbers"),
    (lambda h, p: h.update(trainer=[1]), "trainer settings must be an object"),
    (lambda h, p: h.update(metadata=[1]), "metadata must be an object"),
    (lambda h, p: h.update(metadata={"feature_names": ["a"]}), "feature_names must list 2 names"),
    (lambda h, p: p.__setitem__(0, np.nan), "NaN or infinite"),
])
def test_invalid_contents_are_refused(good, change, problem):
    path, header, params = good
    change(header, params)
    write_raw(path, header, params)
    with pytest.raises(modelfile.ModelFileError, match=problem) as info:
        fm.load(path)
    assert str(path) in str(info.value)


def test_wrong_param_shape_and_dtype(good):
    path, header, params = good
    write_raw(path, header, params.reshape(1, -1))
    with pytest.raises(ValueError, match=r"shape \(1, 13\)"):
        fm.load(path)
    write_raw(path, header, params.astype(">f8"))
    with pytest.raises(ValueError, match=r"stored as >f8"):
        fm.load(path)
    header["dtype"] = "float32"
    write_raw(path, header, params.astype(np.float32))
    assert fm.load(path).dtype is np.float32
    raw_header = np.frombuffer(b"\xff\xfe not json", dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, header=raw_header, params=params)
    with pytest.raises(ValueError, match="not valid JSON"):
        fm.load(path)
    with open(path, "wb") as f:
        np.savez(f, header=np.zeros((2, 2)), params=params)
    with pytest.raises(ValueError, match="header is an array of float64"):
        fm.load(path)


def test_checksum_detects_edits(good):
    path, header, params = good
    params[3] += 1e-12
    write_raw(path, header, params, fix_checksum=False)
    with pytest.raises(ValueError, match="checksum mismatch"):
        fm.load(path)
    params[3] -= 1e-12
    header["history"]["loss"][0] = 0.75
    write_raw(path, header, params, fix_checksum=False)
    with pytest.raises(ValueError, match="checksum mismatch"):
        fm.load(path)


# -- fuzzing ----------------------------------------------------------------------

def _assert_refused_or_same(path, reference):
    """Loading either fails with ValueError or gives exactly the saved model."""
    try:
        f = modelfile.read(path)
    except ValueError as exc:
        assert str(path) in str(exc)
        return False
    model = f.model
    assert model.params.dtype == reference.params.dtype
    assert np.array_equal(model.params, reference.params)
    assert [l.config() for l in model.layers] == [l.config() for l in reference.layers]
    return True


@pytest.mark.parametrize("dtype, step, flip", [(np.float64, 1, True), (np.float32, 2, False)])
def test_fuzz_every_byte_corrupted(tmp_path, trained, dtype, step, flip):
    """float64: every byte inverted; float32: every other byte set to a random value."""
    model = small_model(dtype)
    src = tmp_path / "src.npz"
    modelfile.save(model, src, trainer={"loss": "bce"}, history=trained[1].history)
    data = src.read_bytes()
    path = tmp_path / "fuzz.npz"
    rng = np.random.default_rng(0)
    loaded_same = refused = 0
    for pos in range(0, len(data), step):
        for value in [data[pos] ^ 0xFF if flip else int(rng.integers(0, 256))]:
            if value == data[pos]:
                continue
            mutated = bytearray(data)
            mutated[pos] = value
            path.write_bytes(bytes(mutated))
            if _assert_refused_or_same(path, model):
                loaded_same += 1
            else:
                refused += 1
    # Almost every position matters; only zip bookkeeping (times, attributes) may be ignored.
    assert refused > 0.9 * (refused + loaded_same)


def test_fuzz_truncated_everywhere(tmp_path, trained):
    model = small_model()
    src = tmp_path / "src.npz"
    modelfile.save(model, src, trainer=trained[1])
    data = src.read_bytes()
    path = tmp_path / "cut.npz"
    # Every even length, and the last bytes one by one (the zip directory lives there).
    for cut in range(0, len(data), 2):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError) as info:
            modelfile.read(path)
        assert str(path) in str(info.value)
    for cut in range(len(data) - 100, len(data)):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError):
            modelfile.read(path)


def test_fuzz_appended_and_inserted_bytes(tmp_path):
    model = small_model()
    src = tmp_path / "src.npz"
    model.save(src)
    data = src.read_bytes()
    path = tmp_path / "ins.npz"
    rng = np.random.default_rng(1)
    for pos in rng.integers(0, len(data), size=200):
        path.write_bytes(data[:pos] + bytes(rng.integers(0, 256, size=3).astype(np.uint8)) + data[pos:])
        _assert_refused_or_same(path, model)


def test_a_trainer_seeded_with_a_generator_can_be_saved(tmp_path):
    """A Generator has no JSON form: the file records seed None, like an unseeded run."""
    model = small_model()
    trainer = fm.Trainer(model, loss="bce", seed=np.random.default_rng(0), epochs=1)
    model.save(tmp_path / "g.npz", trainer=trainer)
    f = modelfile.read(tmp_path / "g.npz")
    assert f.trainer["seed"] is None and f.trainer["loss"] == "bce"
    np.testing.assert_array_equal(f.model.params, model.params)


def test_the_public_names():
    assert fm.ModelFileError is modelfile.ModelFileError and issubclass(fm.ModelFileError, ValueError)
    assert fm.load is modelfile.load


def test_checksum_is_the_one_the_file_stores(tmp_path):
    model = small_model()
    model.save(tmp_path / "m.npz")
    header, params = header_of(tmp_path / "m.npz")
    assert modelfile.checksum(header, params) == header["sha256"]
    assert modelfile.checksum(header, params + 1.0) != header["sha256"]


def _module_imports():
    """{module: the fastmlp modules it imports at module level}, from the source."""
    import ast
    package = os.path.dirname(fm.__file__)
    graph = {}
    for file in sorted(os.listdir(package)):
        if file.endswith(".py") and file != "__init__.py":
            tree = ast.parse(open(os.path.join(package, file), encoding="utf-8").read())
            graph[file[:-3]] = {node.module.split(".")[0] for node in tree.body
                                if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}
    return graph


def test_model_files_build_on_the_model_not_the_other_way_round():
    graph = _module_imports()
    assert {"model", "layers", "trainer"} <= graph["modelfile"]
    assert not any("modelfile" in graph[name] for name in ("model", "layers", "trainer", "validation"))
    # No module imports another at module level that (in turn) imports it.
    def reaches(start, goal, seen=()):
        return any(dep == goal or (dep not in seen and reaches(dep, goal, seen + (dep,)))
                   for dep in graph.get(start, ()))
    assert [name for name in graph if reaches(name, name)] == []
