"""Convolutional layers and ConvNetwork: gradients by finite differences and against PyTorch,
the architecture grammar, config round trips, model files, and (slow) training on the cats."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import ConvNetwork, gradient_check
from nnscratch.models.conv import DEFAULT_ARCHITECTURE, parse_architecture
from nnscratch.models.registry import MODEL_CLASSES, model_from_config
from nnscratch.nn.initializers import he
from nnscratch.nn.layers import AveragePool2D, Conv2D, Flatten, GlobalAveragePool, MaxPool2D

F64 = np.dtype("float64")


def make_conv(c_in=3, filters=4, kernel=3, stride=1, padding="same", seed=0, dtype=F64):
    rng = np.random.default_rng(seed)
    layer = Conv2D(
        c_in,
        filters,
        kernel,
        stride=stride,
        padding=padding,
        init=he,
        rng=rng,
        dtype=dtype,
        index=1,
    )
    layer.params["b"][:] = rng.standard_normal(filters)  # nonzero, so b's gradient shows
    return layer


def numeric_input_gradient(layer, X, G, eps=1e-6):
    """d sum(G * layer(X)) / dX by central differences, one input coordinate at a time."""
    grad = np.empty_like(X)
    flat, out = X.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        plus = np.sum(G * layer.forward(X)[0])
        flat[i] = orig - eps
        minus = np.sum(G * layer.forward(X)[0])
        flat[i] = orig
        out[i] = (plus - minus) / (2 * eps)
    return grad


def rel_diff(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


# ---- each layer's input gradient, by finite differences -------------------------------------
CONV_CASES = [
    # (H, W, kernel, stride, padding)
    (5, 6, 3, 1, "same"),
    (5, 6, 3, 1, "valid"),
    (6, 5, 3, 2, "same"),
    (7, 6, 3, 2, "valid"),
    (5, 5, 2, 1, "same"),  # even kernel: the extra padding row goes to the bottom
    (6, 6, 2, 2, 1),
    (4, 5, 1, 1, "valid"),
]


@pytest.mark.parametrize(("H", "W", "kernel", "stride", "padding"), CONV_CASES)
def test_conv_gradients_by_finite_differences(H, W, kernel, stride, padding):
    layer = make_conv(2, 3, kernel, stride, padding)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2, H, W, 2))
    Z, cache = layer.forward(X)
    G = rng.standard_normal(Z.shape)
    dX, grads = layer.backward(G, cache)
    assert dX.shape == X.shape
    assert rel_diff(dX, numeric_input_gradient(layer, X, G)) < 1e-8
    for name, p in layer.params.items():  # parameter gradients, the same way
        numeric = np.empty_like(p)
        flat, out = p.reshape(-1), numeric.reshape(-1)
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + 1e-6
            plus = np.sum(G * layer.forward(X)[0])
            flat[i] = orig - 1e-6
            minus = np.sum(G * layer.forward(X)[0])
            flat[i] = orig
            out[i] = (plus - minus) / 2e-6
        assert rel_diff(grads[name], numeric) < 1e-8, name


POOL_LAYERS = [
    lambda: MaxPool2D(2),
    lambda: MaxPool2D(3, stride=2),
    lambda: MaxPool2D(2, stride=1),
    lambda: AveragePool2D(2),
    lambda: AveragePool2D(3, stride=2),
    lambda: GlobalAveragePool(),
    lambda: Flatten(),
]


@pytest.mark.parametrize("make", POOL_LAYERS)
def test_pool_gradients_by_finite_differences(make):
    layer = make()
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2, 7, 6, 3))  # continuous values: no ties, no kinks hit
    A, cache = layer.forward(X)
    assert A.shape[1:] == layer.output_shape(X.shape[1:])
    G = rng.standard_normal(A.shape)
    dX, grads = layer.backward(G, cache)
    assert grads == {}
    assert rel_diff(dX, numeric_input_gradient(layer, X, G)) < 1e-8


# ---- whole networks, with nnscratch.gradient_check ---------------------------------------
ARCHITECTURES = [
    "conv3x3-relu-pool2-conv4x3s2pvalid-tanh-gap-dense5-relu",
    "conv2x3s2-sigmoid-avgpool2s1-flatten-dense3-tanh",
    "conv3x2p1-maxpool3s2-conv2x3-identity",
    "conv4x3s2-leaky_relu-conv3x1pvalid-relu-gap",
    "conv2x5pvalid-tanh-dense4-sigmoid",  # dense straight after a conv: Flatten inserted
]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_gradient_check_conv_networks(architecture):
    net = ConvNetwork(architecture, input_shape=(9, 8, 2), dtype="float64", seed=1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 9, 8, 2))
    result = gradient_check(net, X, np.array([0, 1, 1, 0]))
    assert result.passed(1e-7), result.per_parameter
    assert result.n_checked == net.n_parameters


def test_gradient_check_softmax_conv_network():
    net = ConvNetwork(
        "conv3x3s2-relu-avgpool2-flatten",
        input_shape=(8, 8, 1),
        n_outputs=3,
        output_activation="softmax",
        dtype="float64",
    )
    X = np.random.default_rng(3).standard_normal((5, 8, 8, 1))
    result = gradient_check(net, X, np.array([0, 1, 2, 1, 0]))
    assert result.passed(1e-7), result.per_parameter


# ---- against PyTorch, float64 ---------------------------------------------------------------
def nchw(a):
    return a.transpose(0, 3, 1, 2)


def nhwc(a):
    return a.transpose(0, 2, 3, 1)


@pytest.mark.torch
@pytest.mark.parametrize(("H", "W", "kernel", "stride", "padding"), CONV_CASES)
def test_conv_matches_torch(H, W, kernel, stride, padding):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    layer = make_conv(3, 5, kernel, stride, padding, seed=4)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3, H, W, 3))
    Z, cache = layer.forward(X)
    G = rng.standard_normal(Z.shape)
    dX, grads = layer.backward(G, cache)

    (top, bottom, left, right), _, _ = layer._geometry(H, W)
    xt = torch.tensor(nchw(X), requires_grad=True)
    # PyTorch's weight layout: (C_out, C_in, kh, kw)
    wt = torch.tensor(layer.params["W"].transpose(3, 2, 0, 1), requires_grad=True)
    bt = torch.tensor(layer.params["b"], requires_grad=True)
    zt = F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, bt, stride=stride)
    (zt * torch.tensor(nchw(G))).sum().backward()

    np.testing.assert_allclose(Z, nhwc(zt.detach().numpy()), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dX, nhwc(xt.grad.numpy()), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads["W"], wt.grad.numpy().transpose(2, 3, 1, 0), atol=1e-12)
    np.testing.assert_allclose(grads["b"], bt.grad.numpy(), atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("size", "stride"), [(2, None), (3, 2), (2, 1), (3, 3)])
def test_pool_matches_torch(kind, size, stride):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    layer = (MaxPool2D if kind == "max" else AveragePool2D)(size, stride=stride)
    torch_pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    rng = np.random.default_rng(6)
    X = rng.standard_normal((2, 9, 8, 3))
    X[:, 0, 1, :] = X[:, 0, 0, :]  # ties, resolved like PyTorch: the first maximum wins
    X[1, 4:6, 4:6, 2] = 0.0
    A, cache = layer.forward(X)
    G = rng.standard_normal(A.shape)
    dX, _ = layer.backward(G, cache)

    xt = torch.tensor(nchw(X), requires_grad=True)
    at = torch_pool(xt, size, stride=stride)
    (at * torch.tensor(nchw(G))).sum().backward()
    np.testing.assert_allclose(A, nhwc(at.detach().numpy()), atol=1e-14)
    np.testing.assert_allclose(dX, nhwc(xt.grad.numpy()), atol=1e-14)


@pytest.mark.torch
def test_conv_network_matches_torch():
    """A whole small network (conv, relu, pool, gap, dense) with the weights copied in."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    net = ConvNetwork(
        "conv4x3-relu-pool2-conv6x3s2-relu-gap-dense5-relu",
        input_shape=(10, 10, 3),
        dtype="float64",
        seed=7,
    )
    rng = np.random.default_rng(8)
    X = rng.standard_normal((6, 10, 10, 3))
    y = np.array([0, 1, 1, 0, 1, 0])
    cost, grads = net.cost_and_gradients(X, y)

    p = {k: torch.tensor(v, requires_grad=True) for k, v in net.parameters.items()}
    a = F.relu(F.conv2d(torch.tensor(nchw(X)), p["W1"].permute(3, 2, 0, 1), p["b1"], padding=1))
    a = F.max_pool2d(a, 2)
    # "same" with stride 2 on 5 x 5: 3 x 3 outputs need (3-1)*2 + 3 - 5 = 2 padded rows, 1 + 1
    a = F.relu(F.conv2d(a, p["W2"].permute(3, 2, 0, 1), p["b2"], stride=2, padding=1))
    a = a.mean(dim=(2, 3))
    a = F.relu(a @ p["W3"].T + p["b3"])
    z = (a @ p["W4"].T + p["b4"])[:, 0]
    loss = F.binary_cross_entropy_with_logits(z, torch.tensor(y, dtype=torch.float64))
    loss.backward()
    assert cost == pytest.approx(loss.item(), rel=1e-12)
    for k in net.parameters:
        np.testing.assert_allclose(grads[k], p[k].grad.numpy(), rtol=1e-10, atol=1e-12)


# ---- the architecture grammar and the network's description --------------------------------
def test_architecture_layers_shapes_and_names():
    architecture = "conv8x3-relu-pool2-conv16x3s2-relu-gap-dense10-relu"
    net = ConvNetwork(architecture, input_shape=(16, 16, 3))
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == [
        "Conv2D",
        "MaxPool2D",  # "relu-pool2" runs as pool then relu: they commute, a quarter of the work
        "ActivationLayer",
        "Conv2D",
        "ActivationLayer",
        "GlobalAveragePool",
        "Dense",
        "ActivationLayer",
        "Dense",
    ]
    assert net.layer_shapes == [
        (16, 16, 8),
        (8, 8, 8),
        (8, 8, 8),
        (4, 4, 16),
        (4, 4, 16),
        (16,),
        (10,),
        (10,),
        (1,),
    ]
    assert sorted(net.parameters) == ["W1", "W2", "W3", "W4", "b1", "b2", "b3", "b4"]
    assert net.parameters["W1"].shape == (3, 3, 3, 8)
    assert net.parameters["W2"].shape == (3, 3, 8, 16)
    assert net.parameters["W4"].shape == (1, 10)
    assert all(p.dtype == np.float32 for p in net.parameters.values())
    assert "total parameters" in net.summary()


def test_flatten_is_inserted_before_dense_and_output():
    net = ConvNetwork("conv2x3-relu", input_shape=(4, 4, 1))
    assert [type(layer).__name__ for layer in net.layers][-2:] == ["Flatten", "Dense"]
    assert net.parameters["W2"].shape == (1, 32)


def test_he_initialisation_scale():
    net = ConvNetwork("conv64x3-relu", input_shape=(8, 8, 32), seed=0)
    W = net.parameters["W1"]
    assert W.std() == pytest.approx(np.sqrt(2 / (3 * 3 * 32)), rel=0.05)
    assert not net.parameters["b1"].any()


@pytest.mark.parametrize(
    ("architecture", "message"),
    [
        ("conv8x3-foo", "unknown architecture token 'foo'"),
        ("", "non-empty string"),
        ("conv0x3", "unknown architecture token"),
        ("gap-conv8x3", "needs an image input"),
        ("conv8x9pvalid", "does not fit"),
        ("pool9", "does not fit"),
        ("dense4-gap", "expects inputs of shape (m, H, W, C)"),
    ],
)
def test_bad_architectures_raise(architecture, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ConvNetwork(architecture, input_shape=(8, 8, 3))


def test_unknown_token_error_lists_grammar():
    with pytest.raises(ValueError, match="allowed: conv<F>x<K>"):
        parse_architecture("conv8x3-relu-maxpool")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_shape": (64, 64)}, "input_shape must be"),
        ({"input_shape": (0, 8, 3)}, "input_shape must be"),
        ({"n_outputs": 0}, "n_outputs"),
        ({"output_activation": "softmax"}, "softmax output needs at least 2"),
        ({"dtype": "int8"}, "dtype"),
        ({"init": "bogus"}, "unknown init"),
        ({"predict_batch_size": 0}, "predict_batch_size"),
    ],
)
def test_bad_constructor_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvNetwork("conv2x3-relu", **{"input_shape": (8, 8, 3), **kwargs})


def test_bad_layer_arguments_raise():
    with pytest.raises(ValueError, match="padding must be one of same, valid"):
        make_conv(padding="full")
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        make_conv(stride=0)
    with pytest.raises(ValueError, match="pool_size"):
        MaxPool2D(0)


def test_input_shape_is_checked():
    net = ConvNetwork("conv2x3-relu", input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match=r"X must have shape \(m, 8, 8, 3\)"):
        net.predict(np.zeros((2, 8, 8, 1)))
    with pytest.raises(ValueError, match=r"X must have shape"):
        net.predict(np.zeros((2, 192)))


def test_config_round_trip_and_registry():
    net = ConvNetwork(
        "conv4x3s2-relu-avgpool2-conv4x3pvalid-tanh-flatten-dense3-relu",
        input_shape=(16, 14, 3),
        n_outputs=3,
        output_activation="softmax",
        seed=5,
    )
    assert MODEL_CLASSES["ConvNetwork"] is ConvNetwork
    twin = model_from_config("ConvNetwork", net.config())
    assert type(twin) is ConvNetwork and twin.config() == net.config()
    for k, p in net.parameters.items():
        np.testing.assert_array_equal(p, twin.parameters[k])  # same seed, same weights
    X = np.random.default_rng(0).random((4, 16, 14, 3))
    np.testing.assert_array_equal(net.predict_proba(X), twin.predict_proba(X))
    assert "ConvNetwork(" in repr(net)


def test_model_file_round_trip(tmp_path):
    nnscratch = pytest.importorskip("nnscratch")
    net = ConvNetwork("conv4x3-relu-pool2-gap", input_shape=(8, 8, 3), seed=3)
    for p in net.parameters.values():
        p += 0.1  # not the seed's weights: the file must carry them
    path = nnscratch.save(net, tmp_path / "cnn.npz")
    loaded = nnscratch.load(path).network
    assert type(loaded) is ConvNetwork
    X = np.random.default_rng(1).random((5, 8, 8, 3))
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))


def test_prediction_in_batches_matches_one_pass():
    big = ConvNetwork("conv3x3-relu-pool2-gap", input_shape=(8, 8, 2), predict_batch_size=1000)
    small = ConvNetwork("conv3x3-relu-pool2-gap", input_shape=(8, 8, 2), predict_batch_size=3)
    X = np.random.default_rng(2).random((10, 8, 8, 2))
    np.testing.assert_allclose(small.predict_proba(X), big.predict_proba(X), rtol=1e-6)
    assert small.predict(X).shape == (10,)


def test_fit_lowers_the_cost_on_a_tiny_problem():
    """Bright-left vs bright-right images: a few steps of gradient descent learn it."""
    rng = np.random.default_rng(0)
    X = rng.random((16, 6, 6, 1)) * 0.1
    y = np.arange(16) % 2
    X[y == 1, :, :3] += 1.0
    X[y == 0, :, 3:] += 1.0
    net = ConvNetwork("conv4x3-relu-pool2-flatten", input_shape=(6, 6, 1), seed=0)
    before = net.cost(X, y)
    net.fit(X, y, learning_rate=0.1, iterations=60)
    assert net.cost(X, y) < before / 2
    assert net.accuracy(X, y) == 1.0


def test_parse_default_architecture():
    tokens = [match[0] for match, _ in parse_architecture(DEFAULT_ARCHITECTURE)]
    assert "-".join(tokens) == DEFAULT_ARCHITECTURE


# ---- with the training engineer's batch norm and dropout -------------------------------------
def test_gradient_check_with_batch_norm_and_dropout():
    net = ConvNetwork(
        "conv3x3-bn-relu-pool2-conv4x3s2-bn-relu-gap-dense5-relu-dropout0.7",
        input_shape=(8, 8, 2),
        dtype="float64",
        seed=2,
    )
    assert {"gamma1", "beta1", "gamma2", "beta2"} <= set(net.parameters)
    assert net.parameters["gamma1"].shape == (3,)  # per channel
    assert sorted(net.buffers) == ["running_mean1", "running_mean2", "running_var1", "running_var2"]
    X = np.random.default_rng(4).standard_normal((6, 8, 8, 2))
    with net.fixed_dropout_masks():
        result = gradient_check(net, X, np.array([0, 1, 1, 0, 1, 0]))
    assert result.passed(1e-7), result.per_parameter


def test_dropout_is_off_at_predict_time_and_keep_prob_checked():
    net = ConvNetwork("conv3x3-relu-gap-dropout0.5", input_shape=(6, 6, 1))
    X = np.random.default_rng(0).random((4, 6, 6, 1))
    np.testing.assert_array_equal(net.predict_proba(X), net.predict_proba(X))
    with pytest.raises(ValueError, match=r"token 'dropout1.5'.*keep probability"):
        ConvNetwork("conv3x3-relu-gap-dropout1.5", input_shape=(6, 6, 1))


# ---- flattened inputs, random shifts, flip averaging ----------------------------------------
def test_flat_input_matches_image_input():
    images = ConvNetwork("conv3x3-relu-pool2-gap", input_shape=(6, 6, 2), seed=1)
    flat = ConvNetwork("conv3x3-relu-pool2-gap", input_shape=(6, 6, 2), seed=1, flat_input=True)
    assert flat.input_shape == (72,) and flat.image_shape == (6, 6, 2)
    assert type(flat.layers[0]).__name__ == "Unflatten"
    X = np.random.default_rng(0).random((5, 6, 6, 2))
    y = np.array([0, 1, 0, 1, 1])
    np.testing.assert_allclose(flat.predict_proba(X.reshape(5, -1)), images.predict_proba(X))
    cost_a, grads_a = images.cost_and_gradients(X, y)
    cost_b, grads_b = flat.cost_and_gradients(X.reshape(5, -1), y)
    assert cost_a == pytest.approx(cost_b)
    for k in grads_a:
        np.testing.assert_allclose(grads_a[k], grads_b[k], rtol=1e-5)
    twin = model_from_config("ConvNetwork", flat.config())
    assert twin.input_shape == (72,)


def test_random_shift_gradient_and_inference_identity():
    from nnscratch.nn.layers import RandomShift

    for shift in (1, 2, 3):
        layer = RandomShift(shift)
        layer.mask_seed = 3  # the same shifts on every call, for finite differences

        class Training:
            def forward(self, X, layer=layer):
                return layer.forward(X, training=True)

        X = np.random.default_rng(shift).standard_normal((3, 7, 6, 2))
        A, cache = layer.forward(X, training=True)
        assert A.shape == X.shape and not np.array_equal(A, X)
        G = np.random.default_rng(9).standard_normal(A.shape)
        dX, _ = layer.backward(G, cache)
        assert rel_diff(dX, numeric_input_gradient(Training(), X, G)) < 1e-8
        assert layer.forward(X, training=False)[0] is X
    with pytest.raises(ValueError, match="max_shift"):
        RandomShift(0)


def test_shift_token_is_seeded_by_fit_and_skipped_at_predict():
    X = np.random.default_rng(0).random((8, 8, 8, 1))
    y = np.arange(8) % 2
    runs = []
    for _ in range(2):
        net = ConvNetwork("shift2-conv2x3-relu-gap", input_shape=(8, 8, 1), seed=0)
        net.fit(X, y, optimizer="adam", learning_rate=0.01, epochs=2, batch_size=4, seed=5)
        runs.append(net.predict_proba(X))
    np.testing.assert_array_equal(runs[0], runs[1])  # same seed, same shifts, same result
    pinned = ConvNetwork("shift2-conv2x3-relu-gap", input_shape=(8, 8, 1), dtype="float64")
    with pinned.fixed_dropout_masks():
        assert gradient_check(pinned, X, y).passed(1e-7)


def test_flip_average_is_symmetric():
    X = np.random.default_rng(1).random((4, 6, 6, 3))
    for flat in (False, True):
        net = ConvNetwork(
            "conv3x3-relu-flatten", input_shape=(6, 6, 3), flip_average=True, flat_input=flat
        )
        data = X.reshape(4, -1) if flat else X
        mirrored = X[:, :, ::-1].reshape(4, -1) if flat else X[:, :, ::-1]
        np.testing.assert_allclose(net.predict_proba(data), net.predict_proba(mirrored), rtol=1e-5)


def test_flat_input_fit_with_flips_needs_no_image_shape():
    X = np.random.default_rng(0).random((6, 5, 5, 1))
    y = np.arange(6) % 2
    flat = ConvNetwork("conv2x3-relu-gap", input_shape=(5, 5, 1), flat_input=True)
    images = ConvNetwork("conv2x3-relu-gap", input_shape=(5, 5, 1))
    options = {"optimizer": "adam", "epochs": 2, "batch_size": 3, "augment_flip": True, "seed": 1}
    flat.fit(X.reshape(6, -1), y, **options)
    images.fit(X, y, **options)
    np.testing.assert_allclose(flat.predict_proba(X.reshape(6, -1)), images.predict_proba(X))


# ---- the cat recipe on the real data (slow: minutes) ------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(1800)  # trains the CNN recipe on the cat data: minutes
def test_cat_recipe_reaches_the_goal(cat_data_dir):
    """The cross-validated recipe (nnscratch.models.conv.CAT_RECIPE) trained on the 209 training
    images with seed 0, as benchmarks/select_cnn.py --test trains it, classifies the 50 test
    images about as well as it did there (the issue's goal: 88% mean over seeds 0, 1, 2)."""
    from nnscratch.data.cats import load_cats
    from nnscratch.models.conv import CAT_RECIPE
    from nnscratch.models.ensemble import Ensemble

    data = load_cats(cat_data_dir, download=False, progress=False)
    X = data.x_train.astype(np.float32) / 255
    X_test = data.x_test.astype(np.float32) / 255
    kwargs = {"input_shape": X.shape[1:], **CAT_RECIPE.get("network", {})}
    k = CAT_RECIPE.get("ensemble", 1)
    if k > 1:
        arch = CAT_RECIPE["architecture"]
        model = Ensemble.of(k, seed=0, network_class=ConvNetwork, architecture=arch, **kwargs)
    else:
        model = ConvNetwork(CAT_RECIPE["architecture"], seed=0, **kwargs)
    from nnscratch.app.recipe import TrainConfig

    with TrainConfig.cnn().threads():  # as `nnscratch train --model cnn` trains it
        histories = model.fit(X, data.y_train, seed=0, eval_train=False, **CAT_RECIPE["fit"])
    for history in histories if isinstance(histories, list) else [histories]:
        assert history.costs[-1] < history.costs[0]
    assert model.accuracy(X, data.y_train) >= 0.95
    assert model.accuracy(X_test, data.y_test) >= 0.86


# ---- reachable from the command line, the recipe and the estimator ---------------------------
def test_train_config_cnn_follows_the_cat_recipe():
    from nnscratch.app.recipe import TrainConfig
    from nnscratch.models.conv import CAT_RECIPE

    config = TrainConfig.cnn()
    assert config.model == "cnn" and config.architecture == CAT_RECIPE["architecture"]
    fit = config.fit_kwargs(image_shape=(64, 64, 3))
    for key, value in CAT_RECIPE["fit"].items():
        assert fit[key] == value, key
    model = TrainConfig.cnn(ensemble=1).build_model(12288, image_shape=(64, 64, 3))
    assert isinstance(model, ConvNetwork) and model.flat_input
    with pytest.raises(ValueError, match="unknown architecture token"):
        TrainConfig.cnn(architecture="conv8x3-nope")


def test_cli_trains_and_saves_a_cnn(cat_data_dir, tmp_path, capsys):
    import json

    from nnscratch import load
    from nnscratch.app.cli import main

    out = tmp_path / "run"
    code = main(
        ["train", "--data", str(cat_data_dir), "--architecture", "conv4x3-relu-pool4-gap",
         "--epochs", "1", "--ensemble", "1", "--out", str(out), "--json", "--print-every", "0"]
    )  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model = load(out / "model.npz")
    assert type(model.network) is ConvNetwork
    assert model.network.architecture == "conv4x3-relu-pool4-gap"
    assert 0 <= summary["test_accuracy"] <= 1
    with pytest.raises(SystemExit) as exit_info:  # a usage error, before any data is read
        main(["train", "--architecture", "conv4x3-oops", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert "unknown architecture token 'oops'" in capsys.readouterr().err


def test_estimator_with_an_architecture():
    pytest.importorskip("sklearn")
    from nnscratch import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.random((12, 6, 6, 1), dtype=np.float32) * 0.1
    y = np.arange(12) % 2
    X[y == 1, :3] += 1  # bright top half: class 1
    clf = MLPClassifier(
        architecture="conv3x3-relu-pool2-flatten",
        image_shape=(6, 6, 1),
        max_iter=80,
        batch_size=12,
        learning_rate_init=0.05,
        random_state=0,
        dtype="float32",
    )
    clf.fit(X.reshape(12, -1), y)
    assert type(clf.network_) is ConvNetwork
    assert clf.score(X.reshape(12, -1), y) == 1.0
    with pytest.raises(ValueError, match="image_shape"):
        MLPClassifier(architecture="conv3x3-relu", image_shape=(5, 5, 1)).fit(X.reshape(12, -1), y)


@pytest.mark.parametrize(
    "architecture",
    [
        *ARCHITECTURES,
        "conv3x3-bn-relu-pool2-conv4x3s2-bn-relu-gap-dense5-relu-dropout0.7",
        "shift2-conv3x3p2-maxpool3s2-avgpool2s1-flatten",
        DEFAULT_ARCHITECTURE,
    ],
)
def test_count_weights_without_building(architecture):
    from nnscratch.models.conv import ConvNetwork

    count_weights = ConvNetwork.count_weights

    for shape in ((9, 8, 2), (64, 64, 3)):
        try:
            net = ConvNetwork(architecture, input_shape=shape, n_outputs=2,
                              output_activation="softmax")  # fmt: skip
        except ValueError:
            continue
        assert count_weights(net.config()) == net.n_parameters


def test_count_weights_of_bad_descriptions_is_none():
    from nnscratch.models.conv import ConvNetwork

    count_weights = ConvNetwork.count_weights

    assert count_weights({"architecture": "conv8x3-nope"}) is None
    assert count_weights({"architecture": "gap-conv8x3"}) is None  # conv after gap
    assert count_weights({"architecture": "gap"}) == 3 + 1  # the output layer on 3 channels
    assert count_weights({}) is None
    forged = {"architecture": "conv100000x3-conv100000x3", "input_shape": [64, 64, 3]}
    assert count_weights(forged) > 10**10  # counted, never allocated
