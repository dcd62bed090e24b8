"""fastmlp's estimators on Dask and in threads: hyperparameter sweeps on a
LocalCluster of worker processes give the n_jobs=1 results, estimators make
the round trip through a worker, dask-ml's Incremental equals partial_fit by
hand, and models trained in threads equal models trained one after the other.

The module starts one LocalCluster (two worker processes, one thread each,
on the loopback interface) and stops it at the end.
"""

import pickle
import sys
import warnings

import cloudpickle
import dask.array as da
import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from scipy.stats import loguniform
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

import fastmlp as fm

SCORES = ["mean_test_score", "std_test_score", "rank_test_score"] + [f"split{i}_test_score" for i in range(3)]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def client():
    # Functions of this module run on the workers, which cannot import it.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def classification(n=300, seed=0):
    return make_classification(n_samples=n, n_features=6, n_informative=4, n_redundant=0, n_classes=3,
                               random_state=seed)


def fastmlp_file():
    return fm.__file__


def test_workers_are_processes_running_this_fastmlp(client):
    files = client.run(fastmlp_file)
    assert len(files) == 2
    assert set(files.values()) == {fm.__file__}
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in files)
    pids = client.run(lambda: __import__("os").getpid())
    assert len(set(pids.values())) == 2 and __import__("os").getpid() not in pids.values()


def _same_search(serial, dist, exact=True):
    assert dist.best_params_ == serial.best_params_
    assert dist.cv_results_["params"] == serial.cv_results_["params"]
    for key in SCORES:
        if exact:
            np.testing.assert_array_equal(dist.cv_results_[key], serial.cv_results_[key], err_msg=key)
        else:
            np.testing.assert_allclose(dist.cv_results_[key], serial.cv_results_[key], rtol=1e-12, err_msg=key)


def test_grid_search_on_the_cluster_equals_n_jobs_1(client):
    X, y = classification()
    est = fm.MLPClassifier(max_iter=40, learning_rate_init=0.01, random_state=0)
    grid = {"hidden_layer_sizes": [(4,), (16,)], "alpha": [1e-4, 1.0]}
    serial = GridSearchCV(est, grid, cv=3, n_jobs=1).fit(X, y)
    with get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        dist = GridSearchCV(est, grid, cv=3, n_jobs=-1).fit(X, y)
    workers = {t["worker"] for t in stream.data}
    assert len(workers) == 2                     # the fits ran on both worker processes
    _same_search(serial, dist)
    assert len(set(serial.cv_results_["mean_test_score"])) == 4      # the settings are told apart
    np.testing.assert_array_equal(dist.best_estimator_.predict_proba(X), serial.best_estimator_.predict_proba(X))


def test_randomized_search_of_a_regressor_on_the_cluster_equals_n_jobs_1(client):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(240, 4))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    est = fm.MLPRegressor(max_iter=30, learning_rate_init=0.01, random_state=0, dtype=np.float32)
    space = {"alpha": loguniform(1e-5, 1e-1), "hidden_layer_sizes": [(8,), (8, 8), (32,)],
             "activation": ["relu", "tanh"]}
    serial = RandomizedSearchCV(est, space, n_iter=5, cv=3, random_state=0, n_jobs=1).fit(X, y)
    with joblib.parallel_config(backend="dask"):
        dist = RandomizedSearchCV(est, space, n_iter=5, cv=3, random_state=0, n_jobs=-1).fit(X, y)
    _same_search(serial, dist, exact=False)
    assert len(set(serial.cv_results_["mean_test_score"])) == 5


def test_estimators_pickle_and_make_the_round_trip_through_a_worker(client):
    X, y = classification(200, seed=2)
    est = fm.MLPClassifier((10,), max_iter=30, random_state=0)
    twin = pickle.loads(pickle.dumps(est))                   # unfitted
    assert twin.get_params() == est.get_params() and not hasattr(twin, "coefs_")

    local = clone(est).fit(X, y)
    remote = client.submit(clone(est).fit, X, y).result()    # fitted on a worker, sent back
    for a, b in zip(remote.coefs_ + remote.intercepts_, local.coefs_ + local.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert remote.loss_curve_ == local.loss_curve_
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))

    # A fitted estimator sent to a worker predicts there as it does here.
    np.testing.assert_array_equal(client.submit(local.predict_proba, X).result(), local.predict_proba(X))
    np.testing.assert_array_equal(client.submit(local.predict, X).result(), local.predict(X))

    # and keeps training there from its optimizer state, as it would here.
    more = client.submit(local.partial_fit, X[:50], y[:50]).result()
    here = pickle.loads(pickle.dumps(local)).partial_fit(X[:50], y[:50])
    for a, b in zip(more.coefs_, here.coefs_):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(more.coefs_[0], local.coefs_[0])


def test_incremental_trains_block_by_block_like_partial_fit_by_hand(client):
    from dask_ml.wrappers import Incremental
    X, y = classification(1200, seed=3)
    Xd = da.from_array(X, chunks=(100, 6))
    yd = da.from_array(y, chunks=100)
    assert Xd.numblocks == (12, 1)

    def new():
        return fm.MLPClassifier((12,), learning_rate_init=0.01, batch_size=25, random_state=0)

    inc = Incremental(new(), shuffle_blocks=False).fit(Xd, yd, classes=[0, 1, 2])
    by_hand = new()
    for start in range(0, 1200, 100):
        by_hand.partial_fit(X[start:start + 100], y[start:start + 100], classes=[0, 1, 2])
    fitted = inc.estimator_
    assert fitted.t_ == by_hand.t_ == 1200
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, by_hand.coefs_ + by_hand.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(inc.predict(Xd).compute(), by_hand.predict(X))
    np.testing.assert_array_equal(inc.predict_proba(Xd).compute(), by_hand.predict_proba(X))
    assert inc.score(Xd, yd) > 0.6

    # Incremental.partial_fit continues from the fitted weights: a second pass over the blocks.
    inc.partial_fit(Xd, yd, classes=[0, 1, 2])
    for start in range(0, 1200, 100):
        by_hand.partial_fit(X[start:start + 100], y[start:start + 100])
    assert inc.estimator_.t_ == by_hand.t_ == 2400
    for a, b in zip(inc.estimator_.coefs_, by_hand.coefs_):
        np.testing.assert_array_equal(a, b)

    # classes= is what lets the first block's partial_fit know every label.
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        Incremental(new(), shuffle_blocks=False).fit(Xd, yd)


def test_models_trained_in_threads_equal_models_trained_one_after_the_other():
    X, y = classification(400, seed=4)
    models = [fm.MLPClassifier((32, 32), max_iter=15, random_state=seed) for seed in (0, 1, 2, 3)]
    one_by_one = [clone(m).fit(X, y) for m in models]
    with joblib.parallel_config(backend="threading", n_jobs=2):
        threaded = joblib.Parallel()(joblib.delayed(clone(m).fit)(X, y) for m in models)
    for a, b in zip(threaded, one_by_one):
        assert a.loss_curve_ == b.loss_curve_
        for wa, wb in zip(a.coefs_, b.coefs_):
            np.testing.assert_array_equal(wa, wb)
