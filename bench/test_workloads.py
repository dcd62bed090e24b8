"""pytest-benchmark of the three workloads trained end to end with fastmlp
(the same settings as ``fastmlp bench``; see ``fastmlp.bench.WORKLOADS``).

    pytest bench/test_workloads.py --benchmark-only --benchmark-columns=min,median,rounds

Every round trains a fresh copy of the same initial model, so rounds are
identical work. ``extra_info`` records the steps of one round and, once
timed, the best time per step. Besides ``Trainer.fit`` this times the bare
engine (``kernels.train_epochs`` in one call) on xor: the difference is what
chunking, history and progress reporting cost (budget: 10%).
The assertions check the training results, never the timings.
"""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import kernels as K

ROUNDS = {"xor": 15, "line": 15, "wide": 3}


def _trainer(wl, model, epochs=None, **kwargs):
    return fm.Trainer(model, loss=wl.loss, lr=wl.lr, batch_size=wl.batch,
                      epochs=wl.epochs if epochs is None else epochs, shuffle=True, seed=0, **kwargs)


def _record(benchmark, steps):
    benchmark.extra_info["steps"] = int(steps)
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is not None:
        benchmark.extra_info["us_per_step_min"] = stats.min / steps * 1e6


def _check(wl, history):
    assert history.stop_reason == "completed"
    assert history.epochs == wl.epochs
    assert np.all(np.isfinite(history.loss))
    if wl.name == "xor":
        assert history.final_loss < 0.01
    elif wl.name == "line":
        assert history.final_loss < 0.1
    else:
        assert history.final_loss < history.loss[0]


@pytest.mark.parametrize("name", ["xor", "line", "wide"])
def test_fit(benchmark, workloads, name):
    """Trainer.fit of the whole workload from the shared initial weights."""
    wl = workloads(name)
    _trainer(wl, wl.model0.copy(), epochs=1).fit(wl.X, wl.Y)  # warm-up
    trainers = []

    def setup():
        trainers.append(_trainer(wl, wl.model0.copy()))
        return (trainers[-1],), {}

    history = benchmark.pedantic(lambda t: t.fit(wl.X, wl.Y), setup=setup, rounds=ROUNDS[name])
    _record(benchmark, wl.epochs * wl.steps_per_epoch)
    benchmark.extra_info["gflop_per_round"] = wl.flops_per_epoch * wl.epochs / 1e9
    _check(wl, history)
    if name != "wide":  # wide's labels are random: nothing to reach in 2 epochs
        assert wl.accuracy(trainers[-1].model.predict(wl.X)) > 0.95


def test_fit_xor_progress(benchmark, workloads):
    """xor with a tqdm progress bar (written to the captured stderr)."""
    wl = workloads("xor")

    def setup():
        return (_trainer(wl, wl.model0.copy(), progress=True),), {}

    history = benchmark.pedantic(lambda t: t.fit(wl.X, wl.Y), setup=setup, rounds=ROUNDS["xor"])
    _record(benchmark, wl.epochs * wl.steps_per_epoch)
    _check(wl, history)


def _engine_args(wl, epochs):
    """The arguments Trainer.fit passes to kernels.train_epochs, for one call
    that runs `epochs` epochs without shuffling (xor is a single full batch)."""
    model = wl.model0.copy()
    trainer = _trainer(wl, model, epochs=epochs)
    X = model.check_input(wl.X)
    Y = model.check_target(wl.Y, X.shape[0], loss=trainer.loss.name)
    settings, _, shuffle = trainer.engine_settings(X.shape[0])
    assert not shuffle
    opt = trainer.optimizer
    opt.init_state(model.n_params, model.dtype)
    # no sparse input, no sample weights, samples in their order
    return (model.params, model.grads, model.layout, trainer.loss.kind, X, None, None, None, Y, None, None,
            np.zeros((0, X.shape[0])), settings, opt.first_moment, opt.second_moment, opt.step,
            np.empty(epochs), np.zeros(2, dtype=np.int64))


def test_engine_xor(benchmark, workloads):
    """The bare fused engine: all 10,000 xor steps in one compiled call."""
    wl = workloads("xor")
    K.train_epochs(*_engine_args(wl, 1))

    def setup():
        return _engine_args(wl, wl.epochs), {}

    benchmark.pedantic(K.train_epochs, setup=setup, rounds=ROUNDS["xor"])
    _record(benchmark, wl.epochs)
    args = _engine_args(wl, wl.epochs)
    K.train_epochs(*args)
    losses, status = args[-2], args[-1]
    assert status[K.S_EPOCHS] == wl.epochs and losses[-1] < 0.01
    # The same weights as Trainer.fit reaches.
    model = wl.model0.copy()
    _trainer(wl, model).fit(wl.X, wl.Y)
    np.testing.assert_array_equal(args[0], model.params)


def test_engine_call_xor(benchmark, workloads):
    """Fixed cost of one call of the engine running a single xor step: what
    each chunk boundary of Trainer.fit costs at least."""
    wl = workloads("xor")

    args = _engine_args(wl, 1)
    K.train_epochs(*args)
    benchmark(K.train_epochs, *args)
    assert args[-1][K.S_EPOCHS] == 1
