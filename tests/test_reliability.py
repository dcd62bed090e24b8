"""Divergence, interruption, reproducibility, threads and an unwritable numba
cache: training never loses or corrupts what it has done, and the same inputs
always give bit-identical results."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import fastmlp as fm

OPTIMIZERS = {
    "sgd": dict(optimizer="sgd"),
    "momentum": dict(optimizer="sgd", momentum=0.9),
    "nesterov": dict(optimizer="sgd", momentum=0.9, nesterov=True),
    "adam": dict(optimizer="adam"),
}
PACKAGE_DIR = os.path.dirname(os.path.abspath(fm.__file__))


def line(n=64):
    return fm.datasets.line(n, seed=0)


def train(epochs, X, y, arch=(2, 8, 1), dtype=np.float64, seed=0, model_seed=0, output="identity",
          loss="mse", **kw):
    """A fresh model and trainer; returns (model, trainer, history or the exception raised)."""
    model = fm.MLP(list(arch), output=output, dtype=dtype, seed=model_seed)
    kw.setdefault("lr", 0.1)
    kw.setdefault("batch_size", 8)
    trainer = fm.Trainer(model, loss=loss, epochs=epochs, seed=seed, **kw)
    try:
        result = trainer.fit(X, y)
    except fm.TrainingDiverged as exc:
        result = exc
    return model, trainer, result


def run_python(code, env=None, timeout=600, cwd=None):
    """Run code in a fresh interpreter; returns its stdout (fails the test on a non-zero exit)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=cwd)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


# -- divergence -----------------------------------------------------------------------------------

def check_diverged(exc, model, trainer, X, y, run_kwargs):
    """The model holds exactly the weights of a run of (epoch - 1) epochs, with its history."""
    assert isinstance(exc, fm.TrainingDiverged) and isinstance(exc, FloatingPointError)
    kept = exc.epoch - 1
    history = trainer.history
    assert exc.history is history
    assert history.stop_reason == "diverged"
    assert history.epochs == kept == len(history.loss)
    assert np.all(np.isfinite(history.loss))
    assert np.all(np.isfinite(model.params))
    msg = str(exc)
    assert f"diverged in epoch {exc.epoch}" in msg
    assert "lower learning rate" in msg and "scale the inputs" in msg
    if kept:
        assert exc.last_loss == history.loss[-1]
        assert f"last finite epoch loss: {exc.last_loss:.6g}" in msg
        assert f"weights of epoch {kept}" in msg
    else:
        assert np.isnan(exc.last_loss)
        assert "before this fit" in msg
    ref_model, ref_trainer, ref_history = train(kept, X, y, **run_kwargs)
    assert isinstance(ref_history, fm.History)
    np.testing.assert_array_equal(model.params, ref_model.params)
    np.testing.assert_array_equal(history.loss, ref_history.loss)
    if ref_trainer.optimizer.state is not None:
        np.testing.assert_array_equal(trainer.optimizer.state, ref_trainer.optimizer.state)
        assert trainer.optimizer.step[0] == ref_trainer.optimizer.step[0]


@pytest.mark.parametrize("opt", ["sgd", "momentum", "nesterov"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_with_a_huge_learning_rate_diverges_cleanly(opt, dtype):
    X, y = line()
    kwargs = dict(lr=1e6, dtype=dtype, **OPTIMIZERS[opt])
    model, trainer, exc = train(50, X, y, **kwargs)
    check_diverged(exc, model, trainer, X, y, kwargs)
    if dtype == np.float64:
        assert exc.epoch > 2          # several finite epochs were kept, not just the initial weights


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_with_a_huge_learning_rate_and_huge_inputs_diverges_cleanly(dtype):
    # Adam's steps are bounded by lr, so lr=1e6 alone does not overflow; huge inputs do.
    X, y = line()
    X = X * (1e10 if dtype == np.float32 else 1e160)
    kwargs = dict(lr=1e6, dtype=dtype, optimizer="adam")
    model, trainer, exc = train(50, X, y, **kwargs)
    check_diverged(exc, model, trainer, X, y, kwargs)


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_divergence_after_good_epochs_restores_weights_and_optimizer_state(opt):
    """A second fit that diverges at once leaves weights, momentum/Adam state and
    step count exactly as the first fit left them."""
    X, y = line()
    model = fm.MLP([2, 8, 1], seed=0)
    trainer = fm.Trainer(model, loss="mse", lr=0.05, batch_size=8, epochs=3, seed=0, **OPTIMIZERS[opt])
    trainer.fit(X, y)
    params, state, step = model.params.copy(), trainer.optimizer.state.copy(), trainer.optimizer.step.copy()
    with pytest.raises(fm.TrainingDiverged) as excinfo:
        trainer.fit(X * 1e160, y)
    assert excinfo.value.epoch == 1 and trainer.history.epochs == 0
    np.testing.assert_array_equal(model.params, params)
    np.testing.assert_array_equal(trainer.optimizer.state, state)
    np.testing.assert_array_equal(trainer.optimizer.step, step)
    # and training goes on from there
    h = trainer.fit(X, y, epochs=2)
    assert h.stop_reason == "completed" and np.all(np.isfinite(h.loss)) and h.loss[-1] < 1.0


def test_divergence_of_a_bce_and_a_cross_entropy_model():
    X, y = line()
    m, t, exc = train(100, X, y, output="sigmoid", loss="mse", lr=1e6)
    # a sigmoid output bounds mse: no overflow, no divergence, finite weights
    assert isinstance(exc, fm.History) and np.all(np.isfinite(m.params))
    kw = dict(arch=(2, 8, 8, 2), output="softmax", loss="cross_entropy", lr=1e6)
    labels = y.ravel().astype(int)
    m, t, exc = train(100, X * 1e150, labels, **kw)
    check_diverged(exc, m, t, X * 1e150, labels, kw)


# -- Ctrl-C ---------------------------------------------------------------------------------------

@pytest.fixture
def sigint_on_call(monkeypatch):
    """Make the engine (either of them) deliver a real SIGINT to this process
    during its k-th call."""
    real_generic = fm.kernels.train_epochs
    real_specialized = fm.engines.specialized
    calls = {"n": 0}

    def arm(k):
        def counted(real):
            def wrapped(*args):
                calls["n"] += 1
                if calls["n"] == k:
                    os.kill(os.getpid(), signal.SIGINT)
                return real(*args)
            return wrapped
        monkeypatch.setattr(fm.kernels, "train_epochs", counted(real_generic))
        monkeypatch.setattr(fm.engines, "specialized", lambda *key: counted(real_specialized(*key)))
        return calls
    return arm


@pytest.mark.parametrize("engine", ["generic", "specialized"])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_ctrl_c_keeps_the_last_completed_epoch(sigint_on_call, opt, engine):
    X, y = line(40)
    calls = sigint_on_call(3)
    model, trainer = fm.MLP([2, 8, 1], seed=0), None
    trainer = fm.Trainer(model, loss="mse", lr=0.05, batch_size=8, epochs=10**7, seed=3, engine=engine,
                         **OPTIMIZERS[opt])
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match="interrupted after epoch"):
        trainer.fit(X, y)
    assert calls["n"] == 3                                   # stopped right after the chunk it hit
    assert signal.getsignal(signal.SIGINT) is handler          # the previous handler is back
    h = trainer.history
    assert h.stop_reason == "interrupted" and h.engine == engine
    assert 3 <= h.epochs == len(h.loss) and h.steps == h.epochs * 5
    ref_model, ref_trainer, ref_h = train(h.epochs, X, y, lr=0.05, seed=3, model_seed=0, **OPTIMIZERS[opt])
    np.testing.assert_array_equal(model.params, ref_model.params)
    np.testing.assert_array_equal(h.loss, ref_h.loss)
    np.testing.assert_array_equal(trainer.optimizer.state, ref_trainer.optimizer.state)


def test_ctrl_c_from_a_timer_during_a_long_fit():
    """The brief's scenario: SIGINT from another thread while fit runs a long job."""
    X, y = line(32)
    model = fm.MLP([2, 8, 1], seed=1)
    trainer = fm.Trainer(model, loss="mse", lr=0.05, batch_size=4, epochs=10**9, seed=7, optimizer="adam")
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            trainer.fit(X, y)
    finally:
        timer.cancel()
    h = trainer.history
    assert h.stop_reason == "interrupted" and 0 < h.epochs == len(h.loss) < 10**9
    ref_model, _, ref_h = train(h.epochs, X, y, model_seed=1, seed=7, lr=0.05, batch_size=4, optimizer="adam")
    np.testing.assert_array_equal(model.params, ref_model.params)
    np.testing.assert_array_equal(h.loss, ref_h.loss)


def test_ignored_sigint_stays_ignored(sigint_on_call):
    X, y = line(40)
    sigint_on_call(2)
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        model, trainer, h = train(50, X, y)
    finally:
        signal.signal(signal.SIGINT, old)
    assert h.stop_reason == "completed" and h.epochs == 50


def test_ctrl_c_in_a_real_process_exits_with_keyboard_interrupt(tmp_path):
    """A separate interpreter trains for ever; SIGINT stops it with a consistent
    partial history, which the script saves before dying of KeyboardInterrupt."""
    out = tmp_path / "partial.npz"
    code = f"""
        import os, sys, numpy as np, fastmlp as fm
        X, y = fm.datasets.line(32, seed=0)
        model = fm.MLP([2, 8, 1], seed=0)
        trainer = fm.Trainer(model, loss="mse", lr=0.05, batch_size=8, epochs=10**9, seed=5, optimizer="adam")
        print("ready", flush=True)
        try:
            trainer.fit(X, y)
        except KeyboardInterrupt:
            np.savez({str(out)!r}, params=model.params, loss=trainer.history.loss)
            raise
    """
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        threading.Event().wait(1.5)          # let it compile/load and run some epochs
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    saved = np.load(out)
    epochs = len(saved["loss"])
    ref_model, _, ref_h = train(epochs, *line(32), lr=0.05, batch_size=8, seed=5, optimizer="adam")
    np.testing.assert_array_equal(saved["params"], ref_model.params)
    np.testing.assert_array_equal(saved["loss"], ref_h.loss)


# -- reproducibility ------------------------------------------------------------------------------

CONFIGS = [(opt, dtype) for opt in OPTIMIZERS for dtype in ("float32", "float64")]


def fingerprint(opt, dtype, seed, model_seed=0):
    """Train a small classifier with shuffling and return (params, history) as bytes' hex digests."""
    import hashlib
    X, y = fm.datasets.line(48, seed=1)
    model = fm.MLP([2, 16, 16, 1], output="sigmoid", dtype=np.dtype(dtype).type, seed=model_seed)
    h = fm.Trainer(model, loss="bce", lr=0.05, batch_size=5, epochs=20, seed=seed, alpha=1e-4,
                   **OPTIMIZERS[opt]).fit(X, y)
    return (hashlib.sha256(model.params.tobytes()).hexdigest(), hashlib.sha256(h.loss.tobytes()).hexdigest())


@pytest.mark.parametrize("opt,dtype", CONFIGS)
def test_same_seed_gives_bit_identical_runs_and_other_seeds_differ(opt, dtype):
    a = fingerprint(opt, dtype, seed=11)
    assert fingerprint(opt, dtype, seed=11) == a
    b = fingerprint(opt, dtype, seed=12)
    assert b[0] != a[0] and b[1] != a[1]                   # another shuffling seed
    c = fingerprint(opt, dtype, seed=11, model_seed=1)
    assert c[0] != a[0] and c[1] != a[1]                   # another initialisation seed


def test_runs_are_bit_identical_across_processes():
    here = {f"{opt}-{dtype}": list(fingerprint(opt, dtype, seed=11)) for opt, dtype in CONFIGS}
    code = f"""
        import json, sys
        sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
        from test_reliability import CONFIGS, fingerprint
        print(json.dumps({{f"{{opt}}-{{dtype}}": list(fingerprint(opt, dtype, seed=11)) for opt, dtype in CONFIGS}}))
    """
    there = json.loads(run_python(code).strip().splitlines()[-1])
    assert there == here


# -- threads --------------------------------------------------------------------------------------

THREAD_JOBS = [
    # (architecture, dtype, optimizer, batch): the wide ones go through BLAS, the narrow through hand loops
    ((20, 64, 64, 3), np.float64, "adam", 32),
    ((20, 64, 64, 3), np.float32, "momentum", 32),
    ((2, 8, 1), np.float64, "nesterov", 4),
    ((2, 8, 1), np.float32, "sgd", 1),
]


def thread_job(arch, dtype, opt, batch):
    rng = np.random.default_rng(sum(arch))
    X = rng.normal(size=(256, arch[0]))
    labels = rng.integers(0, arch[-1], size=256) if arch[-1] > 1 else rng.integers(0, 2, size=(256, 1))
    model = fm.MLP(list(arch), output="softmax" if arch[-1] > 1 else "sigmoid", dtype=dtype, seed=3)
    loss = "cross_entropy" if arch[-1] > 1 else "bce"
    h = fm.Trainer(model, loss=loss, lr=0.01, batch_size=batch, epochs=15, seed=4, **OPTIMIZERS[opt]).fit(X, labels)
    return model.params.copy(), h.loss.copy(), model.predict(X)


def test_concurrent_training_in_threads_equals_sequential():
    sequential = [thread_job(*job) for job in THREAD_JOBS]
    for rounds in range(2):
        results = [None] * len(THREAD_JOBS)
        errors = []
        barrier = threading.Barrier(len(THREAD_JOBS))

        def work(i):
            try:
                barrier.wait()
                results[i] = thread_job(*THREAD_JOBS[i])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(THREAD_JOBS))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for seq, par in zip(sequential, results):
            for a, b in zip(seq, par):
                np.testing.assert_array_equal(a, b)


def test_two_trainers_on_one_dataset_in_threads():
    """The shared, read-only X and y are never written by the engine."""
    X, y = line(200)
    X.setflags(write=False)
    y.setflags(write=False)

    def job(seed, out):
        model = fm.MLP([2, 32, 1], output="sigmoid", seed=seed)
        fm.Trainer(model, loss="bce", lr=0.1, batch_size=10, epochs=30, seed=seed).fit(X, y)
        out[seed] = model.params.copy()
    par = {}
    threads = [threading.Thread(target=job, args=(s, par)) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seq = {}
    for s in (0, 1):
        job(s, seq)
    for s in (0, 1):
        np.testing.assert_array_equal(par[s], seq[s])
    np.testing.assert_array_equal(X, line(200)[0])


# -- numba's cache directory not writable -----------------------------------------------------------

def _make_read_only(path):
    for root, dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            os.chmod(p, os.stat(p).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        os.chmod(root, os.stat(root).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.mark.slow
def test_imports_and_trains_when_no_cache_location_is_writable(tmp_path):
    """A read-only install, NUMBA_CACHE_DIR and HOME unusable: numba refuses cache=True
    at decoration, kernels.py falls back to compiling in memory, and XOR trains.
    (Slow: the engine compiles from scratch, 20-50 s on a loaded machine.)

    chmod alone does not stop root, so every location numba tries is also made
    impossible as a directory: the package's __pycache__ is a plain file, and
    NUMBA_CACHE_DIR and ~/.cache lie under plain files."""
    site = tmp_path / "site"
    pkg = site / "fastmlp"
    shutil.copytree(PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (pkg / "__pycache__").write_text("not a directory\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cache").write_text("not a directory\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n")
    _make_read_only(site)
    _make_read_only(home)
    before = sorted(p for p in map(str, tmp_path.rglob("*")))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_", "PYTHON"))}
    env.update(NUMBA_CACHE_DIR=str(blocker / "numba"), HOME=str(home), PYTHONPATH=str(site),
               PYTHONDONTWRITEBYTECODE="1")
    code = f"""
        import os, sys, numpy as np
        import fastmlp as fm
        assert fm.__file__.startswith({str(site)!r}), fm.__file__
        from numba.core.caching import NullCache
        kernels = [getattr(fm.kernels, n) for n in dir(fm.kernels) if hasattr(getattr(fm.kernels, n), "signatures")]
        # the fallback branch ran for every kernel: none has an on-disk cache
        assert kernels and all(isinstance(k._cache, NullCache) for k in kernels)
        X, y = fm.datasets.xor()
        model = fm.MLP([2, 8, 1], activation="relu", output="sigmoid", dtype=np.float32, seed=0)
        fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=10_000, seed=0).fit(X, y)
        # checked with the numpy oracle: compiling predict_into too would add seconds
        print((fm.reference.Net.from_model(model).predict(X) > 0.5).astype(int).ravel().tolist())
    """
    try:
        out = run_python(code, env=env, cwd=str(tmp_path))
    finally:
        for root, dirs, files in os.walk(tmp_path):
            os.chmod(root, 0o755)
    assert out.strip().splitlines()[-1] == "[0, 1, 1, 0]"
    after = sorted(p for p in map(str, tmp_path.rglob("*")))
    assert after == before                                   # nothing was written anywhere


def test_cache_fallback_branch_is_the_one_in_kernels():
    """kernels.jit catches numba's RuntimeError ('no locator available') and
    compiles without a cache instead."""
    import numba
    from fastmlp import kernels

    calls = []
    real = numba.njit

    def fake_njit(**opts):
        calls.append(opts["cache"])
        if opts["cache"]:
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x.py'")
        return real(**opts)

    orig = kernels.numba.njit
    kernels.numba.njit = fake_njit
    try:
        f = kernels.jit(lambda a: a + 1)
    finally:
        kernels.numba.njit = orig
    assert calls == [True, False]
    assert f(41) == 42
