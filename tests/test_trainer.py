"""The fused engine against the layer-by-layer path and the numpy reference,
and the Trainer's behaviour: chunking, target_loss, history, state."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import trainer as trainer_mod


def make_model(dtype=np.float64, seed=0, output=fm.Sigmoid):
    return fm.Model([fm.Linear(2, 6), fm.Tanh(), fm.Linear(6, 5), fm.ReLU(), fm.Linear(5, 1), output()],
                    dtype=dtype, seed=seed, init="he")


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_three_paths_agree(loss):
    """Fused engine == forward/backward with manual SGD == fm.reference, float64,
    same initial weights and same shuffled batch order, after several epochs."""
    X, y = fm.datasets.line(n=50, seed=3)
    lr, batch, epochs, seed = 0.2, 8, 6, 11

    engine = make_model()
    manual = engine.copy()
    ref = fm.reference.Net.from_model(engine)

    history = fm.Trainer(engine, loss=loss, lr=lr, batch_size=batch, epochs=epochs, seed=seed).fit(X, y)

    orders = trainer_mod.shuffle_orders(seed, epochs, X.shape[0])
    lossobj = fm.get_loss(loss)
    manual_hist = []
    for e in range(epochs):
        total = 0.0
        for s in range(0, X.shape[0], batch):
            idx = orders[e, s:s + batch]
            out = manual.forward(X[idx])
            total += lossobj.forward(out, y[idx]) * len(idx)
            manual.backward(lossobj.backward(out, y[idx]))
            manual.params -= lr * manual.grads
        manual_hist.append(total / X.shape[0])
    ref_hist = ref.train(X, y, loss, lr, batch, epochs, orders=orders)

    np.testing.assert_allclose(engine.params, manual.params, rtol=0, atol=1e-12)
    np.testing.assert_allclose(engine.params, ref.flat(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(history.loss, manual_hist, rtol=1e-12)
    np.testing.assert_allclose(history.loss, ref_hist, rtol=1e-12)
    assert history.loss[-1] < history.loss[0]


def test_engine_matches_reference_for_softmax_cross_entropy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    y = rng.integers(0, 3, size=30)
    model = fm.Model([fm.Linear(4, 7), fm.Sigmoid(), fm.Linear(7, 3), fm.Softmax()], dtype=np.float64, seed=2)
    ref = fm.reference.Net.from_model(model)
    history = fm.Trainer(model, loss="cross_entropy", lr=0.3, batch_size=7, epochs=5, seed=4).fit(X, y)
    ref_hist = ref.train(X, np.eye(3)[y], "cross_entropy", 0.3, 7, 5, orders=trainer_mod.shuffle_orders(4, 5, 30))
    np.testing.assert_allclose(model.params, ref.flat(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(history.loss, ref_hist, rtol=1e-12)


def test_no_shuffle_uses_the_data_order():
    X, y = fm.datasets.celsius(n=40)
    model = fm.Model([fm.Linear(1, 3), fm.Identity(), fm.Linear(3, 1)], dtype=np.float64, seed=0)
    ref = fm.reference.Net.from_model(model)
    fm.Trainer(model, loss="half_mse", lr=0.01, batch_size=16, epochs=3, shuffle=False).fit(X, y)
    ref.train(X, y, "half_mse", 0.01, 16, 3)
    np.testing.assert_allclose(model.params, ref.flat(), rtol=0, atol=1e-10)


def test_results_do_not_depend_on_chunking(monkeypatch):
    X, y = fm.datasets.line(n=64)
    a = make_model(np.float32)
    b = make_model(np.float32)
    ha = fm.Trainer(a, loss="bce", lr=0.1, batch_size=16, epochs=40, seed=5).fit(X, y)
    monkeypatch.setattr(trainer_mod, "CHUNK_SECONDS", 0.0)  # one epoch per engine call
    hb = fm.Trainer(b, loss="bce", lr=0.1, batch_size=16, epochs=40, seed=5, print_every=7).fit(X, y)
    assert np.array_equal(a.params, b.params)
    assert np.array_equal(ha.loss, hb.loss)


def test_fit_twice_continues_like_one_long_fit():
    X, y = fm.datasets.line(n=64)
    a, b = make_model(), make_model()
    ta = fm.Trainer(a, loss="bce", lr=0.1, batch_size=16, epochs=10, seed=1, optimizer="adam")
    ha1, ha2 = ta.fit(X, y), ta.fit(X, y)
    hb = fm.Trainer(b, loss="bce", lr=0.1, batch_size=16, epochs=20, seed=1, optimizer="adam").fit(X, y)
    assert np.array_equal(a.params, b.params)
    assert np.array_equal(np.concatenate([ha1.loss, ha2.loss]), hb.loss)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_both_dtypes_train_xor_and_line(dtype):
    X, y = fm.datasets.xor()
    model = fm.MLP([2, 8, 1], activation="relu", output="sigmoid", dtype=dtype, seed=0)
    h = fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=5000, seed=0).fit(X, y)
    assert model.params.dtype == dtype and h.loss.dtype == np.float64
    assert np.array_equal((model.predict(X) > 0.5).astype(int), y.astype(int))
    X, y = fm.datasets.line()
    model = fm.MLP([2, 16, 16, 1], activation="relu", output="sigmoid", dtype=dtype, seed=0)
    fm.Trainer(model, loss="bce", lr=0.1, batch_size=32, epochs=50, seed=0).fit(X, y)
    assert np.mean((model.predict(X) > 0.5) == (y > 0.5)) > 0.97


def test_target_loss_stops_at_the_first_epoch_below_it():
    X, y = fm.datasets.xor()
    model = fm.MLP([2, 8, 1], output="sigmoid", seed=0, init="he")
    h = fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=100_000, target_loss=0.01).fit(X, y)
    assert h.stop_reason == "target_loss"
    assert h.loss[-1] < 0.01 and np.all(h.loss[:-1] >= 0.01)
    assert h.epochs < 100_000 and h.steps == h.epochs


def test_history_fields():
    X, y = fm.datasets.line(n=100)
    model = fm.MLP([2, 4, 1], output="sigmoid", seed=0)
    tr = fm.Trainer(model, loss="bce", lr=0.1, batch_size=30, epochs=7, seed=0)
    h = tr.fit(X, y)
    assert h.epochs == 7 and h.loss.shape == (7,) and h.steps == 7 * 4
    assert h.stop_reason == "completed" and tr.history is h
    assert h.final_loss == h.loss[-1] and h.seconds > 0 and h.steps_per_second > 0
    assert h.as_dict()["epochs"] == 7
    assert tr.config()["loss"] == "bce" and tr.config()["lr"] == 0.1
    # config() rebuilds an equivalent trainer.
    cfg = fm.Trainer(model, per_sample=True, **{k: v for k, v in tr.config().items() if k != "per_sample"}).config()
    assert cfg == {**tr.config(), "per_sample": True}


def test_progress_bar_ends_with_the_last_epoch_and_its_loss(capsys, monkeypatch):
    # Small chunks, so the bar is updated many times between its redraws.
    monkeypatch.setattr(trainer_mod, "CHUNK_SECONDS", 1e-6)
    X, y = fm.datasets.xor()
    model = fm.MLP([2, 8, 1], output="sigmoid", seed=0)
    h = fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=300, progress=True).fit(X, y)
    progress_line = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "300/300" in progress_line
    assert f"loss={h.loss[-1]:.4g}" in progress_line and "steps_s=" in progress_line


def test_zero_epochs_changes_nothing():
    X, y = fm.datasets.xor()
    model = fm.MLP([2, 3, 1], seed=0)
    before = model.params.copy()
    h = fm.Trainer(model, batch_size=4, epochs=0).fit(X, y)
    assert h.epochs == 0 and np.array_equal(model.params, before)


def test_one_dimensional_y_and_integer_classes_are_accepted():
    X, y = fm.datasets.line(n=40)
    m1 = fm.MLP([2, 4, 1], output="sigmoid", seed=0)
    m2 = m1.copy()
    fm.Trainer(m1, loss="bce", lr=0.1, batch_size=8, epochs=3, seed=0).fit(X, y)
    fm.Trainer(m2, loss="bce", lr=0.1, batch_size=8, epochs=3, seed=0).fit(X, y.ravel())
    assert np.array_equal(m1.params, m2.params)
    m3 = fm.MLP([2, 4, 2], output="softmax", seed=0)
    m4 = m3.copy()
    labels = y.ravel().astype(int)
    fm.Trainer(m3, loss="cross_entropy", lr=0.1, batch_size=8, epochs=3, seed=0).fit(X, labels)
    fm.Trainer(m4, loss="cross_entropy", lr=0.1, batch_size=8, epochs=3, seed=0).fit(X, np.eye(2)[labels])
    assert np.array_equal(m3.params, m4.params)


def test_momentum_and_adam_reduce_the_loss():
    X, y = fm.datasets.line(n=200)
    for kwargs in [dict(optimizer="sgd", momentum=0.9), dict(optimizer="sgd", momentum=0.9, nesterov=True),
                   dict(optimizer="adam", lr=0.01)]:
        model = fm.MLP([2, 8, 1], output="sigmoid", seed=0)
        h = fm.Trainer(model, loss="bce", batch_size=20, epochs=30, seed=0, **{"lr": 0.05, **kwargs}).fit(X, y)
        assert h.loss[-1] < 0.5 * h.loss[0], kwargs


def test_divergence_keeps_last_finite_weights():
    X, y = fm.datasets.celsius(n=50)
    model = fm.Model([fm.Linear(1, 4), fm.Identity(), fm.Linear(4, 1)], dtype=np.float64, seed=0)
    with pytest.raises(fm.TrainingDiverged, match="lower learning rate|lr=") as info:
        fm.Trainer(model, loss="mse", lr=5.0, batch_size=10, epochs=1000, seed=0).fit(X, y)
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert np.all(np.isfinite(model.params))
    assert err.history.epochs == err.epoch - 1 and np.all(np.isfinite(err.history.loss))
    again = fm.Model([fm.Linear(1, 4), fm.Identity(), fm.Linear(4, 1)], dtype=np.float64, seed=0)
    if err.history.epochs:
        fm.Trainer(again, loss="mse", lr=5.0, batch_size=10, epochs=err.history.epochs, seed=0).fit(X, y)
    assert np.array_equal(again.params, model.params)


def test_fit_after_a_target_loss_stop_shuffles_like_an_uninterrupted_run():
    """Shuffle draws of epochs not run are given back: stopping at target_loss
    and fitting again equals training the same total epochs straight through."""
    X, y = fm.datasets.line(n=64)
    first = fm.Trainer(make_model(), loss="bce", lr=0.1, batch_size=16, epochs=50, seed=3).fit(X, y)
    target = float(first.loss[9])  # reached in epoch 11 at the latest
    a2, b = make_model(), make_model()
    t2 = fm.Trainer(a2, loss="bce", lr=0.1, batch_size=16, epochs=50, seed=3, target_loss=target)
    h1 = t2.fit(X, y)
    assert h1.stop_reason == "target_loss" and h1.epochs < 50
    t2.target_loss = None
    h2 = t2.fit(X, y, epochs=5)
    hb = fm.Trainer(b, loss="bce", lr=0.1, batch_size=16, epochs=h1.epochs + 5, seed=3).fit(X, y)
    assert np.array_equal(a2.params, b.params)
    assert np.array_equal(np.concatenate([h1.loss, h2.loss]), hb.loss)


@pytest.mark.parametrize("loss,output", [("bce", "identity"), ("bce", "relu"), ("bce", "tanh"),
                                         ("cross_entropy", "identity"), ("cross_entropy", "relu")])
def test_probability_losses_need_a_probability_output(loss, output):
    """bce and cross_entropy on an output that is not in [0, 1] take logs of
    anything: training ran on without learning (negative cross-entropy)."""
    model = fm.MLP([2, 4, 3 if loss == "cross_entropy" else 1], output=output, seed=0)
    with pytest.raises(ValueError, match=rf"loss='{loss}' needs probabilities in \[0, 1\], so the model's last "
                                         rf"layer must be Sigmoid or Softmax; it is "):
        fm.Trainer(model, loss=loss)
    with pytest.raises(ValueError, match="must be Sigmoid or Softmax"):
        model.loss_and_gradient(np.zeros((2, 2)), np.zeros(2, dtype=int), loss=loss)
    # the fitting pairs are accepted
    fm.Trainer(fm.MLP([2, 4, 1], output="sigmoid"), loss="bce")
    fm.Trainer(fm.MLP([2, 4, 3], output="softmax"), loss="cross_entropy")
    fm.Trainer(fm.MLP([2, 4, 3], output="softmax"), loss="bce")
    fm.Trainer(model, loss="mse")


# -- the engine interface -------------------------------------------------------------------

def test_engine_settings_have_one_type_per_field():
    """Every field has the same Python type whatever was given (np.float32 lr,
    an integer momentum...), so the engine is never compiled for a new type."""
    model = make_model(np.float32)
    a = fm.Trainer(model, loss="bce", lr=np.float32(0.1), batch_size=np.int32(8), momentum=0, seed=0)
    b = fm.Trainer(model, loss="bce", lr=0.5, batch_size=4, optimizer="adam", target_loss=1, seed=0)
    sa, batch_a, shuffle_a = a.engine_settings(100)
    sb, _, _ = b.engine_settings(3)  # clipped to the data, with a warning
    assert [type(v) for v in sa] == [type(v) for v in sb]
    assert isinstance(sa, fm.kernels.EngineSettings)
    assert (sa.lr, sa.batch, sa.optimizer, sa.has_target) == (pytest.approx(0.1), 8, fm.kernels.OPT_SGD, False)
    assert (batch_a, shuffle_a) == (8, True)
    assert (sb.batch, sb.optimizer, sb.target_loss, sb.has_target, sb.shuffle) == \
        (3, fm.kernels.OPT_ADAM, 1.0, True, False)
    assert (sb.beta_1, sb.beta_2, sb.adam_epsilon) == (0.9, 0.999, 1e-8)


def test_run_epochs_is_fit_without_the_bookkeeping():
    X, y = fm.datasets.line(n=64)
    a, b = make_model(), make_model()
    ta = fm.Trainer(a, loss="bce", lr=0.1, batch_size=16, shuffle=False, optimizer="adam", seed=0)
    tb = fm.Trainer(b, loss="bce", lr=0.1, batch_size=16, shuffle=False, optimizer="adam", seed=0)
    history = ta.fit(X, y, epochs=3)
    Xc, Yc = b.check_input(X), b.check_target(y, 64, loss="bce")
    losses = np.concatenate([tb.run_epochs(Xc, Yc, 2), tb.run_epochs(Xc, Yc)])
    np.testing.assert_array_equal(losses, history.loss)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(ta.optimizer.state, tb.optimizer.state)
    assert tb.optimizer.step[0] == ta.optimizer.step[0] == 12


@pytest.mark.parametrize("engine", ["generic", "specialized"])
def test_run_epochs_with_one_order_per_epoch_is_one_call_per_epoch(engine):
    X, y = fm.datasets.line(n=50)
    a, b = make_model(), make_model()
    ta = fm.Trainer(a, loss="bce", lr=0.1, batch_size=16, shuffle=False, seed=0, engine=engine)
    tb = fm.Trainer(b, loss="bce", lr=0.1, batch_size=16, shuffle=False, seed=0, engine=engine)
    Xc, Yc = a.check_input(X), a.check_target(y, 50, loss="bce")
    orders = [np.random.default_rng(e).permutation(50) for e in range(3)]
    one_by_one = np.concatenate([ta.run_epochs(Xc, Yc, 1, order=o) for o in orders])
    together = tb.run_epochs(Xc, Yc, 3, order=np.concatenate(orders))
    np.testing.assert_array_equal(together, one_by_one)
    np.testing.assert_array_equal(b.params, a.params)
    assert not np.array_equal(orders[0], orders[1])


def test_run_epochs_divergence_keeps_the_last_finite_weights():
    X, y = fm.datasets.line(n=64)
    model = fm.MLP([2, 8, 1], seed=0)  # an identity output: nothing bounds the gradient
    trainer = fm.Trainer(model, loss="mse", lr=0.05, batch_size=8, shuffle=False)
    Xc, Yc = model.check_input(X), model.check_target(y, 64, loss="mse")
    trainer.run_epochs(Xc, Yc, 2)
    params, state = model.params.copy(), trainer.optimizer.state.copy()
    with pytest.raises(fm.TrainingDiverged, match="diverged in epoch 1 of this run"):
        trainer.run_epochs(Xc * 1e160, Yc, 3)
    np.testing.assert_array_equal(model.params, params)
    np.testing.assert_array_equal(trainer.optimizer.state, state)


def test_setters_check_their_values():
    trainer = fm.Trainer(make_model(), loss="bce", lr=0.1, batch_size=8)
    trainer.lr = 0.5
    trainer.batch_size = 2
    assert (trainer.lr, trainer.optimizer.lr, trainer.batch_size) == (0.5, 0.5, 2)
    with pytest.raises(ValueError, match="'lr' parameter must be a finite float > 0. Got -1"):
        trainer.lr = -1
    with pytest.raises(TypeError, match="'batch_size' parameter must be an integer. Got '8'"):
        trainer.batch_size = "8"
    with pytest.raises(ValueError, match="'batch_size' parameter must be an integer >= 1. Got 0"):
        trainer.batch_size = 0
    with pytest.raises(ValueError, match="'epochs' parameter must be an integer >= 1. Got 0"):
        trainer.run_epochs(np.zeros((2, 2)), np.zeros((2, 1)), 0)
    assert (trainer.lr, trainer.batch_size) == (0.5, 2)
