"""Shared test settings.

Hypothesis profiles (property tests in test_properties.py):
  default   100 examples per property (a few seconds once the kernels are compiled);
  thorough  2000 per property:  pytest --hypothesis-profile=thorough tests/test_properties.py
Both use deadline=None: the first call of a compiled kernel in a process
compiles (or loads from numba's cache) for seconds, which a per-example
deadline would report as a flaky failure.
"""

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
)

settings.register_profile("default", max_examples=100, **_COMMON)
settings.register_profile("thorough", max_examples=2000, **_COMMON)
settings.load_profile("default")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: compiles the engine from scratch in a subprocess "
                                       "(deselect with -m 'not slow')")


@pytest.fixture(scope="module")
def one_blas_thread():
    """One OpenBLAS thread for a test module of small scikit-learn-sized fits
    (`pytestmark = pytest.mark.usefixtures("one_blas_thread")`): on a loaded
    2-core machine, two threads per product make them up to 50x slower (the
    threads spin against other processes), and the suite's run time
    unpredictable. Results do not depend on it."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        yield
