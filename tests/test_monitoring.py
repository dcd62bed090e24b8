"""Monitoring between compiled chunks: validation split and data, the
per-epoch History, early stopping with the best weights restored, and
learning-rate schedules."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import trainer as trainer_mod
from fastmlp.tasks import score


def line_model(seed=0):
    return fm.MLP([2, 8, 1], output="sigmoid", seed=seed)


def three_classes(n=90, seed=0):
    """Three blobs with 50%, 30% and 20% of the rows."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], [n // 2, 3 * n // 10, n - n // 2 - 3 * n // 10])
    rng.shuffle(labels)
    X = rng.normal(size=(n, 2)) + np.array([[0, 0], [3, 0], [0, 3]])[labels]
    return X, labels


def trainer(model, **kw):
    kw = {"loss": "bce", "lr": 0.1, "batch_size": 16, "epochs": 30, "seed": 0, **kw}
    return fm.Trainer(model, **kw)


# -- the validation split ----------------------------------------------------------------

def test_split_is_the_same_for_the_same_seed_and_differs_for_another():
    X, y = fm.datasets.line(200)
    a = trainer(line_model(), seed=0, validation_split=0.2).split(X, y)
    b = trainer(line_model(), seed=0, validation_split=0.2).split(X, y)
    c = trainer(line_model(), seed=1, validation_split=0.2).split(X, y)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    for train, val in (a, c):
        assert len(val) == 40 and len(train) == 160
        assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(200))
        assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)        # data order kept
        assert not np.array_equal(val, np.arange(160, 200))                  # never "the last 20%"


def test_split_is_stratified_for_classifiers():
    X, labels = three_classes(n=200)
    model = fm.MLP([2, 6, 3], output="softmax", seed=0)
    for seed in range(5):
        _, val = fm.Trainer(model, loss="cross_entropy", seed=seed, validation_split=0.25).split(X, labels)
        assert len(val) == 50
        assert np.bincount(labels[val], minlength=3).tolist() == [25, 15, 10]


def test_a_second_fit_validates_on_the_same_rows():
    X, y = fm.datasets.line(100)
    tr = trainer(line_model(), validation_split=0.3, epochs=3)
    first = tr.split(X, y)
    tr.fit(X, y)
    h = tr.fit(X, y)
    again = tr.split(X, y)
    assert np.array_equal(first[1], again[1])
    Xv, yv = X[again[1]], y[again[1]]
    assert h.val_loss[-1] == pytest.approx(fm.get_loss("bce").forward(tr.model.predict(Xv), yv), rel=1e-12)


def test_validation_split_equals_validation_data_of_the_same_rows():
    X, y = fm.datasets.line(150)
    a, b = line_model(), line_model()
    ta = trainer(a, validation_split=0.2)
    train, val = ta.split(X, y)
    ha = ta.fit(X, y)
    hb = trainer(b).fit(X[train], y[train], validation_data=(X[val], y[val]))
    assert np.array_equal(a.params, b.params)
    assert np.array_equal(ha.loss, hb.loss) and np.array_equal(ha.val_loss, hb.val_loss)
    assert np.array_equal(ha.val_metric, hb.val_metric)


def test_validation_does_not_change_training():
    """Monitoring runs between chunks: the weights are those of a run on the
    training rows alone, bit for bit."""
    X, y = fm.datasets.line(120)
    a, b = line_model(), line_model()
    ta = trainer(a, validation_split=0.25, optimizer="adam", lr=0.01)
    train, _ = ta.split(X, y)
    ta.fit(X, y)
    trainer(b, optimizer="adam", lr=0.01).fit(X[train], y[train])
    assert np.array_equal(a.params, b.params)


# -- the History ---------------------------------------------------------------------------

def test_history_holds_validation_loss_metrics_rates_and_the_best_epoch():
    X, y = fm.datasets.line(200)
    model = line_model()
    tr = trainer(model, validation_split=0.2, epochs=25)
    train, val = tr.split(X, y)
    h = tr.fit(X, y)
    assert h.metric == "accuracy" and h.monitor == "val_loss"
    for series in (h.val_loss, h.train_metric, h.val_metric, h.lr):
        assert series.shape == (25,) and np.all(np.isfinite(series))
    assert np.all(h.lr == 0.1)
    assert h.best_epoch == int(np.argmin(h.val_loss)) + 1
    # The last epoch's values are those of the final model.
    pred = model.predict(X[val])
    assert h.val_loss[-1] == pytest.approx(fm.get_loss("bce").forward(pred, y[val]), rel=1e-12)
    assert h.val_metric[-1] == score("binary", pred, y[val])
    assert 0.0 <= h.train_metric.min() and h.train_metric.max() <= 1.0
    d = h.as_dict()
    assert d["val_loss"] == h.val_loss.tolist() and d["metric"] == "accuracy"
    assert d["best_epoch"] == h.best_epoch and d["lr"] == [0.1] * 25


def test_regression_history_has_r2():
    X, y = fm.datasets.celsius(200)
    model = fm.MLP([1, 1], seed=0)
    h = fm.Trainer(model, loss="mse", lr=0.1, epochs=40, seed=0, validation_split=0.2).fit(X, y)
    assert h.metric == "r2"
    assert h.val_metric[-1] > 0.99 and h.val_metric[-1] > h.val_metric[0]


def test_history_without_validation_has_no_validation_fields():
    X, y = fm.datasets.line(64)
    h = trainer(line_model(), epochs=5).fit(X, y)
    assert h.val_loss is None and h.val_metric is None and h.train_metric is None
    assert h.metric is None and h.best_epoch is None and h.lr.tolist() == [0.1] * 5


def test_history_round_trips_through_the_model_file(tmp_path):
    X, y = fm.datasets.line(100)
    model = line_model()
    tr = trainer(model, validation_split=0.2, early_stopping=3, epochs=200)
    h = tr.fit(X, y)
    model.save(tmp_path / "m.npz", trainer=tr)
    f = fm.modelfile.read(tmp_path / "m.npz")
    for key in ("val_loss", "train_metric", "val_metric", "lr", "loss"):
        assert np.array_equal(getattr(f.history, key), getattr(h, key)), key
    assert f.history.best_epoch == h.best_epoch and f.history.metric == "accuracy"
    assert f.history.stop_reason == "early_stopping" and f.history.monitor == "val_loss"
    assert f.trainer["early_stopping"] == {"patience": 3, "min_delta": 0.0, "monitor": "val_loss",
                                           "restore_best": True}
    assert f.trainer["validation_split"] == 0.2


def test_the_training_metric_is_that_of_the_batches_as_they_were_trained():
    """Keras's training metric: each batch scored before its update. With one
    unshuffled full batch that is the model at the start of the epoch, i.e.
    the previous epoch's score on the same rows."""
    X, y = fm.datasets.line(120)
    h = trainer(line_model(), batch_size=120, epochs=20, optimizer="adam", lr=0.05).fit(
        X, y, validation_data=(X, y))
    assert np.array_equal(h.train_metric[1:], h.val_metric[:-1])
    assert h.train_metric[0] == score("binary", line_model().predict(X), y)


def test_the_regression_training_metric_is_r2_over_the_batches():
    X, y = fm.datasets.celsius(80)
    model = fm.MLP([1, 1], seed=0)
    h = fm.Trainer(model, loss="mse", lr=0.1, batch_size=80, epochs=15, seed=0).fit(X, y, validation_data=(X, y))
    np.testing.assert_allclose(h.train_metric[1:], h.val_metric[:-1], rtol=1e-12)


@pytest.mark.parametrize("settings", [
    dict(validation_split=0.2, early_stopping=fm.EarlyStopping(patience=5)),
    dict(validation_split=0.2, early_stopping=fm.EarlyStopping(patience=3, monitor="val_accuracy")),
    dict(early_stopping=fm.EarlyStopping(patience=3, monitor="loss", min_delta=1e-4)),
    dict(validation_split=0.25, lr_schedule="step"),
])
def test_watched_runs_do_not_depend_on_chunking(monkeypatch, settings):
    """Validation and early stopping run inside the engine over many epochs
    per call: the same history and weights as one epoch per engine call."""
    X, y = fm.datasets.line(160, seed=3)
    a, b = line_model(), line_model()
    ha = trainer(a, lr=0.5, epochs=400, **settings).fit(X, y)
    monkeypatch.setattr(trainer_mod, "CHUNK_SECONDS", 0.0)
    hb = trainer(b, lr=0.5, epochs=400, **settings).fit(X, y)
    assert np.array_equal(a.params, b.params)
    assert ha.as_dict() == {**hb.as_dict(), "seconds": ha.seconds}


def test_both_engines_watch_a_run_alike():
    X, y = fm.datasets.line(160, seed=3)
    runs = []
    for engine in fm.engines.ENGINES:
        model = line_model()
        h = trainer(model, lr=0.5, epochs=300, validation_split=0.2, early_stopping=4, engine=engine).fit(X, y)
        assert h.engine == engine
        runs.append((model.params, h))
    (pa, ha), (pb, hb) = runs
    assert np.array_equal(pa, pb) and ha.best_epoch == hb.best_epoch and ha.epochs == hb.epochs
    for series in ("loss", "val_loss", "val_metric", "train_metric"):
        assert np.array_equal(getattr(ha, series), getattr(hb, series)), series


# -- early stopping -------------------------------------------------------------------------

def test_early_stopping_restores_the_best_epoch_bit_identically():
    X, y = fm.datasets.line(300, seed=2)
    model = line_model()
    h = trainer(model, lr=0.5, epochs=500, validation_split=0.2,
                early_stopping=fm.EarlyStopping(patience=5)).fit(X, y)
    assert h.stop_reason == "early_stopping"
    assert h.epochs == h.best_epoch + 5 and h.epochs < 500
    assert h.best_epoch == int(np.nanargmin(h.val_loss)) + 1
    # A run stopped at the best epoch has exactly these weights.
    again = line_model()
    trainer(again, lr=0.5, epochs=h.best_epoch, validation_split=0.2).fit(X, y)
    assert np.array_equal(model.params, again.params)


def test_a_plain_patience_means_early_stopping_with_its_defaults():
    X, y = fm.datasets.line(200)
    a, b = line_model(), line_model()
    ha = trainer(a, lr=0.5, epochs=300, validation_split=0.2, early_stopping=4).fit(X, y)
    hb = trainer(b, lr=0.5, epochs=300, validation_split=0.2, early_stopping=fm.EarlyStopping(patience=4)).fit(X, y)
    assert ha.epochs == hb.epochs and np.array_equal(a.params, b.params)


def test_restore_best_also_when_training_completes():
    X, y = fm.datasets.line(200, seed=1)
    model = line_model()
    h = trainer(model, lr=0.5, epochs=40, validation_split=0.2, early_stopping=1000).fit(X, y)
    assert h.stop_reason == "completed" and h.epochs == 40
    again = line_model()
    trainer(again, lr=0.5, epochs=h.best_epoch, validation_split=0.2).fit(X, y)
    assert np.array_equal(model.params, again.params)


def test_without_restore_best_the_last_weights_stay():
    X, y = fm.datasets.line(200, seed=1)
    model = line_model()
    h = trainer(model, lr=0.5, epochs=500, validation_split=0.2,
                early_stopping=fm.EarlyStopping(patience=3, restore_best=False)).fit(X, y)
    again = line_model()
    trainer(again, lr=0.5, epochs=h.epochs, validation_split=0.2).fit(X, y)
    assert h.stop_reason == "early_stopping" and np.array_equal(model.params, again.params)


def test_min_delta_and_a_higher_is_better_monitor():
    X, labels = three_classes(120)
    model = fm.MLP([2, 8, 3], output="softmax", seed=0)
    h = fm.Trainer(model, loss="cross_entropy", lr=0.05, epochs=400, seed=0, validation_split=0.25,
                   early_stopping=fm.EarlyStopping(patience=5, monitor="val_accuracy", min_delta=0.01)).fit(
        X, labels)
    assert h.monitor == "val_accuracy" and h.stop_reason == "early_stopping"
    best = h.val_metric[h.best_epoch - 1]
    assert best == h.val_metric.max()
    # No later epoch beat the best by more than min_delta.
    assert np.all(h.val_metric[h.best_epoch:] <= best + 0.01)


def test_monitoring_the_training_loss_needs_no_validation_data():
    X, y = fm.datasets.xor()
    model = fm.MLP([2, 8, 1], output="sigmoid", seed=0)
    h = fm.Trainer(model, loss="bce", lr=0.5, batch_size=4, epochs=3000, seed=0,
                   early_stopping=fm.EarlyStopping(patience=3, monitor="loss", min_delta=1e-3)).fit(X, y)
    assert h.stop_reason == "early_stopping" and h.monitor == "loss" and h.val_loss is None
    assert h.best_epoch == h.epochs - 3


class _StopAfter:
    """An interrupt guard whose flag goes up after `polls` chunks, as Ctrl-C would."""

    def __init__(self, polls):
        self.polls = polls

    def __call__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def hit(self):
        self.polls -= 1
        return self.polls < 0


def test_restore_best_on_ctrl_c(monkeypatch):
    X, y = fm.datasets.line(200, seed=2)
    model = line_model()
    tr = trainer(model, lr=0.5, epochs=10_000, validation_split=0.2, early_stopping=10_000)
    # Ctrl-C after the fourth chunk (chunks of 1, 8, 64 and 512 epochs).
    monkeypatch.setattr(trainer_mod, "InterruptGuard", _StopAfter(3))
    with pytest.raises(KeyboardInterrupt):
        tr.fit(X, y)
    h = tr.history
    assert h.stop_reason == "interrupted" and 4 <= h.epochs < 10_000 and h.best_epoch < h.epochs
    monkeypatch.undo()
    again = line_model()
    trainer(again, lr=0.5, epochs=h.best_epoch, validation_split=0.2).fit(X, y)
    assert np.array_equal(model.params, again.params)


class _Blowup(fm.callbacks.Schedule):
    """A rate that makes training diverge from epoch `at` on."""
    name = "blowup"

    def __init__(self, at):
        self.at = at

    def rate(self, epoch):
        return self.base_lr if epoch < self.at else 1e6


def test_restore_best_on_divergence():
    X, y = fm.datasets.celsius(100)
    model = fm.MLP([1, 4, 1], seed=0)
    tr = fm.Trainer(model, loss="mse", lr=0.05, epochs=100, seed=0, validation_split=0.2,
                    early_stopping=50, lr_schedule=_Blowup(12))
    with pytest.raises(fm.TrainingDiverged, match="keeps the weights of epoch 12, the best by val_loss"):
        tr.fit(X, y)
    assert tr.history.best_epoch == 12 and tr.history.stop_reason == "diverged"
    again = fm.MLP([1, 4, 1], seed=0)
    fm.Trainer(again, loss="mse", lr=0.05, epochs=12, seed=0, validation_split=0.2).fit(X, y)
    assert np.array_equal(model.params, again.params)


# -- learning-rate schedules -------------------------------------------------------------------

@pytest.mark.parametrize("schedule, expected", [
    (fm.StepDecay(step_size=3, factor=0.5), [0.1] * 3 + [0.05] * 3 + [0.025] * 3 + [0.0125]),
    (fm.StepDecay(), [0.1] * 2 + [0.05] * 2 + [0.025] * 2 + [0.0125] * 2 + [0.00625] * 2),    # epochs // 4
    (fm.CosineDecay(), [0.05 * (1 + np.cos(np.pi * e / 10)) for e in range(10)]),
    (fm.CosineDecay(epochs=4, min_lr=0.01), [0.01 + 0.045 * (1 + np.cos(np.pi * e / 4)) for e in range(4)]
     + [0.01] * 6),
    ("constant", [0.1] * 10),
])
def test_schedules_set_the_rate_of_each_epoch(schedule, expected):
    X, y = fm.datasets.line(64)
    h = trainer(line_model(), epochs=10, lr_schedule=schedule).fit(X, y)
    np.testing.assert_allclose(h.lr, expected, rtol=1e-12)


@pytest.mark.parametrize("schedule", ["step", "cosine", fm.StepDecay(step_size=3)])
def test_scheduled_runs_do_not_depend_on_chunking(monkeypatch, schedule):
    """A step decay runs many epochs per chunk, a cosine one per epoch: the
    same numbers as one epoch per engine call."""
    X, y = fm.datasets.line(64)
    a, b = line_model(), line_model()
    ha = trainer(a, epochs=24, lr_schedule=schedule, optimizer="adam", lr=0.01).fit(X, y)
    monkeypatch.setattr(trainer_mod, "CHUNK_SECONDS", 0.0)
    hb = trainer(b, epochs=24, lr_schedule=schedule, optimizer="adam", lr=0.01).fit(X, y)
    assert np.array_equal(a.params, b.params) and np.array_equal(ha.lr, hb.lr)


def test_the_rate_passed_per_chunk_is_the_one_used():
    """Two fits at 0.1 then 0.05 equal one fit with a step schedule."""
    X, y = fm.datasets.line(64)
    a, b = line_model(), line_model()
    trainer(a, epochs=10, lr_schedule=fm.StepDecay(step_size=5, factor=0.5)).fit(X, y)
    tb = trainer(b, epochs=5)
    tb.fit(X, y)
    tb.optimizer.lr = 0.05
    tb.fit(X, y)
    assert np.array_equal(a.params, b.params)


def test_plateau_lowers_the_rate_after_patience_epochs():
    X, y = fm.datasets.xor()
    model = fm.MLP([2, 8, 1], output="sigmoid", seed=0)
    plateau = fm.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=10.0, min_lr=0.1)
    h = fm.Trainer(model, loss="bce", lr=0.5, batch_size=4, epochs=12, seed=0, lr_schedule=plateau).fit(X, y)
    # min_delta 10: only the first epoch counts as an improvement; every 2 epochs after it the rate halves.
    assert h.lr.tolist() == [0.5, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125] + [0.1] * 5


def test_plateau_cooldown_and_keras_counting():
    """Keras's order: the cooldown counts down first, and the epoch that ends
    it already counts towards the patience again."""
    plateau = fm.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=1, min_delta=0.0, cooldown=2)
    plateau.start(1.0, epochs=10)
    rates = []
    for value in [5, 5, 5, 5, 5, 4, 4, 4]:
        plateau.observe(value)
        rates.append(plateau.rate(0))
    np.testing.assert_allclose(rates, [1.0, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001])


def test_schedule_and_early_stopping_configs_rebuild_the_trainer():
    tr = trainer(line_model(), validation_split=0.2, early_stopping=fm.EarlyStopping(patience=4, min_delta=0.1),
                 lr_schedule=fm.CosineDecay(epochs=20, min_lr=0.001), standardize=True)
    cfg = tr.config()
    assert cfg["lr_schedule"] == {"name": "cosine", "epochs": 20, "min_lr": 0.001}
    rebuilt = fm.Trainer(line_model(), **cfg)
    assert rebuilt.config() == cfg
    assert isinstance(rebuilt.lr_schedule, fm.CosineDecay) and rebuilt.early_stopping.patience == 4


def test_progress_bar_and_periodic_lines_show_the_validation_loss(capsys):
    X, y = fm.datasets.line(100)
    h = trainer(line_model(), epochs=12, validation_split=0.2, progress=True).fit(X, y)
    progress_line = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "12/12" in progress_line and f"val_loss={h.val_loss[-1]:.4g}" in progress_line
    assert f"loss={h.loss[-1]:.4g}" in progress_line
    h = trainer(line_model(), epochs=12, validation_split=0.2, print_every=4).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"epoch {e}/12  loss {h.loss[e - 1]:.6g}  val_loss {h.val_loss[e - 1]:.6g}  "
                     f"val_accuracy {h.val_metric[e - 1]:.4g}" for e in (4, 8, 12)]
