"""Model files: save then load is exact; bad files raise ModelFileError; writes are atomic."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import nnscratch
from nnscratch import Ensemble, ModelFileError, Network, load, save
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.persist.modelfile import FORMAT_VERSION, HEADER_KEY


def _trained_net(**kwargs) -> Network:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    net = Network([6, 5, 3, 1], seed=1, **kwargs)
    net.fit(X, y, learning_rate=0.1, iterations=5)
    return net


def _assert_same_arrays(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_save_load_roundtrip_is_exact(tmp_path):
    net = _trained_net(hidden_activation=nnscratch.LeakyReLU(slope=0.2), dtype="float64")
    images = np.random.default_rng(1).integers(0, 256, size=(10, 2, 3, 1), dtype=np.uint8)
    pre = ImagePreprocessor(standardize=True, dtype="float64").fit(images)
    path = save(
        net,
        tmp_path / "m.npz",
        preprocessor=pre,
        classes=["non-cat", "cat"],
        metadata={"note": "hello", "lr": 0.1},
    )
    model = load(path)
    _assert_same_arrays(net.parameters, model.network.parameters)
    _assert_same_arrays(net.buffers, model.network.buffers)
    assert model.network.config() == net.config()
    assert model.classes == ("non-cat", "cat")
    assert model.metadata == {"note": "hello", "lr": 0.1}
    assert model.format_version == FORMAT_VERSION
    np.testing.assert_array_equal(model.preprocessor.mean_, pre.mean_)
    np.testing.assert_array_equal(model.preprocessor.std_, pre.std_)
    assert model.input_shape == (2, 3, 1)
    X = pre.transform(images)
    np.testing.assert_array_equal(model.predict_proba(images), net.predict_proba(X))


def test_roundtrip_without_extras_and_float32(tmp_path):
    net = _trained_net()
    model = load(save(net, tmp_path / "plain.npz"))
    assert model.preprocessor is None and model.classes is None and model.metadata == {}
    _assert_same_arrays(net.parameters, model.network.parameters)
    X = np.ones((3, 6), np.float32)
    np.testing.assert_array_equal(model.predict(X), net.predict(X))


def test_path_is_written_exactly_as_given(tmp_path):
    path = save(_trained_net(), tmp_path / "model.bin")
    assert path == tmp_path / "model.bin" and path.is_file()
    assert not (tmp_path / "model.bin.npz").exists()


def test_batch_norm_and_dropout_network_roundtrip(tmp_path):
    try:
        net = _trained_net(batch_norm=True, dropout=0.8)
    except TypeError:
        pytest.skip("batch_norm/dropout not in this Network yet")
    assert net.buffers, "batch norm has running statistics"
    model = load(save(net, tmp_path / "bn.npz"))
    _assert_same_arrays(net.parameters, model.network.parameters)
    _assert_same_arrays(net.buffers, model.network.buffers)
    X = np.random.default_rng(3).normal(size=(4, 6)).astype(np.float32)
    np.testing.assert_array_equal(model.network.predict_proba(X), net.predict_proba(X))


def test_ensemble_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4)).astype(np.float32)
    y = (X[:, 1] > 0).astype(int)
    ens = Ensemble.of(3, seed=7, layer_dims=[4, 3, 1])
    ens.fit(X, y, learning_rate=0.1, iterations=3)
    model = load(save(ens, tmp_path / "ens.npz"))
    assert isinstance(model.network, Ensemble) and len(model.network) == 3
    _assert_same_arrays(ens.parameters, model.network.parameters)
    np.testing.assert_array_equal(model.network.predict_proba(X), ens.predict_proba(X))
    mean = np.mean([m.predict_proba(X) for m in ens.members], axis=0)
    np.testing.assert_allclose(ens.predict_proba(X), mean, rtol=1e-6)


def test_ensemble_members_have_independent_seeds():
    a = Ensemble.of(3, seed=0, layer_dims=[4, 2, 1])
    b = Ensemble.of(3, seed=1, layer_dims=[4, 2, 1])
    seeds_a = {m.seed for m in a.members}
    seeds_b = {m.seed for m in b.members}
    assert len(seeds_a) == 3 and not seeds_a & seeds_b


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "m.npz"
    save(_trained_net(), path)
    save(_trained_net(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save(_trained_net(), path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        save(_trained_net(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_unstorable_arguments_raise_value_error(tmp_path):
    net = _trained_net()
    with pytest.raises(ValueError, match="classes"):
        save(net, tmp_path / "a.npz", classes="cat")
    with pytest.raises(ValueError, match="JSON"):
        save(net, tmp_path / "a.npz", metadata={"x": object()})
    with pytest.raises(ValueError, match="get_state"):
        save(net, tmp_path / "a.npz", preprocessor=object())
    assert not list(tmp_path.iterdir())


# ---- bad files ------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="nope.npz"):
        load(tmp_path / "nope.npz")


def test_not_an_archive(tmp_path):
    path = tmp_path / "x.npz"
    path.write_text("hello, I am text")
    with pytest.raises(ModelFileError, match="not an nnscratch model file"):
        load(path)


def test_truncated_file(tmp_path):
    path = save(_trained_net(), tmp_path / "m.npz")
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 100):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            load(bad)


def test_corrupt_bytes(tmp_path):
    net = _trained_net()
    path = save(net, tmp_path / "m.npz")
    data = bytearray(path.read_bytes())
    at = data.find(net.parameters["W1"].tobytes())
    assert at > 0
    data[at + 5] ^= 0x01  # one bit of W1's values: only the zip CRC can tell
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        load(bad)


def test_foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, W1=np.zeros((2, 2)))
    with pytest.raises(ModelFileError, match="not an nnscratch model file"):
        load(path)
    npy = tmp_path / "a.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ModelFileError, match="not an nnscratch model file"):
        load(npy)


def test_pickle_is_never_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{HEADER_KEY: np.array([{"format": "nnscratch-model"}], dtype=object)})
    with pytest.raises(ModelFileError):
        load(path)


def _rewrite_header(src, dst, change):
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(arrays[HEADER_KEY].tobytes())
    change(header)
    arrays[HEADER_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(dst, "wb") as out:
        np.savez(out, **arrays)


def test_newer_format_is_refused(tmp_path):
    path = save(_trained_net(), tmp_path / "m.npz")
    newer = tmp_path / "newer.npz"
    _rewrite_header(path, newer, lambda h: h.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelFileError, match="newer nnscratch"):
        load(newer)


def test_other_format_name_is_foreign(tmp_path):
    path = save(_trained_net(), tmp_path / "m.npz")
    other = tmp_path / "other.npz"
    _rewrite_header(path, other, lambda h: h.update(format="something-else"))
    with pytest.raises(ModelFileError, match="not an nnscratch model file"):
        load(other)


def test_unknown_network_class_and_mismatched_parameters(tmp_path):
    path = save(_trained_net(), tmp_path / "m.npz")
    bad = tmp_path / "cls.npz"
    _rewrite_header(path, bad, lambda h: h["network"].update({"class": "Transformer"}))
    with pytest.raises(ModelFileError, match="Transformer"):
        load(bad)
    bad2 = tmp_path / "dims.npz"
    _rewrite_header(path, bad2, lambda h: h["network"]["config"].update(layer_dims=[6, 4, 3, 1]))
    with pytest.raises(ModelFileError, match="W1"):
        load(bad2)


def test_garbage_header(tmp_path):
    path = tmp_path / "g.npz"
    np.savez(path, **{HEADER_KEY: np.frombuffer(b"\xff\xfe{not json", dtype=np.uint8)})
    with pytest.raises(ModelFileError, match="corrupt"):
        load(path)


def test_zip_member_missing(tmp_path):
    path = save(_trained_net(), tmp_path / "m.npz")
    slim = tmp_path / "slim.npz"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(slim, "w") as zout:
        for item in zin.infolist():
            if item.filename != "param/W2.npy":
                zout.writestr(item, zin.read(item.filename))
    with pytest.raises(ModelFileError, match="W2"):
        load(slim)


def test_saved_file_has_usual_permissions(tmp_path):
    path = save(_trained_net(), tmp_path / "m.npz")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
