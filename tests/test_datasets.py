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


# -- the fast reader (numpy's C parser) and its slow pass for errors ---------------------------

from fastmlp import datasets as ds  # noqa: E402


@pytest.mark.parametrize("text", [
    "a,b,c\n1,2,3\n4.5,-6e-3,+7\n",
    "a,b,c\r\n1,2,3\r\n4,5,6\r\n",                        # Windows line ends
    "a, b ,c\n 1 , 2,3\n4,5 ,6",                            # spaces, no final newline
    '"a","b c","d"\n"1",2,"3.25"\n4,"5",6\n',               # quoted names and cells
    "a,b,c\n1,2,3\n\n4,5,6\n\n",                            # empty lines
])
def test_fast_reader_reads_what_the_csv_module_reads(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    data, names = load_table(path)
    slow, slow_names, _ = ds._read_csv_slowly(str(path), ds._csv_start(str(path))[0])
    assert names == slow_names and names[0] == "a"
    assert np.array_equal(data, slow)


def test_rows_the_c_parser_refuses_but_are_fine_take_the_slow_pass(tmp_path):
    """A row of empty cells (",,") is skipped as before; the slow pass reads the file."""
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n,\n   \n3,4\n")
    data, names = load_table(path)
    assert names == ["a", "b"] and data.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_a_large_file_is_read_exactly_as_np_loadtxt_reads_it(tmp_path):
    X = np.random.default_rng(0).normal(size=(5000, 6))
    path = tmp_path / "big.csv"
    np.savetxt(path, X, delimiter=",", fmt="%.17g", header="a,b,c,d,e,f", comments="")
    data, names = load_table(path)
    assert names == list("abcdef") and np.array_equal(data, X)


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,2\n3,x\n", "non-numeric value 'x' in row 3, column 'b'."),
    ("a,b\n1,2\n3,\n", "non-numeric value '' in row 3, column 'b'."),
    ("a,b,c\n1,2\n", "row 2 has 2 cells, but the header has 3."),
    ("a,b\n1,2,3\n", "row 2 has 3 cells, but the header has 2."),
])
def test_errors_name_the_row_and_column(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(DataError) as excinfo:
        load_table(path)
    assert str(excinfo.value) == f"{path}: {message}"


def test_what_only_python_reads_is_read_as_before(tmp_path):
    """Python's float() takes "1_0" (the C parser does not): the slow pass reads it, as the old reader did."""
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,1_0\n")
    assert load_table(path)[0].tolist() == [[1.0, 10.0]]


# -- text class labels in the target column ----------------------------------------------------------

def test_load_labelled_maps_text_labels_to_sorted_classes(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text('length,width,species\n5.1,3.5,setosa\n7.0,3.2," versicolor"\n6.3,3.3,"virginica"\n'
                    "4.9,3.0,setosa\n")
    d = ds.load_labelled(path)
    assert d.classes == ["setosa", "versicolor", "virginica"]
    assert d.y.ravel().tolist() == [0, 2 - 1, 2, 0] and d.y.shape == (4, 1)
    assert d.feature_names == ["length", "width"] and d.target_name == "species"
    assert d.X.tolist() == [[5.1, 3.5], [7.0, 3.2], [6.3, 3.3], [4.9, 3.0]]
    # The target named, in the middle of the table.
    path.write_text("species,length\nb,1\na,2\n")
    d = ds.load_labelled(path, target="species")
    assert d.classes == ["a", "b"] and d.y.ravel().tolist() == [1, 0] and d.X.ravel().tolist() == [1, 2]


def test_load_labelled_with_a_numeric_target_has_no_classes(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("a,b,t\n1,2,0.5\n3,4,1.5\n")
    d = ds.load_labelled(path)
    assert d.classes is None and d.y.ravel().tolist() == [0.5, 1.5]


def test_a_text_column_beyond_the_first_row_is_read_slowly_but_alike(tmp_path):
    rows = "".join(f"{i},{i % 3},{'ab'[i % 2]}\n" for i in range(50))
    path = tmp_path / "t.csv"
    path.write_text("u,v,label\n" + rows + ",,\n")            # the blank row sends it to the slow pass
    d = ds.load_labelled(path)
    assert d.classes == ["a", "b"] and d.y.ravel().tolist() == [i % 2 for i in range(50)]


@pytest.mark.parametrize("text, target, words", [
    ("a,t\n1,x\n2,3\n", None, ["column 't' mixes numbers and text", "'x' in row 2", "'3'"]),
    ("a,t\n1,3\n2,x\n", None, ["column 't' mixes numbers and text", "'x' in row 3"]),
    ("a,t\n1,x\nred,y\n", None, ["non-numeric value 'red' in row 3, column 'a'"]),
    ("color,t\nred,x\nblue,y\n", "t", ["non-numeric value 'red' in row 2, column 'color'"]),
    ("a,t\n1,x\n2,y\n", "a", ["non-numeric value 'x' in row 2, column 't'"]),     # text where no target is
])
def test_load_labelled_errors(tmp_path, text, target, words):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError) as excinfo:
        ds.load_labelled(path, target)
    for w in words:
        assert w in str(excinfo.value)


def test_a_file_of_one_class_is_read(tmp_path):
    """A test file may hold a single class; training refuses that (tasks.infer_task), reading does not."""
    path = tmp_path / "one.csv"
    path.write_text("a,t\n1,x\n2,x\n")
    d = ds.load_labelled(path)
    assert d.classes == ["x"] and d.y.ravel().tolist() == [0, 0]


def test_the_numeric_loaders_still_refuse_text_targets(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,species\n1,setosa\n2,virginica\n")
    with pytest.raises(DataError, match="non-numeric value 'setosa' in row 2, column 'species'"):
        load(path)
