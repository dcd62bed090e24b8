"""The Poisson loss: an Exp output (the log link) and the Poisson deviance
from the logits, in the engine, the Trainer, the CLI and MLPRegressor,
against the numpy reference and scikit-learn's loss="poisson"."""

import json
import warnings

import numpy as np
import pytest

import fastmlp as fm


def counts(n=80, k=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    rate = np.exp(0.6 * X[:, :1] - 0.3 * X[:, 1:2] + np.linspace(0, 0.5, k))
    return X, rng.poisson(rate).astype(float)


def test_exp_layer_and_mlp_output():
    model = fm.MLP([3, 4, 2], output="exp", seed=0)
    assert isinstance(model.layers[-1], fm.Exp)
    X, _ = counts()
    z = fm.reference.Net.from_model(model).forward(X)[-2]
    np.testing.assert_allclose(model.predict(X), np.exp(z), rtol=1e-13)
    assert fm.get_loss("poisson").name == "poisson"


@pytest.mark.parametrize("k", [1, 2])
def test_trainer_poisson_equals_the_reference(k):
    X, Y = counts(k=k)
    model = fm.MLP([3, 5, k], activation="tanh", output="exp", seed=1)
    ref = fm.reference.Net.from_model(model)
    history = fm.Trainer(model, loss="poisson", lr=0.05, batch_size=16, epochs=4, seed=2).fit(X, Y)
    ref_loss = ref.train(X, Y, "poisson", 0.05, 16, 4, orders=fm.trainer.shuffle_orders(2, 4, len(X)))
    np.testing.assert_allclose(history.loss, ref_loss, rtol=1e-12)
    np.testing.assert_allclose(model.params, ref.flat(), rtol=0, atol=1e-12)
    assert history.loss[-1] < history.loss[0]


def test_poisson_model_file_round_trip(tmp_path):
    X, Y = counts()
    model = fm.MLP([3, 4, 1], output="exp", seed=0)
    trainer = fm.Trainer(model, loss="poisson", lr=0.05, batch_size=16, epochs=3, seed=0)
    trainer.fit(X, Y)
    model.save(tmp_path / "m.npz", trainer=trainer)
    mf = fm.modelfile.read(tmp_path / "m.npz")
    assert repr(mf.model.layers[-1]) == "Exp()" and mf.trainer["loss"] == "poisson"
    np.testing.assert_array_equal(mf.model.predict(X), model.predict(X))


def test_formula_and_trace_know_exp():
    model = fm.MLP([2, 1], output="exp", seed=0)
    text = fm.formula(model, precision=None)
    assert text.startswith("y = exp(")
    env = fm.explain.evaluate(text, {"x1": 0.3, "x2": -0.2})
    assert env["y"] == pytest.approx(float(model.predict([[0.3, -0.2]])[0, 0]), rel=1e-12)
    t = fm.trace(model, [0.3, -0.2], [2.0], lr=0.1)
    assert t.loss == "poisson"


def test_cli_trains_a_poisson_regression(tmp_path, capsys):
    from fastmlp import cli
    X, Y = counts(120)
    path = tmp_path / "visits.csv"
    rows = "\n".join(",".join(f"{v:g}" for v in row) for row in np.c_[X, Y])
    path.write_text("a,b,c,count\n" + rows + "\n")
    code = cli.main(["train", "--data", str(path), "--target", "count", "--loss", "poisson", "--epochs", "30",
                     "--json", "--save", str(tmp_path / "m.npz")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["output"] == "exp" and summary["loss"] == "poisson" and summary["task"] == "regression"
    model = fm.load(tmp_path / "m.npz")
    assert repr(model.layers[-1]) == "Exp()"
    assert np.all(model.predict(X) > 0)
    assert summary["final_loss"] < fm.get_loss("poisson").forward(np.full_like(Y, Y.mean() + 1), Y)


# -- MLPRegressor(loss="poisson") against scikit-learn -------------------------------------------

sknn = pytest.importorskip("sklearn.neural_network")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # see conftest.py


FITS = {
    "sgd": dict(solver="sgd", momentum=0.0, learning_rate_init=0.02, batch_size=16, max_iter=15),
    "nesterov": dict(solver="sgd", momentum=0.9, learning_rate_init=0.01, batch_size=16, max_iter=15, alpha=0.1),
    "adam": dict(solver="adam", learning_rate_init=0.01, batch_size=16, max_iter=20, alpha=0.05),
    "adam_no_shuffle": dict(solver="adam", learning_rate_init=0.01, batch_size=10, max_iter=20, shuffle=False),
    "adam_early_stopping": dict(solver="adam", learning_rate_init=0.02, batch_size=16, max_iter=40,
                                early_stopping=True, n_iter_no_change=3),
    "lbfgs": dict(solver="lbfgs", max_iter=10, alpha=0.01),
}


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("name", list(FITS))
def test_poisson_fit_same_as_sklearn(name, k):
    X, Y = counts(k=k)
    y = Y.ravel() if k == 1 else Y
    params = dict(loss="poisson", hidden_layer_sizes=(6, 4), random_state=3, **FITS[name])
    sk, ours = sknn.MLPRegressor(**params), fm.MLPRegressor(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        ours.fit(X, y)
    assert ours.out_activation_ == sk.out_activation_ == "exp"
    for a, b in zip(sk.coefs_ + sk.intercepts_, ours.coefs_ + ours.intercepts_):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-10)
    assert ours.n_iter_ == sk.n_iter_
    if name != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-10)
    if "early" in name:
        np.testing.assert_allclose(ours.validation_scores_, sk.validation_scores_, rtol=1e-10)
    np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=1e-10)


def test_poisson_partial_fit_and_weights_same_as_sklearn():
    X, Y = counts()
    y = Y.ravel()
    w = np.random.default_rng(1).uniform(0, 2, len(y))
    params = dict(loss="poisson", hidden_layer_sizes=(5,), solver="adam", learning_rate_init=0.01, batch_size=16,
                  random_state=0)
    sk, ours = sknn.MLPRegressor(**params), fm.MLPRegressor(**params)
    for _ in range(3):
        sk.partial_fit(X, y, sample_weight=w)
        ours.partial_fit(X, y, sample_weight=w)
    for a, b in zip(sk.coefs_ + sk.intercepts_, ours.coefs_ + ours.intercepts_):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-10)


def test_poisson_refuses_negative_targets():
    X, Y = counts(20)
    y = Y.ravel() - 1.0
    with pytest.raises(ValueError, match=r"loss='poisson' needs targets y >= 0 \(counts or rates\); y has the "
                                         r"negative value -1"):
        fm.MLPRegressor(loss="poisson").fit(X, y)
    with pytest.raises(ValueError, match=r"y for poisson must be >= 0"):
        fm.Trainer(fm.MLP([3, 1], output="exp"), loss="poisson").fit(X, y)
