"""Model files (and checkpoints) from anyone are safe to load.

Whatever the bytes, ``nnscratch.load`` and ``load_checkpoint`` either return a model or raise
``ModelFileError``: nothing is unpickled or executed, nothing else escapes, every load takes
well under a second and allocates no more than a few megabytes, even when a file declares
arrays of terabytes. Hypothesis throws random bytes, truncations, bit flips, overwritten
spans and mutated JSON descriptions at the loaders; hand-made files cover object arrays,
pickles with side effects, huge declared shapes and sizes, compressed entries and forged
network descriptions.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import struct
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnscratch import ModelFileError, Network, load, save
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.persist.modelfile import HEADER_KEY, LoadedModel

MAX_SECONDS = 1.0
MAX_PEAK_BYTES = 16 * 2**20  # the files here are a few kB; 16 MiB is generous

#: checkpoint loads build more (configuration, optimizer, generators): fewer examples by default
FUZZ_CHECKPOINTS = settings(
    max_examples=int(os.environ.get("NNSCRATCH_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FUZZ = settings(
    # NNSCRATCH_FUZZ_EXAMPLES=5000 for a deeper search than the default suite's
    max_examples=int(os.environ.get("NNSCRATCH_FUZZ_EXAMPLES", "150")),
    deadline=None,  # timing is asserted per load, with tracemalloc's overhead included
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ---- a valid model file, and how to load anything safely ----------------------------------


def _model_bytes() -> bytes:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 2, 2, 3), dtype=np.uint8)
    pre = ImagePreprocessor(standardize=True).fit(images)
    net = Network([12, 3, 1], seed=0)
    with tempfile.TemporaryDirectory() as d:
        path = save(net, Path(d) / "m.npz", preprocessor=pre, classes=["non-cat", "cat"])
        return path.read_bytes()


VALID = _model_bytes()


def _arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data)) as f:
        return {k: f[k] for k in f.files}


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _with_header(change) -> bytes:
    """VALID with its JSON description changed by ``change(header)`` (a well-formed zip)."""
    arrays = _arrays(VALID)
    header = json.loads(arrays[HEADER_KEY].tobytes())
    header = change(header) or header
    text = json.dumps(header)
    arrays[HEADER_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return _npz(arrays)


def _load_safely(path: Path, data: bytes, loader=load):
    """Load ``data`` from ``path``: a result or ModelFileError, in under a second of CPU time
    and little memory (tracemalloc sees numpy's allocations too)."""
    path.write_bytes(data)
    tracemalloc.start()
    start = time.process_time()  # CPU time: other processes on a busy machine do not count
    try:
        result = loader(path)
    except ModelFileError as err:
        result = err
    finally:
        seconds = time.process_time() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert seconds < MAX_SECONDS, f"loading took {seconds:.2f} s of CPU time"
    assert peak < MAX_PEAK_BYTES, f"loading allocated {peak / 2**20:.1f} MiB"
    return result


@pytest.fixture
def target(tmp_path) -> Path:
    return tmp_path / "fuzzed.npz"


def test_the_valid_file_loads(target):
    model = _load_safely(target, VALID)
    assert isinstance(model, LoadedModel)
    assert model.network.layer_dims == [12, 3, 1]


# ---- hypothesis: arbitrary damage -------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(target, data):
    assert isinstance(_load_safely(target, data), ModelFileError)


@FUZZ
@given(tail=st.binary(max_size=4096))
def test_random_bytes_after_a_zip_signature(target, tail):
    assert isinstance(_load_safely(target, b"PK\x03\x04" + tail), ModelFileError)


@FUZZ
@given(cut=st.integers(0, len(VALID) - 1))
def test_truncations(target, cut):
    assert isinstance(_load_safely(target, VALID[:cut]), ModelFileError)


@FUZZ
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 7)), min_size=1, max_size=8
    )
)
def test_bit_flips(target, flips):
    data = bytearray(VALID)
    for at, bit in flips:
        data[at] ^= 1 << bit
    result = _load_safely(target, bytes(data))
    # A flip in zip metadata that nothing checks (a timestamp) may load; then it is intact.
    if isinstance(result, LoadedModel):
        assert result.network.layer_dims == [12, 3, 1]


@FUZZ
@given(at=st.integers(0, len(VALID) - 1), junk=st.binary(min_size=1, max_size=64))
def test_overwritten_spans(target, at, junk):
    data = VALID[:at] + junk + VALID[at + len(junk) :]
    _load_safely(target, data)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["relu", "sigmoid", "Network", "Ensemble", "ImagePreprocessor", "float32"]),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=12,
)


def _paths(header: dict, prefix=()) -> list[tuple]:
    out = []
    for key, value in header.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out.extend(_paths(value, (*prefix, key)))
    return out


HEADER_PATHS = _paths(json.loads(_arrays(VALID)[HEADER_KEY].tobytes()))


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(HEADER_PATHS), st.one_of(st.just("<delete>"), _JSON)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_descriptions(target, edits):
    _load_safely(target, _with_header(lambda header: _apply_edits(header, edits)))


def _apply_edits(header: dict, edits) -> None:
    for path, value in edits:
        node = header
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if value == "<delete>":
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value


@FUZZ
@given(dims=st.lists(st.integers(1, 10**12), min_size=2, max_size=6))
def test_forged_layer_sizes_are_refused_before_building(target, dims):
    def change(header):
        header["network"]["config"]["layer_dims"] = dims

    result = _load_safely(target, _with_header(change))
    if isinstance(result, LoadedModel):  # only the true sizes can load
        assert result.network.layer_dims == [12, 3, 1]


# ---- hand-made hostile files -------------------------------------------------------------------


class _Payload:
    """Unpickling this creates ``marker``: proof that the loader ran code from the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_object_arrays_are_refused_and_never_unpickled(tmp_path, target):
    marker = tmp_path / "pwned"
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    for key in ("param/W1", HEADER_KEY, "preprocessor/mean"):
        arrays = _arrays(VALID)
        arrays[key] = evil
        err = _load_safely(target, _npz(arrays))
        assert isinstance(err, ModelFileError)
        assert "object" in str(err)
    assert not marker.exists()
    # a bare pickle and a pickled .npy are refused the same way
    raw = pickle.dumps(_Payload(marker))
    assert isinstance(_load_safely(target, raw), ModelFileError)
    buf = io.BytesIO()
    np.save(buf, evil, allow_pickle=True)
    assert isinstance(_load_safely(target, buf.getvalue()), ModelFileError)
    assert not marker.exists()


def _npy_with_header(shape, descr="<f4", data=b"\0" * 16) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue() + data


def _replace_entry(name: str, payload: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(VALID)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, payload if item.filename == name else zin.read(item))
    return out.getvalue()


@pytest.mark.parametrize(
    "shape",
    [(10**12,), (2**40, 2**40), (3, 10**9), (2**62,), (-1,), (3, -4), ()],
)
def test_huge_or_impossible_declared_shapes(target, shape):
    err = _load_safely(target, _replace_entry("param/W1.npy", _npy_with_header(shape)))
    assert isinstance(err, ModelFileError)
    assert "W1" in str(err)


@pytest.mark.parametrize("descr", ["|O", [("a", "<f4"), ("b", "|O")], "<U3", "|V8", "|S4"])
def test_non_numeric_dtypes_are_refused(target, descr):
    err = _load_safely(target, _replace_entry("param/W1.npy", _npy_with_header((1,), descr)))
    assert isinstance(err, ModelFileError)


def test_oversized_npy_header_is_refused(target):
    big = b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31) + b" " * 100
    assert isinstance(_load_safely(target, _replace_entry("param/W1.npy", big)), ModelFileError)


def test_zip_entry_declaring_more_bytes_than_the_file(target):
    """The central directory says an entry is 8 GB (uncompressed and compressed)."""
    data = bytearray(VALID)
    with zipfile.ZipFile(io.BytesIO(VALID)) as z:
        info = z.getinfo("param/W1.npy")
    # the entry's central directory record: signature, then sizes at offsets 20 and 24
    name = info.filename.encode()
    start = 0
    while True:
        at = data.find(b"PK\x01\x02", start)
        assert at >= 0
        if data[at + 46 : at + 46 + len(name)] == name:
            break
        start = at + 1
    data[at + 20 : at + 28] = struct.pack("<II", 0xFFFFFFF0, 0xFFFFFFF0)
    assert isinstance(_load_safely(target, bytes(data)), ModelFileError)


def test_compressed_entries_are_refused_unread(target):
    """A deflate bomb: 32 MiB of zeros in a few kB. Refused before any decompression."""
    arrays = _arrays(VALID)
    arrays["param/W1"] = np.zeros(2**23, dtype=np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    assert len(buf.getvalue()) < 200_000
    err = _load_safely(target, buf.getvalue())
    assert isinstance(err, ModelFileError)
    assert "compressed" in str(err)


def test_forged_huge_network_is_refused_unbuilt(target):
    def change(header):
        header["network"]["config"]["layer_dims"] = [100_000, 100_000, 1]  # 40 GB of weights

    err = _load_safely(target, _with_header(change))
    assert isinstance(err, ModelFileError)
    assert "needs" in str(err)


def test_forged_huge_ensemble_is_refused_unbuilt(target):
    def change(header):
        member = {"class": "Network", "config": dict(header["network"]["config"])}
        member["config"]["layer_dims"] = [12, 50_000, 50_000, 1]
        header["network"] = {"class": "Ensemble", "config": {"members": [member]}}

    assert isinstance(_load_safely(target, _with_header(change)), ModelFileError)


def test_forged_huge_conv_network_is_refused_unbuilt(target):
    def change(header):
        config = {"architecture": "conv4096x9-conv4096x9-gap", "input_shape": [64, 64, 3]}
        header["network"] = {"class": "ConvNetwork", "config": config}  # 1.4e9 weights

    err = _load_safely(target, _with_header(change))
    assert isinstance(err, ModelFileError)
    assert "needs" in str(err)


def test_deeply_nested_description(target):
    arrays = _arrays(VALID)
    arrays[HEADER_KEY] = np.frombuffer(b"[" * 100_000 + b"]" * 100_000, dtype=np.uint8)
    assert isinstance(_load_safely(target, _npz(arrays)), ModelFileError)


@pytest.mark.parametrize("what", ["empty", "directory", "missing", "npy", "text", "foreign"])
def test_not_model_files(tmp_path, target, what):
    if what == "directory":
        err = _load_safely_path(tmp_path)
    elif what == "missing":
        err = _load_safely_path(tmp_path / "nope.npz")
    else:
        data = {
            "empty": b"",
            "npy": _npy_with_header((4,)),
            "text": b"hello",
            "foreign": _npz({"W1": np.zeros(3)}),
        }[what]
        err = _load_safely(target, data)
    assert isinstance(err, ModelFileError)


def _load_safely_path(path: Path):
    try:
        return load(path)
    except ModelFileError as err:
        return err


# ---- checkpoints -------------------------------------------------------------------------------


def _checkpoint_bytes() -> bytes:
    from nnscratch.app.recipe import TrainConfig
    from nnscratch.persist.checkpoint import Checkpoint, data_fingerprint, save_checkpoint
    from nnscratch.train.callbacks import Callback

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 2, 2, 3), dtype=np.uint8)
    labels = (images.mean(axis=(1, 2, 3)) > 127).astype(np.int64)
    config = TrainConfig(
        layers=(3,),
        ensemble=1,
        iterations=4,
        batch_size=8,
        dropout=0.9,
        optimizer="adam",
        validation_fraction=0.2,
        early_stopping=True,
    )
    pre = ImagePreprocessor(standardize=True)
    X = pre.fit_transform(images)
    net = config.build_model(X.shape[1])

    class Grab(Callback):
        state = None

        def on_iteration_end(self, net, iteration, cost, history):
            if iteration == 3:
                Grab.state = self.training_state.state_dict()

    net.fit(X, labels, callbacks=[Grab()], **config.fit_kwargs())
    settings = config.to_dict()
    ckpt = Checkpoint(net, settings, pre, data_fingerprint(images, labels), 0, [], Grab.state)
    with tempfile.TemporaryDirectory() as d:
        return save_checkpoint(Path(d) / "c.npz", ckpt).read_bytes()


@pytest.fixture(scope="module")
def checkpoint_bytes() -> bytes:
    return _checkpoint_bytes()


def test_valid_checkpoint_loads(target, checkpoint_bytes):
    from nnscratch.app.runs import RunCheckpoint, load_run_checkpoint
    from nnscratch.persist.checkpoint import Checkpoint, load_checkpoint

    ckpt = _load_safely(target, checkpoint_bytes, load_checkpoint)
    assert isinstance(ckpt, Checkpoint)
    assert ckpt.iteration == 3
    run_ckpt = _load_safely(target, checkpoint_bytes, load_run_checkpoint)
    assert isinstance(run_ckpt, RunCheckpoint)
    assert run_ckpt.iteration == 3 and run_ckpt.config.optimizer == "adam"


@FUZZ_CHECKPOINTS
@given(data=st.data())
def test_damaged_checkpoints(target, checkpoint_bytes, data):
    from nnscratch.app.runs import RunCheckpoint, load_run_checkpoint

    raw = bytearray(checkpoint_bytes)
    how = data.draw(st.sampled_from(["truncate", "flip", "overwrite"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        for at, bit in data.draw(
            st.lists(
                st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 7)), min_size=1, max_size=8
            )
        ):
            raw[at] ^= 1 << bit
    else:
        at = data.draw(st.integers(0, len(raw) - 1))
        junk = data.draw(st.binary(min_size=1, max_size=64))
        raw[at : at + len(junk)] = junk
    result = _load_safely(target, bytes(raw), load_run_checkpoint)
    assert isinstance(result, (RunCheckpoint, ModelFileError))


@FUZZ_CHECKPOINTS
@given(data=st.data())
def test_mutated_checkpoint_descriptions(target, checkpoint_bytes, data):
    from nnscratch.app.runs import RunCheckpoint, load_run_checkpoint
    from nnscratch.persist.checkpoint import HEADER_KEY as CKPT_KEY

    arrays = _arrays(checkpoint_bytes)
    header = json.loads(arrays[CKPT_KEY].tobytes())
    paths = _paths(header)
    edits = data.draw(
        st.lists(
            st.tuples(st.sampled_from(paths), st.one_of(st.just("<delete>"), _JSON)),
            min_size=1,
            max_size=4,
        )
    )
    _apply_edits(header, edits)
    arrays[CKPT_KEY] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    result = _load_safely(target, _npz(arrays), load_run_checkpoint)
    assert isinstance(result, (RunCheckpoint, ModelFileError))


def _checkpoint_with_header(checkpoint_bytes: bytes, change) -> bytes:
    from nnscratch.persist.checkpoint import HEADER_KEY as CKPT_KEY

    arrays = _arrays(checkpoint_bytes)
    header = json.loads(arrays[CKPT_KEY].tobytes())
    change(header)
    arrays[CKPT_KEY] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    return _npz(arrays)


@pytest.mark.parametrize(
    "settings, problem",
    [
        ({"wings": 2}, "training configuration is invalid .*wings"),
        ({"learning_rate": -1.0}, "training configuration is invalid .*learning_rate"),
        ({"layers": "abc"}, "training configuration is invalid"),
        ({"model": "cnn", "architecture": {"conv": 3}}, "training configuration is invalid"),
        ({"optimizer": "gd"}, "invalid optimizer state .*gd"),
        ({"optimizer": "no-such"}, "training configuration is invalid .*no-such"),
    ],
)
def test_the_run_checks_the_settings_the_checkpoint_keeps(
    target, checkpoint_bytes, settings, problem
):
    """The checkpoint stores the run's settings as a plain JSON object; the application
    (``load_run_checkpoint``) checks them as a recipe, the optimizer state against its
    optimizer included."""
    from nnscratch.app.runs import load_run_checkpoint
    from nnscratch.persist.checkpoint import Checkpoint, load_checkpoint

    data = _checkpoint_with_header(checkpoint_bytes, lambda h: h["train_config"].update(settings))
    plain = _load_safely(target, data, load_checkpoint)
    assert isinstance(plain, Checkpoint) and plain.settings.items() >= settings.items()
    err = _load_safely(target, data, load_run_checkpoint)
    assert isinstance(err, ModelFileError)
    assert str(err).startswith(f"{target} is not an nnscratch checkpoint: ")
    assert re.search(problem, str(err)), str(err)


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda h: h.update(train_config=[1, 2]), "settings .* not a JSON object"),
        (lambda h: h["preprocessor"].update(kind="Whitener"), "unknown preprocessor kind"),
        (lambda h: h.update(preprocessor=None), "preprocessor state is not a JSON object"),
        (lambda h: h["progress"]["optimizer"].pop("t"), "lacks its step count"),
    ],
)
def test_checkpoint_content_errors_name_the_problem(target, checkpoint_bytes, change, problem):
    from nnscratch.persist.checkpoint import load_checkpoint

    err = _load_safely(target, _checkpoint_with_header(checkpoint_bytes, change), load_checkpoint)
    assert isinstance(err, ModelFileError)
    assert re.search(problem, str(err)), str(err)


def test_unknown_preprocessor_kind_in_a_model_file(target):
    def change(header):
        header["preprocessor"]["state"]["kind"] = "Whitener"

    err = _load_safely(target, _with_header(change))
    assert isinstance(err, ModelFileError)
    assert "unknown preprocessor kind 'Whitener'; known: ImagePreprocessor" in str(err)
