"""Bring your own data: image folders, tables, the dispatch on --data, and each kind through
train -> evaluate -> predict (issue 14)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from nnscratch.app.cli import main
from nnscratch.base.errors import DataError, ModelFileError
from nnscratch.data import folders, source, tables
from nnscratch.data.table_encoding import TablePreprocessor
from nnscratch.persist import modelfile

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

pytest.importorskip("matplotlib")

FAST = ["--epochs", "3", "--print-every", "0", "--batch-size", "16"]


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _folder(root: Path, classes=("ant", "bee", "cow"), n=6, size=8, mode="RGB", split=None):
    """A folder of tiny images, one subfolder per class (under ``split`` if given); class k's
    images are mostly of brightness 40 + 80 k, so that they can be told apart."""
    rng = np.random.default_rng(len(classes))
    base = root if split is None else root / split
    for k, name in enumerate(classes):
        (base / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = (size, size) if mode == "L" else (size, size, 3)
            a = np.clip(40 + 80 * k + rng.normal(0, 10, shape), 0, 255).astype(np.uint8)
            Image.fromarray(a, mode).save(base / name / f"{i}.png")
    return root


# ---- image folders ----------------------------------------------------------------------------


def test_scan_folder_classes_files_and_left_out(tmp_path):
    root = _folder(tmp_path / "f", n=2)
    (root / "ant" / "notes.txt").write_text("x")
    (root / "ant" / ".hidden.png").write_bytes(b"")
    (root / ".git").mkdir()
    (root / "bee" / "deeper").mkdir()
    Image.new("RGB", (8, 8)).save(root / "bee" / "deeper" / "x.png")
    found = folders.scan_folder(root)
    assert found.classes == ("ant", "bee", "cow") and not found.has_splits
    assert found.counts("all") == [2, 3, 2] and found.skipped == 2


def test_scan_folder_splits(tmp_path):
    root = _folder(tmp_path / "s", n=2, split="train")
    _folder(root, n=1, split="test")
    found = folders.scan_folder(root)
    assert (
        found.has_splits and found.counts("train") == [2, 2, 2] and found.counts("test") == [1] * 3
    )


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda r: _folder(r, classes=("only",)), "at least 2"),
        (lambda r: (_folder(r), (r / "empty").mkdir()), "holds no images"),
        (
            lambda r: (_folder(r, split="train"), _folder(r, classes=("a", "b"), split="test")),
            "same class folders",
        ),  # fmt: skip
        (lambda r: (_folder(r, split="train"), _folder(r / "extra")), "train/ split and other"),
        (lambda r: _folder(r, split="test"), "no train/"),
    ],
)
def test_scan_folder_refuses_what_breaks_the_convention(tmp_path, make, match):
    root = tmp_path / "r"
    root.mkdir()
    make(root)
    with pytest.raises(DataError, match=match):
        folders.scan_folder(root)


def test_bad_files_are_skipped_or_refused_and_fifo_never_blocks(tmp_path):
    root = _folder(tmp_path / "f", n=2)
    (root / "ant" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "bee" / "pipe.png")
    found = folders.scan_folder(root)
    got = folders.read_folder_images(found.files["all"], found.labels["all"], size=(8, 8))
    assert got.images.shape == (6, 8, 8, 3) and got.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert {Path(p).name for p, _ in got.refused} >= {"broken.png"}
    with pytest.raises(DataError, match="broken.png"):
        folders.read_folder_images(
            found.files["all"], found.labels["all"], size=(8, 8), on_bad_file="fail"
        )


def test_memory_limit_is_reported_before_reading(tmp_path):
    root = _folder(tmp_path / "f", n=2)
    with pytest.raises(DataError, match=r"6 images of 64x64 rgb take 0 MiB.*limit"):
        source.load_data(root, source.DataOptions(image_size=(64, 64), max_bytes=1000))


def test_folder_size_and_colour_are_inferred(tmp_path, capsys):
    root = _folder(tmp_path / "g", n=2, size=12, mode="L")
    data = source.load_data(root)
    assert data.x_train.shape == (6, 12, 12, 1) and data.description["color"] == "grayscale"
    assert data.classes == ("ant", "bee", "cow") and data.x_test is None
    rgb = source.load_data(root, source.DataOptions(image_size=(5, 7), color="rgb"))
    assert rgb.x_train.shape == (6, 5, 7, 3)


# ---- tables -----------------------------------------------------------------------------------


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_pandas_numeric_header_is_a_header_and_y_not_a_class(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    path = tmp_path / "d.csv"
    pd.DataFrame(X).assign(y=(X[:, 0] > 0).astype(int)).to_csv(path, index=False)
    t = tables.read_table(path)
    assert t.names == ["0", "1", "2", "y"] and t.m == 30 and t.first_line == 2
    target = t.target()
    assert target.task == "classification" and target.classes == ("0", "1")
    pd.DataFrame(np.c_[X, X[:, 0] > 0]).to_csv(path, index=False)  # header 0,1,2,3
    assert tables.read_table(path).names == ["0", "1", "2", "3"]
    assert tables.read_table(path).m == 30


def test_headerless_numbers_and_text_headers(tmp_path):
    t = tables.read_table(_csv(tmp_path / "a.csv", "1,2,0\n3,4,1\n"))
    assert t.names == ["0", "1", "2"] and t.m == 2
    t = tables.read_table(_csv(tmp_path / "b.csv", "colour,size,kind\nred,1,a\nblue,2,b\n"))
    assert t.names == ["colour", "size", "kind"] and t.columns[0].tolist() == ["red", "blue"]


def test_many_whole_numbers_are_a_regression_with_the_reason(tmp_path):
    lines = "".join(f"{i % 7},{25 + 3 * i}\n" for i in range(60))
    target = tables.read_table(_csv(tmp_path / "r.csv", "x,y\n" + lines)).target()
    assert target.task == "regression" and "60 distinct whole numbers" in target.reason
    assert "--task classification" in target.reason
    forced = tables.read_table(tmp_path / "r.csv").target(task="classification")
    assert len(forced.classes) == 60


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("x,y\n1,inf\n2,0\n", "line 2: inf is not a finite"),
        ("x,y\n1,1e300\n2,0\n", "not a finite number of at most"),
        ("x,y\n1,3\n2,\n", "target column 'y' is missing at line 3"),
        ("x,y\n1,a\n2,a\n", "single class"),
        ("x,y\n1,2\n2\n", "same number of columns"),
        ("x,y\n1,0\nfoo,1\n2,1\n", "numbers or text.*line 3 holds 'foo'"),
    ],
)
def test_bad_tables_are_refused_naming_line_and_column(tmp_path, text, match):
    path = _csv(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=match):
        tables.read_table(path).target()


def test_text_target_cannot_be_a_regression(tmp_path):
    t = tables.read_table(_csv(tmp_path / "t.csv", "x,y\n1,a\n2,b\n"))
    with pytest.raises(DataError, match="regression needs a numeric target"):
        t.target(task="regression")
    t = tables.read_table(_csv(tmp_path / "f.csv", "x,y\n1,0.5\n2,1\n"))
    with pytest.raises(DataError, match="classification needs class labels"):
        t.target(task="classification")


def test_categorical_columns_missing_values_and_impute(tmp_path):
    t = tables.read_table(_csv(tmp_path / "c.csv", "c,n,y\nred,1,0\nblue,,1\nred,3,0\n"))
    features = t.features()
    with pytest.raises(DataError, match="column 'n' has a missing value at line 3"):
        TablePreprocessor().fit_transform(features)
    pre = TablePreprocessor(impute="mean", standardize=False)
    Z = pre.fit_transform(features)
    np.testing.assert_array_equal(Z, [[0, 1, 1], [1, 0, 2], [0, 1, 3]])
    assert pre.feature_names == ["c=blue", "c=red", "n"]
    with pytest.raises(DataError, match="category 'green' was not in the training data"):
        pre.transform(np.array([["green", 1]], dtype=object))
    # the state round-trips through a dict of arrays and JSON-able scalars
    again = TablePreprocessor.from_state(pre.get_state())
    np.testing.assert_array_equal(again.transform(features), Z)


def test_line_numbers_are_the_file_lines_after_blank_lines_multiline_cells_and_a_split(
    tmp_path,
):
    # row 0 on line 2, a blank line 3, row 1 spans lines 4-5, row 2 (the missing value) line 6
    text = 'c,n,y\nred,1,0\n\n"bl\nue",2,1\nred,,0\nblue,4,1\n'
    t = tables.read_table(_csv(tmp_path / "c.csv", text))
    assert [t.line(i) for i in range(t.m)] == [2, 4, 6, 7]
    with pytest.raises(DataError, match="column 'n' has a missing value at line 6"):
        TablePreprocessor().fit(t.features())
    # the rows of a held-out split keep their own lines (fit on rows 3 and 2 -> line 6)
    with pytest.raises(DataError, match="column 'n' has a missing value at line 6"):
        TablePreprocessor().fit(t.rows(np.array([3, 2])).features())
    with pytest.raises(DataError, match="line 5 holds 'x' and line 2 the number"):
        tables.read_table(_csv(tmp_path / "m.csv", "a,y\n1,0\n\n\nx,1\n"))


def test_npz_with_a_forged_header_is_refused_before_allocating(tmp_path):
    import io
    import zipfile

    member = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**9, 2)}
    np.lib.format.write_array_header_1_0(member, header)
    member.write(b"\0" * 64)
    path = tmp_path / "d.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", member.getvalue())
        buf = io.BytesIO()
        np.save(buf, np.arange(3))
        zf.writestr("y.npy", buf.getvalue())
    with pytest.raises(DataError, match=r"declares shape \(1000000000, 2\)"):
        tables.read_table(path)


def test_parquet_without_pyarrow_names_the_tables_extra(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(DataError, match=r"needs pyarrow .*pip install 'nnscratch\[tables\]'"):
        tables.read_table(path)


@pytest.mark.filterwarnings("ignore:The DataFrame has column names of mixed type")
def test_parquet_end_to_end(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    frame = pd.DataFrame(x).assign(kind=np.where(x[:, 0] + x[:, 1] > 0, "up", "down"))
    frame["colour"] = rng.choice(["red", "blue"], 80)
    data = tmp_path / "t.parquet"
    frame.to_parquet(data)  # pandas' integer column names 0, 1, 2 become '0', '1', '2'
    t = tables.read_table(data)
    assert t.names == ["0", "1", "2", "kind", "colour"] and t.m == 80
    with pytest.raises(DataError, match="cannot read .* as Parquet"):
        (tmp_path / "bad.parquet").write_bytes(b"PAR1 not parquet")
        tables.read_table(tmp_path / "bad.parquet")
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--target", "kind", *FAST, "--epochs", "10",
            "--out", str(out), "--json"]  # fmt: skip
    assert main(argv) == 0
    summary = _last_json(capsys.readouterr().out)
    assert summary["task"] == "classification" and summary["test_accuracy"] > 0.6
    assert main(["evaluate", str(out / "model.npz"), "--data", str(data), "--json"]) == 0
    scores = _last_json(capsys.readouterr().out)
    assert scores["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert main(["predict", str(out / "model.npz"), str(data), "--json"]) == 0
    preds = _last_json(capsys.readouterr().out)["predictions"]
    assert len(preds) == 80 and {p["label"] for p in preds} <= {"up", "down"}


def test_dispatch_names_the_kinds(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        source.kind_of(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match="neither the cat data"):
        source.kind_of(tmp_path / "plain")
    assert source.kind_of(_folder(tmp_path / "f", n=1)) == "images"
    assert source.kind_of(_csv(tmp_path / "t.csv", "1,2\n")) == "table"


# ---- model files record their data ------------------------------------------------------------


def test_a_forged_data_description_is_a_model_file_error(tmp_path):
    from nnscratch.models.network import Network

    path = tmp_path / "m.npz"
    desc = {"kind": "table", "columns": ["a", "b", "c"], "target": "y", "task": "classification"}
    modelfile.save(Network([3, 2, 1]), path, data=desc)
    assert modelfile.load(path).input_kind == "table"
    with pytest.raises(ValueError, match="data cannot be stored"):
        modelfile.save(Network([3, 2, 1]), path, data={"kind": "sound"})
    assert modelfile.load(path).data["columns"] == ["a", "b", "c"]
    old = tmp_path / "old.npz"
    modelfile.save(Network([3, 2, 1]), old)
    loaded = modelfile.load(old)
    assert loaded.data is None and loaded.input_kind == "images" and loaded.task == "classification"


def test_target_scale_is_checked_on_load(tmp_path):
    from nnscratch.persist.archive import Malformed
    from nnscratch.persist.layout import check_data_description

    good = {"kind": "table", "columns": ["a"], "target": "y", "task": "regression",
            "target_scale": {"mean": 1.0, "std": 2.0}}  # fmt: skip
    assert check_data_description(good) is good
    for bad in ({"mean": 1.0, "std": 0.0}, {"mean": float("nan"), "std": 1.0}, {"mean": "x"}):
        with pytest.raises(Malformed):
            check_data_description({**good, "target_scale": bad})
    with pytest.raises(ModelFileError):
        path = tmp_path / "m.npz"
        from nnscratch.models.network import Network

        modelfile.save(Network([1, 1], output_activation="identity"), path, data=good)
        raw = dict(np.load(path))
        header = json.loads(bytes(raw["__nnscratch__"]).decode())
        header["data"]["target_scale"]["std"] = -1
        raw["__nnscratch__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        np.savez(path, **raw)
        modelfile.load(path)


# ---- end to end: train -> evaluate -> predict -------------------------------------------------


def test_image_folder_end_to_end_three_classes(tmp_path, capsys):
    root = _folder(tmp_path / "photos", n=8)
    out = tmp_path / "run"
    assert main(["train", "--data", str(root), *FAST, "--out", str(out), "--json"]) == 0
    text = capsys.readouterr().out
    summary = _last_json(text)
    assert "test_accuracy" in summary and summary["task"] == "classification"
    assert "held out 5 of 24 examples" in text
    for name in ("model.npz", "metrics.json", "confusion_matrix.png", "misclassified.png"):
        assert (out / name).is_file()
    model = modelfile.load(out / "model.npz")
    assert model.classes == ("ant", "bee", "cow") and model.data["image_size"] == [8, 8]
    assert main(["evaluate", str(out / "model.npz"), "--data", str(root), "--json"]) == 0
    scores = _last_json(capsys.readouterr().out)
    assert scores["n"] == 5 and scores["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert set(scores["per_class"]) == {"ant", "bee", "cow"}
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    files = [str(root / "cow" / "0.png"), str(bad), str(root / "ant" / "1.png")]
    assert main(["predict", str(out / "model.npz"), *files, "--json"]) == 1  # one bad file
    captured = capsys.readouterr()
    result = _last_json(captured.out)
    assert len(result["predictions"]) == 2 and result["failed"] == 1 and "bad.png" in captured.err
    assert set(result["predictions"][0]["probabilities"]) == {"ant", "bee", "cow"}
    # a test folder with some of the model's classes is scored by their names
    some = _folder(tmp_path / "some", classes=("ant", "bee", "cow"), n=3)
    shutil.rmtree(some / "bee")
    assert main(["evaluate", str(out / "model.npz"), "--data", str(some), "--json"]) == 0
    scores = _last_json(capsys.readouterr().out)
    assert scores["n"] == 6 and scores["per_class"]["bee"]["support"] == 0
    assert [scores["per_class"][c]["support"] for c in ("ant", "cow")] == [3, 3]
    other = _folder(tmp_path / "other", classes=("ant", "emu"), n=2)
    assert main(["evaluate", str(out / "model.npz"), "--data", str(other)]) == 1
    assert "has the classes ['ant', 'emu']; the model knows" in capsys.readouterr().err


def test_classification_scores_agree_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    from nnscratch.app.scores import classification_scores

    y_true = np.array([0, 0, 1, 1, 1, 3, 3])  # class 2 absent from both
    y_pred = np.array([0, 1, 1, 1, 0, 3, 1])
    scores = classification_scores(y_true, y_pred, ["a", "b", "c", "d"])
    assert scores["macro_f1"] == pytest.approx(metrics.f1_score(y_true, y_pred, average="macro"))
    p, r, f, n = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=[0, 1, 2, 3], zero_division=0
    )
    got = scores["per_class"]
    np.testing.assert_allclose([got[c]["precision"] for c in "abcd"], p)
    np.testing.assert_allclose([got[c]["recall"] for c in "abcd"], r)
    np.testing.assert_allclose([got[c]["f1"] for c in "abcd"], f)
    assert [got[c]["support"] for c in "abcd"] == list(n)
    np.testing.assert_array_equal(
        scores["confusion_matrix"], metrics.confusion_matrix(y_true, y_pred, labels=[0, 1, 2, 3])
    )


def test_evaluate_of_a_folder_model_never_reads_the_cat_data(tmp_path, capsys, monkeypatch):
    root = _folder(tmp_path / "photos", classes=("a", "b"), n=4, split="train")
    _folder(root, classes=("a", "b"), n=2, split="test")
    _folder(root, classes=("a", "b"), n=1, split="val")
    out = tmp_path / "run"
    assert main(["train", "--data", str(root), *FAST, "--out", str(out)]) == 0
    assert "val/ is the validation split" in capsys.readouterr().out
    monkeypatch.setenv("NNSCRATCH_DATA", str(tmp_path / "no-cats-here"))
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", str(out / "model.npz")])
    assert exit_.value.code == 2 and "--data" in capsys.readouterr().err
    assert main(["evaluate", str(out / "model.npz"), "--data", str(root)]) == 0
    assert "4 examples" in capsys.readouterr().out


def _table(path: Path, m: int, regression: bool) -> Path:
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=m), rng.normal(size=m)
    colour = rng.choice(["red", "green", "blue"], size=m)
    if regression:
        y = [
            f"{100 + 30 * a - 20 * b + (15 if c == 'red' else 0):.0f}"
            for a, b, c in zip(x1, x2, colour, strict=True)
        ]
    else:
        y = ["yes" if a + (c == "red") > 0.5 else "no" for a, c in zip(x1, colour, strict=True)]
    rows = "".join(
        f"{a:.4f},{b:.4f},{c},{t}\n" for a, b, c, t in zip(x1, x2, colour, y, strict=True)
    )
    path.write_text("x1,x2,colour,target\n" + rows, encoding="utf-8")
    return path


@pytest.mark.parametrize("regression", [False, True], ids=["classification", "regression"])
def test_csv_end_to_end(tmp_path, capsys, regression):
    data = _table(tmp_path / "t.csv", 120, regression)
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), *FAST, "--epochs", "40", "--out", str(out), "--json"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    summary = _last_json(text)
    key = "test_r2" if regression else "test_accuracy"
    assert key in summary and ("regression" if regression else "classification") in text
    assert "one-hot encoded text column(s): colour" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics[key] == pytest.approx(summary[key])
    plot = "predicted_vs_true.png" if regression else "confusion_matrix.png"
    assert (out / plot).is_file()
    assert main(["evaluate", str(out / "model.npz"), "--data", str(data), "--json"]) == 0
    scores = _last_json(capsys.readouterr().out)
    if regression:
        assert scores["r2"] == pytest.approx(summary["test_r2"]) and "rmse" in scores
        assert "accuracy" not in scores and "per_class" not in scores
        assert summary["test_r2"] > 0.5
    else:
        assert scores["accuracy"] == pytest.approx(summary["test_accuracy"])
    rows = tmp_path / "new.csv"
    rows.write_text("colour,x2,x1\nred,0.1,1.5\nblue,0,-2\n", encoding="utf-8")  # other order
    written = tmp_path / "pred.csv"
    assert (
        main(["predict", str(out / "model.npz"), str(rows), "--json", "--out", str(written)]) == 0
    )
    preds = _last_json(capsys.readouterr().out)["predictions"]
    assert len(preds) == 2 and len(written.read_text().splitlines()) == 3
    if regression:
        assert "probabilities" not in preds[0] and preds[0]["value"] > preds[1]["value"]
    else:
        assert preds[0]["label"] == "yes" and set(preds[0]["probabilities"]) == {"no", "yes"}
    # a blank line: each prediction names its row's own line
    rows.write_text("colour,x2,x1\nred,0.1,1.5\n\nblue,0,-2\n", encoding="utf-8")
    assert main(["predict", str(out / "model.npz"), str(rows), "--json"]) == 0
    assert [p["line"] for p in _last_json(capsys.readouterr().out)["predictions"]] == [2, 4]
    # a column the model was not trained on is refused by name, not left out
    wide = tmp_path / "wide.csv"
    wide.write_text("colour,x2,x1,x3,target\nred,0.1,1.5,7,yes\n", encoding="utf-8")
    for argv in (["predict", str(out / "model.npz"), str(wide)],
                 ["evaluate", str(out / "model.npz"), "--data", str(wide)]):  # fmt: skip
        assert main(argv) == 1
        assert "1 column(s) the model was not trained on ('x3')" in capsys.readouterr().err


def test_test_data_file_and_unknown_category(tmp_path, capsys):
    data = _table(tmp_path / "t.csv", 60, False)
    test = tmp_path / "test.csv"
    test.write_text("x1,x2,colour,target\n0.1,0.2,purple,yes\n", encoding="utf-8")
    assert main(["train", "--data", str(data), "--test-data", str(test), *FAST,
                 "--out", str(tmp_path / "r")]) == 1  # fmt: skip
    assert "category 'purple' was not in the training data" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_cat_only_options_are_refused_for_other_data(tmp_path, capsys):
    data = _table(tmp_path / "t.csv", 30, False)
    for flags, message in (
        (["--balance"], "--balance: for the cat recipe only"),
        (["--model", "cnn"], "--model cnn takes images"),
        (["--checkpoint-every", "5"], "for the cat data only"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["train", "--data", str(data), *flags, "--out", str(tmp_path / "r")])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_tune_reads_tables_by_the_same_rules_and_its_model_predicts(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = np.round(200 + 50 * X[:, 0])  # whole numbers, many distinct: a regression
    path = tmp_path / "r.csv"
    pd.DataFrame(X).assign(y=y).to_csv(path, index=False)
    out = tmp_path / "tune"
    argv = ["tune", "--data-file", str(path), "--param", "learning_rate_init=0.01", "--cv", "2",
            "--set", "max_iter=20", "--n-jobs", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "regression" in capsys.readouterr().out
    model = modelfile.load(out / "best_model.npz")
    assert model.input_kind == "table" and model.task == "regression"
    assert main(["predict", str(out / "best_model.npz"), str(path), "--json"]) == 0
    assert len(_last_json(capsys.readouterr().out)["predictions"]) == 80


def test_a_text_column_of_identifiers_is_not_one_hot_encoded(tmp_path):
    rows = "".join(f"id{i},{i % 2}\n" for i in range(1500))
    t = tables.read_table(_csv(tmp_path / "ids.csv", "name,y\n" + rows))
    with pytest.raises(DataError, match="'name' holds 1500 distinct values"):
        TablePreprocessor().fit(t.features())


def test_a_csv_of_too_many_cells_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "MAX_CELLS", 10)
    with pytest.raises(DataError, match="more than 10 cells"):
        tables.read_table(_csv(tmp_path / "big.csv", "1,2,3\n" * 5))


def test_the_cat_classifier_is_evaluated_on_a_cat_folder_by_class_name(tmp_path, capsys):
    from nnscratch.data.preprocessing import ImagePreprocessor
    from nnscratch.models.network import Network

    root = _folder(tmp_path / "pets", classes=("cat", "non-cat"), n=2, size=64)
    pre = ImagePreprocessor().fit(np.zeros((1, 64, 64, 3), np.uint8))
    path = modelfile.save(
        Network([64 * 64 * 3, 1]), tmp_path / "m.npz", preprocessor=pre, classes=["non-cat", "cat"]
    )
    assert main(["evaluate", str(path), "--data", str(root), "--json"]) == 0
    scores = _last_json(capsys.readouterr().out)
    assert scores["classes"] == ["non-cat", "cat"] and scores["per_class"]["cat"]["support"] == 2


def test_experiments_refuses_other_data(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["experiments", "--data", str(_folder(tmp_path / "f", n=1))])
    assert exit_.value.code == 2 and "nnscratch train --data" in capsys.readouterr().err


def test_predict_takes_a_softmax_model_saved_without_a_data_description(tmp_path, capsys):
    from nnscratch.data.preprocessing import ImagePreprocessor
    from nnscratch.models.network import Network

    pre = ImagePreprocessor().fit(np.zeros((1, 8, 8, 3), np.uint8))
    net = Network([8 * 8 * 3, 4], output_activation="softmax")
    path = modelfile.save(net, tmp_path / "soft.npz", preprocessor=pre)
    image = tmp_path / "x.png"
    Image.new("RGB", (20, 10), (200, 10, 10)).save(image)
    assert main(["predict", str(path), str(image), "--json"]) == 0
    (result,) = _last_json(capsys.readouterr().out)["predictions"]
    assert set(result["probabilities"]) == {"0", "1", "2", "3"} and "probability" not in result
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_like_a_table_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        tables.read_table(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        source.load_data(fifo)


@pytest.mark.parametrize("n_classes", [6, 25])
def test_predict_text_lists_every_class_probability(tmp_path, capsys, n_classes):
    from nnscratch.app.commands.predict import SHOWN_CLASSES
    from nnscratch.data.preprocessing import ImagePreprocessor
    from nnscratch.models.network import Network

    pre = ImagePreprocessor().fit(np.zeros((1, 8, 8, 3), np.uint8))
    net = Network([8 * 8 * 3, n_classes], output_activation="softmax")
    path = modelfile.save(net, tmp_path / "soft.npz", preprocessor=pre)
    image = tmp_path / "x.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(image)
    assert main(["predict", str(path), str(image)]) == 0
    line = capsys.readouterr().out.strip()
    listed = line.split("(probabilities: ")[1].split(", ")
    shown = min(n_classes, SHOWN_CLASSES)
    assert len([p for p in listed if not p.startswith("...")]) == shown
    if n_classes > SHOWN_CLASSES:
        assert listed[-1] == f"... ({n_classes - SHOWN_CLASSES} more with --json))"
    probabilities = [float(p.split()[1].rstrip(")")) for p in listed[:shown]]
    assert probabilities == sorted(probabilities, reverse=True)
