"""Shared fixtures of the pytest-benchmark suite (``make bench``).

Run: ``pytest bench --benchmark-only`` (not part of ``make test``: pyproject's
testpaths is ``tests``). Every benchmark warms its compiled function once
before timing, so compilation (or loading numba's cache) is never timed.
The benchmarks only measure; their assertions check results, never timings.
"""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.bench import Workload

DTYPE = np.float32


@pytest.fixture(scope="session", autouse=True)
def warm_engine():
    """Compile (or load from numba's cache) the float32 engine and predict once
    per session, before anything is timed."""
    X, y = fm.datasets.xor()
    model = fm.MLP([2, 8, 1], output="sigmoid", dtype=DTYPE, seed=0)
    fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=2, seed=0).fit(X, y)
    model.predict(X)


@pytest.fixture(scope="session")
def workloads():
    """The comparison runner's workloads (fastmlp.bench.WORKLOADS), built once."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = Workload(name)
        return cache[name]

    return get


@pytest.fixture
def rng():
    return np.random.default_rng(0)
