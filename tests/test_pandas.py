"""pandas frames in and out: feature_names_in_ and scikit-learn's checks of
column names, Series and categorical targets, for the Trainer, model files
and the estimators."""

import warnings

import numpy as np
import pytest

import fastmlp as fm

pd = pytest.importorskip("pandas")


def frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"height": rng.normal(size=n), "weight": rng.normal(size=n),
                      "age": rng.integers(20, 60, n)})           # mixed float and int columns
    y = pd.Series((X["height"] + X["weight"] > 0).astype(int), name="label")
    return X, y


def test_trainer_records_feature_names_and_trains_as_on_arrays():
    X, y = frame()
    a = fm.MLP([3, 4, 1], output="sigmoid", seed=0)
    b = a.copy()
    ha = fm.Trainer(a, loss="bce", lr=0.1, batch_size=16, epochs=3, seed=1).fit(X, y)
    hb = fm.Trainer(b, loss="bce", lr=0.1, batch_size=16, epochs=3, seed=1).fit(X.to_numpy(float), y.to_numpy())
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(ha.loss, hb.loss)
    assert a.feature_names_in_.tolist() == ["height", "weight", "age"] and b.feature_names_in_ is None
    np.testing.assert_array_equal(a.predict(X), b.predict(X.to_numpy(float)))


def test_validation_data_column_names_are_checked_against_x():
    X, y = frame()
    model = fm.MLP([3, 4, 1], output="sigmoid", seed=0)
    trainer = fm.Trainer(model, loss="bce", lr=0.1, batch_size=16, epochs=2)
    with pytest.raises(ValueError, match=r"The feature names of validation_data\[0\] should match those of X\. "
                                         r"Feature names must be in the same order as they were in fit"):
        trainer.fit(X, y, validation_data=(X[["weight", "height", "age"]], y))
    assert model.feature_names_in_ is None                  # a refused first fit records no names
    with pytest.warns(UserWarning, match=r"validation_data\[0\] does not have valid feature names, but the model "
                                         r"was trained with feature names \(height, weight, age\)"):
        history = trainer.fit(X, y, validation_data=(X.to_numpy(), y))
    assert len(history.val_loss) == 2
    with warnings.catch_warnings():                         # the same columns in the same order: no warning
        warnings.simplefilter("error")
        trainer.fit(X, y, validation_data=(X.copy(), y))


def test_column_names_are_checked_as_scikit_learn_does():
    X, y = frame()
    model = fm.MLP([3, 4, 1], output="sigmoid", seed=0)
    trainer = fm.Trainer(model, loss="bce", lr=0.1, batch_size=16, epochs=1)
    trainer.fit(X, y)
    with pytest.raises(ValueError, match=r"Feature names unseen at fit time: mass\. Feature names seen at fit "
                                         r"time, yet now missing: weight"):
        model.predict(X.rename(columns={"weight": "mass"}))
    with pytest.raises(ValueError, match="Feature names must be in the same order as they were in fit"):
        model.predict(X[["weight", "height", "age"]])
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        trainer.fit(X.rename(columns={"age": "years"}), y)
    assert model.feature_names_in_.tolist() == ["height", "weight", "age"]   # a refused fit changes nothing
    with pytest.warns(UserWarning, match=r"X does not have valid feature names, but the model was trained with "
                                         r"feature names \(height, weight, age\)"):
        model.predict(X.to_numpy())
    plain = fm.MLP([3, 4, 1], output="sigmoid", seed=0)
    with pytest.warns(UserWarning, match="X has feature names, but the model was trained without feature names"):
        plain.predict(X)
    with pytest.raises(TypeError, match="Feature names are only supported if all input features have string"):
        model.predict(X.rename(columns={"age": 3}))
    with warnings.catch_warnings():          # integer column labels are no names: positions, no warning
        warnings.simplefilter("error")
        plain.predict(pd.DataFrame(X.to_numpy()))


def test_categorical_and_series_targets():
    X, _ = frame(90)
    labels = pd.Categorical(np.array(["low", "mid", "high"])[np.digitize(X["height"], [-0.5, 0.5])],
                            categories=["low", "mid", "high"])
    a = fm.MLP([3, 5, 3], output="softmax", seed=0)
    b = a.copy()
    fm.Trainer(a, loss="cross_entropy", lr=0.1, batch_size=30, epochs=3, seed=0).fit(X, pd.Series(labels))
    fm.Trainer(b, loss="cross_entropy", lr=0.1, batch_size=30, epochs=3, seed=0).fit(X, labels.codes.astype(int))
    np.testing.assert_array_equal(a.params, b.params)
    c = fm.MLP([3, 5, 3], output="softmax", seed=0)
    fm.Trainer(c, loss="cross_entropy", lr=0.1, batch_size=30, epochs=3, seed=0).fit(X, labels)    # a bare Categorical
    np.testing.assert_array_equal(a.params, c.params)
    missing = pd.Series(labels).copy()
    missing.iloc[4] = np.nan
    with pytest.raises(ValueError, match="y is categorical with a missing value at position 4"):
        fm.Trainer(fm.MLP([3, 5, 3], output="softmax"), loss="cross_entropy").fit(X, missing)
    # A frame of targets, one column per output.
    Y = pd.DataFrame({"a": X["height"] * 2, "b": X["weight"] - 1})
    m = fm.MLP([3, 4, 2], seed=0)
    n = m.copy()
    fm.Trainer(m, lr=0.01, batch_size=30, epochs=2, seed=0).fit(X, Y, sample_weight=pd.Series(np.linspace(0, 1, 90)))
    fm.Trainer(n, lr=0.01, batch_size=30, epochs=2, seed=0).fit(X.to_numpy(float), Y.to_numpy(),
                                                        sample_weight=np.linspace(0, 1, 90))
    np.testing.assert_array_equal(m.params, n.params)


def test_feature_names_survive_a_model_file(tmp_path):
    X, y = frame()
    model = fm.MLP([3, 4, 1], output="sigmoid", seed=0)
    fm.Trainer(model, loss="bce", lr=0.1, batch_size=16, epochs=1).fit(X, y)
    model.save(tmp_path / "m.npz")
    loaded = fm.load(tmp_path / "m.npz")
    assert loaded.feature_names_in_.tolist() == ["height", "weight", "age"]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(ValueError, match="Feature names unseen at fit time: mass"):
        loaded.predict(X.rename(columns={"weight": "mass"}))
    assert fm.modelfile.read(tmp_path / "m.npz").metadata["feature_names"] == ["height", "weight", "age"]
    assert fm.formula(loaded).count("height") >= 4        # formula writes the names
    assert fm.load(tmp_path / "m.npz").copy().feature_names_in_.tolist() == ["height", "weight", "age"]


def test_cli_predicts_a_frame_trained_model_by_column_name(tmp_path, capsys):
    from fastmlp import cli
    X, y = frame()
    model = fm.MLP([3, 4, 1], output="sigmoid", seed=0)
    fm.Trainer(model, loss="bce", lr=0.1, batch_size=16, epochs=1).fit(X, y)
    model.save(tmp_path / "m.npz")
    X[["age", "weight", "height"]].to_csv(tmp_path / "new.csv", index=False)      # other column order
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cli.main(["predict", str(tmp_path / "m.npz"), "--data", str(tmp_path / "new.csv")]) == 0
    out = capsys.readouterr()
    assert "warning" not in out.err
    probs = [float(line.split(",")[1]) for line in out.out.strip().splitlines()[1:]]
    np.testing.assert_allclose(probs, model.predict(X)[:, 0], rtol=1e-12)


# -- the estimators ------------------------------------------------------------------------------

sknn = pytest.importorskip("sklearn.neural_network")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402


def _fit_both(cls_name, X, y, **params):
    params = dict(hidden_layer_sizes=(5,), solver="adam", learning_rate_init=0.02, batch_size=16, max_iter=5,
                  random_state=0, **params)
    sk, ours = getattr(sknn, cls_name)(**params), getattr(fm, cls_name)(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        ours.fit(X, y)
    return sk, ours


def test_estimators_on_frames_like_sklearn():
    X, y = frame()
    sk, ours = _fit_both("MLPClassifier", X, y)
    np.testing.assert_array_equal(ours.feature_names_in_, sk.feature_names_in_)
    for a, b in zip(sk.coefs_ + sk.intercepts_, ours.coefs_ + ours.intercepts_):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    renamed = X.rename(columns={"weight": "mass"})
    with pytest.raises(ValueError) as ours_err:
        ours.predict(renamed)
    with pytest.raises(ValueError) as sk_err:
        sk.predict(renamed)
    assert str(ours_err.value) == str(sk_err.value)
    with pytest.warns(UserWarning, match="X does not have valid feature names, but MLPClassifier was fitted with "
                                         "feature names"):
        ours.predict(X.to_numpy())


def test_estimators_with_categorical_series_and_frame_targets():
    X, _ = frame(90)
    labels = pd.Series(pd.Categorical(np.array(["b", "a", "c"])[np.digitize(X["height"], [-0.5, 0.5])],
                                      categories=["c", "b", "a"]))
    sk, ours = _fit_both("MLPClassifier", X, labels)
    np.testing.assert_array_equal(ours.classes_, sk.classes_)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    for a, b in zip(sk.coefs_ + sk.intercepts_, ours.coefs_ + ours.intercepts_):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)
    Y = pd.DataFrame({"a": X["height"] * 2, "b": X["weight"] - 1})
    sk, ours = _fit_both("MLPRegressor", X, Y)
    np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=1e-10, atol=1e-12)
    counts = pd.Series(np.random.default_rng(0).poisson(2.0, len(X)), name="visits")
    sk, ours = _fit_both("MLPRegressor", X, counts, loss="poisson")
    np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=1e-10, atol=1e-12)
