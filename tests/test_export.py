"""Export: the ONNX model (run by onnxruntime) and the PyTorch module give nnscratch's outputs,
within 1e-5, for every model kind; the skl2onnx converter; ``nnscratch export``; errors.

ONNX tests skip when onnx/onnxruntime are missing (the ``export`` extra); torch tests carry the
``torch`` marker."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from nnscratch import ConvNetwork, Ensemble, LeakyReLU, Network, SequenceNetwork, load, save
from nnscratch.app.cli import main
from nnscratch.data.preprocessing import ImagePreprocessor
from nnscratch.export import UnsupportedModelError, save_torch, to_onnx, to_torch
from nnscratch.nn.activations import HIDDEN_ACTIVATIONS

TOL = 1e-5
CNN = "conv4x3-bn-relu-pool2-conv3x2s2pvalid-bn-tanh-avgpool2s1-gap-dense5-leaky_relu-dropout0.5"
CNN_FLAT = "shift1-conv3x3p1-relu-maxpool2s1-conv2x2-sigmoid-flatten-dense4-relu"


def _randomize(net, seed: int = 0, scale: float = 0.5):
    """Non-trivial parameters and batch-norm statistics (fresh ones are 0 and 1), small
    enough that no probability saturates."""
    rng = np.random.default_rng(seed)
    for name, p in net.parameters.items():
        p[...] = rng.normal(scale=scale, size=p.shape) + (1 if name.startswith("gamma") else 0)
    for name, b in net.buffers.items():
        b[...] = rng.uniform(0.5, 1.5, b.shape) if "var" in name else rng.normal(0, 0.3, b.shape)
    return net


def _onnx_run(model, X, **kwargs) -> dict[str, np.ndarray]:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(to_onnx(model, **kwargs).SerializeToString())
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": X}), strict=True))


def _check_network(net, X, out):
    """``out`` (an exported model's outputs) against the network's own, within TOL."""
    if net.output_activation == "identity":
        expected = net.predict(X)
        assert out["predictions"].shape == expected.shape
        assert out["predictions"].dtype == expected.dtype
        np.testing.assert_allclose(out["predictions"], expected, rtol=0, atol=TOL)
        return
    P = net.predict_proba(X)
    assert out["probabilities"].shape == P.shape and out["probabilities"].dtype == P.dtype
    np.testing.assert_allclose(out["probabilities"], P, rtol=0, atol=TOL)
    np.testing.assert_array_equal(out["label"], net.predict(X))


def _dense(hidden, output, dtype, *, batch_norm=True, seed=0):
    n_out = {"sigmoid": 1, "softmax": 3, "identity": 2}[output]
    net = Network(
        [4, 5, 3, n_out],
        hidden_activation=hidden,
        output_activation=output,
        dtype=dtype,
        batch_norm=batch_norm,
        dropout=0.7,
        seed=seed,
    )
    return _randomize(net, seed)


def _X(shape, dtype, seed=1, m=7):
    return np.random.default_rng(seed).normal(size=(m, *shape)).astype(dtype)


# ---- ONNX: every model kind -----------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_dense_network_onnx(hidden, output, dtype):
    net = _dense(hidden, output, dtype)
    X = _X((4,), dtype)
    _check_network(net, X, _onnx_run(net, X))


def test_dense_onnx_one_output_leaky_slope_no_batch_norm():
    net = _randomize(Network([3, 4, 1], LeakyReLU(0.25), "identity", dtype="float64"))
    X = _X((3,), "float64")
    out = _onnx_run(net, X)
    assert out["predictions"].shape == (7,)
    _check_network(net, X, out)


def _conv_net_and_inputs(architecture, flat, flip, dtype):
    """A softmax ConvNetwork on (9, 8, 3) images with random parameters, and 5 inputs."""
    net = ConvNetwork(
        architecture,
        input_shape=(9, 8, 3),
        n_outputs=3,
        output_activation="softmax",
        dtype=dtype,
        flat_input=flat,
        flip_average=flip,
    )
    _randomize(net, 2)
    return net, _X(net.input_shape, dtype, m=5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("architecture", "flat", "flip"),
    [(CNN, False, False), (CNN, True, True), (CNN_FLAT, True, False), (CNN_FLAT, False, True)],
)
def test_conv_network_onnx(architecture, flat, flip, dtype):
    net, X = _conv_net_and_inputs(architecture, flat, flip, dtype)
    _check_network(net, X, _onnx_run(net, X))


@pytest.mark.parametrize("opset", [13, 18, None])
def test_onnx_opsets(opset):
    onnx = pytest.importorskip("onnx")
    opset = opset or onnx.defs.onnx_opset_version()
    net = _randomize(ConvNetwork("conv2x3-relu-gap", input_shape=(5, 5, 1), n_outputs=1), 3)
    X = _X(net.input_shape, "float32")
    _check_network(net, X, _onnx_run(net, X, opset=opset))


def test_ensemble_onnx():
    ens = Ensemble.of(3, layer_dims=[4, 6, 1], seed=0)
    for k, net in enumerate(ens.members):
        _randomize(net, k)
    X = _X((4,), "float32")
    _check_network(ens, X, _onnx_run(ens, X))
    cnns = Ensemble.of(
        2,
        network_class=ConvNetwork,
        architecture="conv2x3-bn-relu-gap",
        input_shape=(5, 4, 2),
        n_outputs=3,
        output_activation="softmax",
        dtype="float64",
    )
    for k, net in enumerate(cnns.members):
        _randomize(net, k)
    X = _X((5, 4, 2), "float64")
    _check_network(cnns, X, _onnx_run(cnns, X))


def _classifier(labels, dtype=np.float32):
    from nnscratch import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)).astype(dtype)
    y = np.asarray(labels)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5) * (len(labels) - 2)]
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    with pytest.warns(Warning):  # ConvergenceWarning: 5 epochs
        clf.fit(X, y)
    return clf, X


@pytest.mark.parametrize("labels", [["no", "yes"], [3, 5, 7], [0, 1]])
def test_estimator_classifier_onnx(labels):
    pytest.importorskip("sklearn")
    clf, X = _classifier(labels)
    out = _onnx_run(clf, X)
    np.testing.assert_allclose(out["probabilities"], clf.predict_proba(X), rtol=0, atol=TOL)
    np.testing.assert_array_equal(out["label"], clf.predict(X))


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_estimator_regressor_onnx(n_outputs):
    pytest.importorskip("sklearn")
    from nnscratch import MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    y = X[:, :n_outputs] * 2 + 1
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    with pytest.warns(Warning):
        reg.fit(X, y[:, 0] if n_outputs == 1 else y)
    out = _onnx_run(reg, X)
    assert out["predictions"].shape == reg.predict(X).shape
    np.testing.assert_allclose(out["predictions"], reg.predict(X), rtol=0, atol=TOL)


def _images(m=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(m, 6, 5, 3), dtype=np.uint8)


def _model_file(tmp_path, kind: str):
    """A model file as ``nnscratch train`` writes one: uint8 images, ImagePreprocessor."""
    images = _images(20)
    pre = ImagePreprocessor(standardize=kind != "dense64").fit(images)
    if kind == "cnn":
        net = ConvNetwork("conv3x3-bn-relu-pool2-gap", input_shape=(6, 5, 3), flat_input=True)
    else:
        net = Network([90, 4, 1], dtype="float64" if kind == "dense64" else "float32")
    y = (images.reshape(20, -1).mean(axis=1) > 127).astype(int)
    net.fit(pre.transform(images), y, iterations=3, learning_rate=0.01, optimizer="adam")
    _randomize(net, 4, scale=0.1)
    return save(net, tmp_path / f"{kind}.npz", preprocessor=pre, classes=("no", "yes"))


@pytest.mark.parametrize("kind", ["cnn", "dense", "dense64"])
def test_model_file_with_preprocessing_onnx(tmp_path, kind):
    model = load(_model_file(tmp_path, kind))
    images = _images(seed=1)
    out = _onnx_run(model, images)  # raw uint8 images in, the preprocessing inside the graph
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(images), atol=TOL)
    np.testing.assert_array_equal(out["label"], model.predict(images))


def test_skl2onnx_pipeline():
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from nnscratch import MLPClassifier, MLPRegressor
    from nnscratch.export import register_skl2onnx

    register_skl2onnx()
    rng = np.random.default_rng(0)
    X = rng.normal(3, 2, size=(40, 5)).astype(np.float32)
    for labels in (["cat", "dog", "eel"], [0, 1]):
        y = np.asarray(labels)[(X[:, 0] > 3).astype(int) + (X[:, 1] > 4) * (len(labels) - 2)]
        pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(6,), max_iter=5))
        with pytest.warns(Warning):
            pipe.fit(X, y)
        onx = convert_sklearn(
            pipe,
            initial_types=[("X", FloatTensorType([None, 5]))],
            options={MLPClassifier: {"zipmap": False}},
        )
        session = ort.InferenceSession(onx.SerializeToString())
        label, proba = session.run(None, {"X": X})
        np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=TOL)
        np.testing.assert_array_equal(label, pipe.predict(X))
        zipped = convert_sklearn(pipe, initial_types=[("X", FloatTensorType([None, 5]))])
        _, maps = ort.InferenceSession(zipped.SerializeToString()).run(None, {"X": X[:2]})
        assert maps[0].keys() == set(pipe.classes_.tolist())
        indices = convert_sklearn(
            pipe,
            initial_types=[("X", FloatTensorType([None, 5]))],
            options={MLPClassifier: {"zipmap": False, "nocl": True}},
        )
        index, _ = ort.InferenceSession(indices.SerializeToString()).run(None, {"X": X})
        np.testing.assert_array_equal(pipe.classes_[index], pipe.predict(X))
    y = X[:, :2].astype(np.float64) @ np.array([[1.0, 2.0], [3.0, -1.0]])
    reg = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(4,), max_iter=5))
    with pytest.warns(Warning):
        reg.fit(X.astype(np.float64), y)
    onx = convert_sklearn(reg, initial_types=[("X", DoubleTensorType([None, 5]))])
    (values,) = ort.InferenceSession(onx.SerializeToString()).run(None, {"X": X.astype(float)})
    np.testing.assert_allclose(values, reg.predict(X.astype(np.float64)), rtol=0, atol=TOL)


# ---- errors ---------------------------------------------------------------------------------
def test_unsupported_models_name_what_they_got():
    seq = SequenceNetwork("lstm4", input_shape=(5, 2))
    with pytest.raises(UnsupportedModelError, match="LSTM"):
        to_onnx(seq)
    with pytest.raises(UnsupportedModelError, match="cannot export a str; exportable: Ensemble"):
        to_onnx("model.npz")
    pytest.importorskip("sklearn")
    from nnscratch import MLPClassifier

    with pytest.raises(UnsupportedModelError, match="not fitted"):
        to_onnx(MLPClassifier())


def test_bad_opset_and_input_dtype():
    onnx = pytest.importorskip("onnx")
    net = Network([2, 1])
    with pytest.raises(ValueError, match="opset must be an integer >= 13"):
        to_onnx(net, opset=12)
    with pytest.raises(ValueError, match="opset must be from 13"):
        to_onnx(net, opset=onnx.defs.onnx_opset_version() + 1)
    with pytest.raises(ValueError, match="input_dtype must be an integer or float dtype"):
        to_onnx(net, input_dtype="U3")


def test_missing_onnx_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    from nnscratch.export import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"pip install 'nnscratch\[export\]'"):
        to_onnx(Network([2, 1]))


# ---- save accepts an estimator --------------------------------------------------------------
def test_save_accepts_a_fitted_estimator(tmp_path):
    pytest.importorskip("sklearn")
    clf, X = _classifier([3, 5, 7])
    model = load(save(clf, tmp_path / "clf.npz"))
    assert model.classes == ("3", "5", "7")
    np.testing.assert_array_equal(model.predict_proba(X), clf.predict_proba(X))


# ---- the command ----------------------------------------------------------------------------
def test_cli_export_onnx_round_trip(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    path = _model_file(tmp_path, "cnn")
    out = tmp_path / "model.onnx"
    assert main(["export", str(path), "--format", "onnx", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    images = _images(seed=2)
    label, proba = ort.InferenceSession(str(out)).run(None, {"X": images})
    model = load(path)
    np.testing.assert_allclose(proba, model.predict_proba(images), rtol=0, atol=TOL)
    np.testing.assert_array_equal(label, model.predict(images))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_cli_export_errors(tmp_path, capsys, monkeypatch):
    missing = tmp_path / "missing.npz"
    assert main(["export", str(missing), "--out", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nnscratch export: error:" in err and "missing.npz" in err
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(missing), "--format", "tflite", "--out", "x"])
    assert exit_.value.code == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(missing), "--opset", "9", "--out", "x"])
    assert exit_.value.code == 2
    assert "opset must be an integer >= 13; got 9" in capsys.readouterr().err
    seq = save(SequenceNetwork("gru3", input_shape=(4, 1)), tmp_path / "seq.npz")
    assert main(["export", str(seq), "--out", str(tmp_path / "seq.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot export layer GRU" in err
    assert not (tmp_path / "seq.onnx").exists()
    monkeypatch.setitem(sys.modules, "onnx", None)
    net = save(Network([2, 1]), tmp_path / "net.npz")
    assert main(["export", str(net), "--out", str(tmp_path / "net.onnx")]) == 1
    assert capsys.readouterr().err == (
        "nnscratch export: error: export to ONNX needs onnx: pip install 'nnscratch[export]'\n"
    )


# ---- PyTorch ----------------------------------------------------------------------------------
def _torch_out(module, X, head_network=True) -> dict[str, np.ndarray]:
    import torch

    x = torch.from_numpy(X)
    with torch.no_grad():
        values = module(x).numpy()
    label = module.predict(x).numpy()
    return {"probabilities": values, "predictions": values, "label": label}


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_dense_network_torch(hidden, output, dtype):
    pytest.importorskip("torch")
    net = _dense(hidden, output, dtype)
    X = _X((4,), dtype)
    _check_network(net, X, _torch_out(to_torch(net), X))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("architecture", "flat", "flip"),
    [(CNN, False, False), (CNN, True, True), (CNN_FLAT, True, False), (CNN_FLAT, False, True)],
)
def test_conv_network_torch(architecture, flat, flip, dtype):
    pytest.importorskip("torch")
    net, X = _conv_net_and_inputs(architecture, flat, flip, dtype)
    _check_network(net, X, _torch_out(to_torch(net), X))


@pytest.mark.torch
def test_ensemble_estimators_and_model_file_torch(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    ens = Ensemble.of(3, layer_dims=[4, 6, 3], output_activation="softmax", seed=0)
    for k, net in enumerate(ens.members):
        _randomize(net, k)
    X = _X((4,), "float32")
    _check_network(ens, X, _torch_out(to_torch(ens), X))
    for labels in (["no", "yes"], [3, 5, 7]):
        clf, X = _classifier(labels)
        out = _torch_out(to_torch(clf), X)
        np.testing.assert_allclose(out["probabilities"], clf.predict_proba(X), rtol=0, atol=TOL)
        module = to_torch(clf)
        np.testing.assert_array_equal(np.asarray(module.classes)[out["label"]], clf.predict(X))
    model = load(_model_file(tmp_path, "cnn"))
    images = _images(seed=3)
    out = _torch_out(to_torch(model), images)
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(images), atol=TOL)
    np.testing.assert_array_equal(out["label"], model.predict(images))


@pytest.mark.torch
def test_save_torch_writes_state_and_a_standalone_module(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    path = _model_file(tmp_path, "cnn")
    out = tmp_path / "cat.pt"
    assert main(["export", str(path), "--format", "torch", "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == ["wrote", str(out), "wrote", str(tmp_path / "cat.py")]
    saved = torch.load(out, weights_only=True)  # a plain state_dict and JSON-able spec
    assert set(saved) == {"spec", "state_dict"}
    spec = importlib.util.spec_from_file_location("exported_cat", tmp_path / "cat.py")
    module_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module_file)  # the copied module definition, torch only
    module = module_file.load(out)
    model = load(path)
    images = _images(seed=4)
    out_ = _torch_out(module, images)
    np.testing.assert_allclose(out_["probabilities"], model.predict_proba(images), atol=TOL)
    with pytest.raises(ValueError, match="must not end in .py"):
        save_torch(model, tmp_path / "x.py")


def test_missing_torch_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    from nnscratch.export import MissingExtraError

    with pytest.raises(MissingExtraError, match="export to PyTorch needs torch: install PyTorch"):
        to_torch(Network([2, 1]))
    net = save(Network([2, 1]), tmp_path / "net.npz")
    assert main(["export", str(net), "--format", "torch", "--out", str(tmp_path / "n.pt")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs torch" in err
    assert not (tmp_path / "n.pt").exists()


@pytest.mark.slow
def test_cli_train_then_export_round_trip(cat_data_dir, tmp_path, capsys):
    """``nnscratch train`` (the recipe's CNN ensemble, a few iterations), ``nnscratch export``,
    then onnxruntime on raw uint8 cat images: the probabilities of ``nnscratch.load``."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("PIL")
    import h5py

    run = tmp_path / "run"
    argv = ["train", "--data", str(cat_data_dir), "--iterations", "2", "--ensemble", "2"]
    assert main([*argv, "--out", str(run)]) == 0
    (path,) = run.glob("*.npz")
    onnx_path = tmp_path / "cat.onnx"
    assert main(["export", str(path), "--out", str(onnx_path)]) == 0
    with h5py.File(cat_data_dir / "test_catvnoncat.h5") as f:
        images = f["test_set_x"][:8]
    label, proba = ort.InferenceSession(str(onnx_path)).run(None, {"X": images})
    model = load(path)
    np.testing.assert_allclose(proba, model.predict_proba(images), rtol=0, atol=TOL)
    np.testing.assert_array_equal(label, model.predict(images))
