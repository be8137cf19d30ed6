"""Tests of nnscratch.data.cats: reading, validating, locating and downloading the cat data.

Downloads go to a local HTTP server on 127.0.0.1 only; nothing leaves the machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
import platformdirs
import pytest

from nnscratch.base.errors import DataError as ErrorsDataError
from nnscratch.data import cats as datasets
from nnscratch.data.cats import (
    REMOTE_FILES,
    CatData,
    DataError,
    download_file,
    load_cats,
    read_cat_file,
)

TRAIN = REMOTE_FILES["train"].name
TEST = REMOTE_FILES["test"].name
TIMEOUT_S = 2.0


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty per-test cache: platformdirs' cache dir is redirected into tmp_path."""
    root = tmp_path / "user-cache"
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *args, **kwargs: str(root))
    monkeypatch.delenv(datasets.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(datasets, "DOWNLOAD_TIMEOUT_S", TIMEOUT_S)
    return root / "data"


@pytest.fixture
def dead_url() -> str:
    """An http:// address on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server(cat_data_dir: Path) -> Iterator[str]:
    """A local HTTP server; returns its base URL. Paths are /<mode>/<file name>:

    good: the real bytes; corrupt: same size, bytes flipped; truncated: announces the full
    Content-Length, sends half and closes; missing: 404.
    """
    files = {name: (cat_data_dir / name).read_bytes() for name in (TRAIN, TEST)}

    def corrupt(data: bytes) -> bytes:
        return bytes(b ^ 0xFF for b in data[:16]) + data[16:]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            _, mode, name = (self.path.split("/") + ["", ""])[:3]
            if name not in files or mode not in ("good", "corrupt", "truncated"):
                self.send_error(404)
                return
            data = corrupt(files[name]) if mode == "corrupt" else files[name]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if mode == "truncated":
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep the test output quiet

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def use_mirrors(monkeypatch: pytest.MonkeyPatch, *bases: str) -> None:
    """Make load_cats download from ``base/<file name>`` for each base, in order."""
    patched = {
        split: dataclasses.replace(remote, mirrors=tuple(f"{b}/{remote.name}" for b in bases))
        for split, remote in REMOTE_FILES.items()
    }
    monkeypatch.setattr(datasets, "REMOTE_FILES", patched)


def fetch(dest: Path, *bases: str, name: str = TEST) -> Path:
    remote = REMOTE_FILES["train" if name == TRAIN else "test"]
    return download_file(
        name,
        dest,
        [f"{b}/{name}" for b in bases],
        remote.sha256,
        size=remote.size,
        progress=False,
        timeout=TIMEOUT_S,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def copy_data(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in (TRAIN, TEST):
        shutil.copyfile(src / name, dest / name)
    return dest


# ---------------------------------------------------------------------------------------------
# the real files


def test_load_shared_data(cat_data_dir: Path) -> None:
    data = load_cats(cat_data_dir, download=False)
    assert isinstance(data, CatData)
    assert data.x_train.shape == (209, 64, 64, 3) and data.x_train.dtype == np.uint8
    assert data.y_train.shape == (209,) and data.y_train.dtype == np.int64
    assert data.x_test.shape == (50, 64, 64, 3) and data.x_test.dtype == np.uint8
    assert data.y_test.shape == (50,) and data.y_test.dtype == np.int64
    assert int(data.y_train.sum()) == 72
    assert int(data.y_test.sum()) == 33
    assert data.classes == ("non-cat", "cat")


def test_catdata_unpacks_in_article_order(cat_data_dir: Path) -> None:
    x_train, y_train, x_test, y_test, classes = load_cats(cat_data_dir)
    assert x_train.shape[0] == y_train.shape[0] == 209
    assert x_test.shape[0] == y_test.shape[0] == 50
    assert classes[1] == "cat"


def test_read_cat_file_one_split(cat_data_dir: Path) -> None:
    test = read_cat_file(cat_data_dir / TEST, "test")
    assert test.x.shape == (50, 64, 64, 3) and test.classes is None
    with pytest.raises(ValueError, match=r"unknown split 'valid'.*\['test', 'train'\]"):
        read_cat_file(cat_data_dir / TEST, "valid")


def test_data_error_is_the_shared_one() -> None:
    assert DataError is ErrorsDataError and issubclass(DataError, ValueError)


def test_constants_match_shared_files(cat_data_dir: Path) -> None:
    for remote in REMOTE_FILES.values():
        path = cat_data_dir / remote.name
        assert path.stat().st_size == remote.size
        assert sha256(path) == remote.sha256
        assert len(remote.mirrors) >= 2 and all(u.startswith("https://") for u in remote.mirrors)


# ---------------------------------------------------------------------------------------------
# where the files are looked for


def junk_dir(path: Path) -> Path:
    """A directory holding both file names, neither of them HDF5."""
    path.mkdir(parents=True, exist_ok=True)
    for name in (TRAIN, TEST):
        (path / name).write_bytes(b"not hdf5")
    return path


def test_argument_beats_environment(
    cat_data_dir: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(datasets.DATA_ENV_VAR, str(junk_dir(tmp_path / "env")))
    assert load_cats(cat_data_dir, download=False).x_train.shape[0] == 209
    assert load_cats(str(cat_data_dir), download=False).x_test.shape[0] == 50


def test_environment_beats_cache(
    cat_data_dir: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, dead_url: str
) -> None:
    junk_dir(cache_dir)
    use_mirrors(monkeypatch, dead_url)
    monkeypatch.setenv(datasets.DATA_ENV_VAR, str(cat_data_dir))
    assert load_cats(progress=False).y_train.shape == (209,)
    assert listing(cache_dir) == sorted([TRAIN, TEST])  # cache untouched


def test_cache_used_last_without_download(
    cat_data_dir: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, dead_url: str
) -> None:
    copy_data(cat_data_dir, cache_dir)
    use_mirrors(monkeypatch, dead_url)  # a download attempt would fail
    assert load_cats(progress=False).y_test.shape == (50,)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_named_dir_must_hold_the_files(
    how: str, cat_data_dir: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_data(cat_data_dir, cache_dir)  # the cache has them, but a named dir is not skipped
    empty = tmp_path / "empty"
    empty.mkdir()
    if how == "environment":
        monkeypatch.setenv(datasets.DATA_ENV_VAR, str(empty))
        call: Callable[[], CatData] = load_cats
    else:
        call = lambda: load_cats(empty)  # noqa: E731
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert str(empty) in message and TRAIN in message and TEST in message
    assert listing(empty) == []  # nothing downloaded into a user-named directory


def test_named_dir_missing_one_file(cat_data_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "half"
    d.mkdir()
    shutil.copyfile(cat_data_dir / TRAIN, d / TRAIN)
    with pytest.raises(DataError, match=f"lacks {TEST}"):
        load_cats(d)


def test_no_download_when_disabled(cache_dir: Path) -> None:
    with pytest.raises(DataError, match="download=False") as info:
        load_cats(download=False)
    assert str(cache_dir) in str(info.value)


# ---------------------------------------------------------------------------------------------
# downloading


def test_download_good(server: str, tmp_path: Path) -> None:
    path = fetch(tmp_path / "dl", f"{server}/good")
    assert path == tmp_path / "dl" / TEST
    assert sha256(path) == REMOTE_FILES["test"].sha256
    assert listing(tmp_path / "dl") == [TEST]  # no temp file left


def test_download_corrupt_falls_back(server: str, tmp_path: Path) -> None:
    path = fetch(tmp_path, f"{server}/corrupt", f"{server}/good")
    assert sha256(path) == REMOTE_FILES["test"].sha256
    assert listing(tmp_path) == [TEST]


def test_download_all_corrupt(server: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="sha256 mismatch") as info:
        fetch(tmp_path, f"{server}/corrupt", f"{server}/corrupt")
    assert TEST in str(info.value) and str(info.value).count("sha256 mismatch") == 2
    assert listing(tmp_path) == []


def test_download_dead_address_falls_back(server: str, tmp_path: Path, dead_url: str) -> None:
    path = fetch(tmp_path, dead_url, f"{server}/missing", f"{server}/good")
    assert sha256(path) == REMOTE_FILES["test"].sha256


def test_download_interrupted_leaves_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"interrupted|IncompleteRead") as info:
        fetch(tmp_path, f"{server}/truncated")
    assert f"{server}/truncated/{TEST}" in str(info.value)
    assert listing(tmp_path) == []


def test_download_interrupted_keeps_existing_file(server: str, tmp_path: Path) -> None:
    (tmp_path / TEST).write_bytes(b"old")
    with pytest.raises(DataError):
        fetch(tmp_path, f"{server}/truncated", f"{server}/corrupt")
    assert listing(tmp_path) == [TEST] and (tmp_path / TEST).read_bytes() == b"old"


def test_download_needs_a_mirror(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no mirrors"):
        download_file(TEST, tmp_path, [], REMOTE_FILES["test"].sha256)


def test_load_cats_downloads_into_cache(
    server: str, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, dead_url: str
) -> None:
    use_mirrors(monkeypatch, dead_url, f"{server}/corrupt", f"{server}/good")
    data = load_cats(progress=False)
    assert data.x_train.shape == (209, 64, 64, 3) and int(data.y_test.sum()) == 33
    assert listing(cache_dir) == sorted([TRAIN, TEST])
    for remote in REMOTE_FILES.values():
        assert sha256(cache_dir / remote.name) == remote.sha256


def test_load_cats_replaces_corrupt_cache_file(
    cat_data_dir: Path, server: str, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_data(cat_data_dir, cache_dir)
    (cache_dir / TRAIN).write_bytes(b"half a file")
    use_mirrors(monkeypatch, f"{server}/good")
    assert load_cats(progress=False).x_train.shape[0] == 209
    assert sha256(cache_dir / TRAIN) == REMOTE_FILES["train"].sha256


def test_offline_names_files_and_where_to_put_them(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, dead_url: str, tmp_path: Path
) -> None:
    use_mirrors(monkeypatch, dead_url, f"{dead_url}/other")
    with pytest.raises(DataError) as info:
        load_cats(progress=False)
    message = str(info.value)
    for needle in (TRAIN, TEST, str(cache_dir), "--data DIR", "NNSCRATCH_DATA", dead_url):
        assert needle in message
    assert message.count(dead_url) == 4  # two mirrors for each of the two files
    assert listing(cache_dir) == []


# ---------------------------------------------------------------------------------------------
# bad files


def write_cat_file(
    path: Path,
    *,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    classes: np.ndarray | None = None,
    drop: str = "",
    group: str = "",
) -> Path:
    """A small train file, good unless told otherwise."""
    datasets_ = {
        "train_set_x": np.zeros((4, 64, 64, 3), np.uint8) if x is None else x,
        "train_set_y": np.array([0, 1, 0, 1], np.int64) if y is None else y,
        "list_classes": np.array([b"non-cat", b"cat"]) if classes is None else classes,
    }
    with h5py.File(path, "w") as f:
        for key, value in datasets_.items():
            if key == drop:
                continue
            if key == group:
                f.create_group(key)
            else:
                f.create_dataset(key, data=value)
    return path


BAD_FILES = {
    "missing key": (dict(drop="train_set_y"), r"lacks dataset\(s\) \['train_set_y'\]"),
    "key is a group": (dict(group="train_set_x"), r"'train_set_x' is a group, not a dataset"),
    "no classes": (dict(drop="list_classes"), r"lacks dataset\(s\) \['list_classes'\]"),
    "wrong image shape": (
        dict(x=np.zeros((4, 32, 32, 3), np.uint8)),
        r"shape \(4, 32, 32, 3\).*expected \(m, 64, 64, 3\) uint8",
    ),
    "flat images": (dict(x=np.zeros((4, 12288), np.uint8)), r"shape \(4, 12288\)"),
    "wrong image dtype": (dict(x=np.zeros((4, 64, 64, 3), np.float32)), "dtype float32"),
    "float labels": (dict(y=np.array([0.0, 1.0, 0.0, 1.0])), "dtype float64.*integer"),
    "2-d labels": (dict(y=np.array([[0, 1, 0, 1]])), r"shape \(1, 4\).*expected \(m,\)"),
    "labels outside 0/1": (dict(y=np.array([0, 2, -1, 1])), r"labels \[-1, 2\].*only 0 and 1"),
    "mismatched counts": (dict(y=np.array([0, 1, 0])), "4 images but .* 3 labels"),
    "no examples": (
        dict(x=np.zeros((0, 64, 64, 3), np.uint8), y=np.zeros(0, np.int64)),
        "0 images",
    ),
    "three classes": (dict(classes=np.array([b"a", b"b", b"c"])), r"shape \(3,\); expected"),
    "classes not text": (dict(classes=np.array([1, 2])), "expected text"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file(case: str, tmp_path: Path) -> None:
    kwargs, pattern = BAD_FILES[case]
    path = write_cat_file(tmp_path / TRAIN, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=pattern) as info:
        read_cat_file(path, "train")
    assert str(path) in str(info.value)


def test_good_synthetic_file(tmp_path: Path) -> None:
    classes = np.array(["non-cat", "cat"], dtype=h5py.string_dtype())  # variable-length str
    got = read_cat_file(write_cat_file(tmp_path / TRAIN, classes=classes), "train")
    assert got.classes == ("non-cat", "cat") and got.y.dtype == np.int64


def test_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / TRAIN
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError, match="is not a valid HDF5 file") as info:
        read_cat_file(path, "train")
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_cat_file(tmp_path / TEST, "test")


@pytest.mark.parametrize("fraction", [0.5, 0.95])
def test_truncated_file(fraction: float, cat_data_dir: Path, tmp_path: Path) -> None:
    data = (cat_data_dir / TRAIN).read_bytes()
    path = tmp_path / TRAIN
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(DataError) as info:
        read_cat_file(path, "train")
    assert str(path) in str(info.value)


def test_bad_file_through_load_cats(cat_data_dir: Path, tmp_path: Path) -> None:
    d = copy_data(cat_data_dir, tmp_path / "d")
    (d / TEST).write_bytes(b"junk")
    with pytest.raises(DataError, match=f"{TEST} is not a valid HDF5 file"):
        load_cats(d)
