"""Reading data files: fastmlp.datasets.load_table / load."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.datasets import DataError, load, load_table


def test_csv_with_a_utf8_byte_order_mark(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b,label\n0,0,0\n0,1,1\n")
    data, names = load_table(path)
    assert names == ["a", "b", "label"]
    assert data.tolist() == [[0.0, 0.0, 0.0], [0.0, 1.0, 1.0]]
    X, y, features = load(path, target="a")
    assert features == ["b", "label"] and y.ravel().tolist() == [0.0, 0.0]


@pytest.mark.parametrize("y_shape", [(4,), (4, 1)])
def test_npz_X_and_y_become_features_and_last_column(tmp_path, y_shape):
    X, y = fm.datasets.xor()
    np.savez(tmp_path / "d.npz", X=X, y=y.reshape(y_shape))
    data, names = load_table(tmp_path / "d.npz")
    assert names == ["x1", "x2", "x3"]
    assert np.array_equal(data, np.hstack([X, y]))


def test_npz_with_one_dimensional_X_is_one_feature(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.array([1.0, 2.0, 3.0]), y=np.array([0, 1, 1]))
    data, names = load_table(tmp_path / "d.npz")
    assert data.tolist() == [[1.0, 0.0], [2.0, 1.0], [3.0, 1.0]]


@pytest.mark.parametrize("y, words", [
    (lambda y: np.c_[y, 1 - y], "y has shape (4, 2); expected one target column, of shape (n,) or (n, 1)."),
    (lambda y: np.zeros((4, 1, 1)),
     "y has shape (4, 1, 1); expected one target column, of shape (n,) or (n, 1)."),
    (lambda y: y[:3], "X has 4 rows but y has 3; expected the same number of rows."),
    (lambda y: y.ravel()[:3], "X has 4 rows but y has 3; expected the same number of rows."),
    (lambda y: np.array(["a", "b", "c", "d"]), "y has dtype <U1; expected numbers."),
])
def test_npz_with_a_bad_y_is_refused(tmp_path, y, words):
    X, y0 = fm.datasets.xor()
    path = tmp_path / "bad.npz"
    np.savez(path, X=X, y=y(y0))
    with pytest.raises(DataError) as excinfo:
        load_table(path)
    assert str(excinfo.value) == f"{path}: {words}"


def test_npz_with_a_three_dimensional_X_is_refused(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.zeros((4, 2, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match=r"X has shape \(4, 2, 2\); expected a 2-D array"):
        load_table(path)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(DataError) as excinfo:
        load_table(tmp_path)
    assert str(excinfo.value) == f"{tmp_path} is a directory; expected a .csv, .npy or .npz file."
