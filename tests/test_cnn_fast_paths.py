"""Every CNN fast path equals the plain path it stands beside: forward and all gradients,
float64 to ~1e-12 and float32 to float32 rounding.

- BatchNorm.long_rows: images in training mode on (m*H, W*C) rows
- MaxPool2D.pairs: 2 x 2 / stride 2 windows by pairs of columns, then rows (ties included)
- RandomShift: slices per image (against the fancy-index gather it replaced)
- WorkArrays: reused layer outputs and gradients (against fresh arrays, bitwise)
- Conv2D.planes (im2col from channel planes) and Conv2D.blocks (im2col and products by blocks
  of images) against the whole-batch plain im2col; the first conv computes no dA
- ConvNetwork: pool before relu, no conv bias before batch norm (against the written order
  with the bias), and model configs from before the rule keep their biases
"""

from __future__ import annotations

import contextlib
import copy
import pickle

import numpy as np
import pytest

from nnscratch.models.conv import ConvNetwork
from nnscratch.nn.layers import BatchNorm, MaxPool2D, RandomShift
from nnscratch.nn.layers.buffers import WorkArrays
from nnscratch.nn.layers.shift import reflect_pad
from nnscratch.train.callbacks import Callback

TOLERANCE = {np.float64: {"rtol": 1e-12, "atol": 1e-12}, np.float32: {"rtol": 2e-5, "atol": 2e-5}}
DTYPES = [np.float64, np.float32]


def _close(a, b, dtype):
    np.testing.assert_allclose(a, b, **TOLERANCE[dtype])


# ---- batch norm on long rows --------------------------------------------------------------
def _batch_norms(dtype, C):
    fast, plain = (BatchNorm(C, index=1, dtype=dtype) for _ in range(2))
    plain.long_rows = False
    rng = np.random.default_rng(1)
    for layer in (fast, plain):
        layer.params["gamma"][:] = rng.uniform(0.5, 2, C) if layer is fast else fast.params["gamma"]
        layer.params["beta"][:] = np.arange(C) - 1.0
    return fast, plain


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("need_input_grad", [True, False])
def test_batch_norm_long_rows_equal_the_plain_path(dtype, need_input_grad):
    rng = np.random.default_rng(0)
    Z = (rng.standard_normal((4, 6, 5, 3)) * 3 + 2).astype(dtype)
    dout = rng.standard_normal(Z.shape).astype(dtype)
    fast, plain = _batch_norms(dtype, 3)
    out_f, cache_f = fast.forward(Z, training=True)
    out_p, cache_p = plain.forward(Z, training=True)
    _close(out_f, out_p, dtype)
    for name in ("running_mean", "running_var"):
        _close(fast.buffers[name], plain.buffers[name], dtype)
    dZ_f, grads_f = fast.backward(dout, cache_f, need_input_grad)
    dZ_p, grads_p = plain.backward(dout, cache_p, need_input_grad)
    assert (dZ_f is None) == (dZ_p is None) == (not need_input_grad)
    if need_input_grad:
        _close(dZ_f, dZ_p, dtype)
    assert set(grads_f) == set(grads_p) == {"gamma", "beta"}
    for name in grads_f:
        _close(grads_f[name], grads_p[name], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_long_rows_in_inference_mode_equal_the_plain_path(dtype):
    fast, plain = _batch_norms(dtype, 3)
    rng = np.random.default_rng(2)
    for layer in (fast, plain):
        layer.buffers["running_mean"][:] = [0.5, -1.0, 2.0]
        layer.buffers["running_var"][:] = [0.25, 4.0, 1.5]
    Z = rng.standard_normal((5, 4, 6, 3)).astype(dtype)
    dout = rng.standard_normal(Z.shape).astype(dtype)
    out_f, cache_f = fast.forward(Z)
    out_p, cache_p = plain.forward(Z)
    _close(out_f, out_p, dtype)
    dZ_f, grads_f = fast.backward(dout, cache_f)
    dZ_p, grads_p = plain.backward(dout, cache_p)
    _close(dZ_f, dZ_p, dtype)
    for name in grads_f:
        _close(grads_f[name], grads_p[name], dtype)


def test_batch_norm_long_rows_only_on_images():
    fast, plain = _batch_norms(np.float64, 3)
    flat = np.random.default_rng(2).standard_normal((80, 3))
    np.testing.assert_array_equal(fast.forward(flat, True)[0], plain.forward(flat, True)[0])


# ---- max-pool by pairs ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_pairs_equal_the_plain_path(dtype, ties):
    rng = np.random.default_rng(3)
    shape = (3, 6, 8, 5)
    # small integers: most windows hold tied maxima, which must go to the same input
    X = rng.integers(-2, 3, shape) if ties else rng.standard_normal(shape)
    X = X.astype(dtype)
    dA = rng.standard_normal((3, 3, 4, 5)).astype(dtype)
    fast, plain = MaxPool2D(2), MaxPool2D(2)
    plain.pairs = False
    A_f, cache_f = fast.forward(X, True)
    A_p, cache_p = plain.forward(X, True)
    assert len(cache_f) == 3 and len(cache_p) == 2  # the fast path was taken
    np.testing.assert_array_equal(A_f, A_p)
    np.testing.assert_array_equal(fast.backward(dA, cache_f)[0], plain.backward(dA, cache_p)[0])


def test_max_pool_pairs_only_where_they_tile():
    X = np.random.default_rng(4).standard_normal((2, 5, 6, 3))  # odd H: the plain path
    assert len(MaxPool2D(2).forward(X)[1]) == 2
    assert len(MaxPool2D(2, stride=1).forward(X[:, :4])[1]) == 2


# ---- random shift by slices -----------------------------------------------------------------
@pytest.mark.parametrize("s", [1, 2, 4])
def test_reflect_pad_equals_numpy_pad(s):
    for H, W in ((5, 7), (s + 1, s + 2), (9, 9)):
        A = np.random.default_rng(s).standard_normal((2, H, W, 3))
        expected = np.pad(A, ((0, 0), (s, s), (s, s), (0, 0)), mode="reflect")
        np.testing.assert_array_equal(reflect_pad(A, s), expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_random_shift_by_slices_equals_the_gather(dtype):
    """The slices against the index-array gather (and its scatter-add backward)."""
    rng = np.random.default_rng(5)
    m, H, W, C, s = 6, 7, 9, 2, 3
    A = rng.standard_normal((m, H, W, C)).astype(dtype)
    dA = rng.standard_normal(A.shape).astype(dtype)
    layer = RandomShift(s)
    layer.mask_seed = 11  # the same shifts in every forward pass, and in the reference below
    out, cache = layer.forward(A, training=True)
    dy, dx = np.random.default_rng([11, 7]).integers(0, 2 * s + 1, size=(2, m))
    P = np.pad(A, ((0, 0), (s, s), (s, s), (0, 0)), mode="reflect")
    rows = (dy[:, None] + np.arange(H))[:, :, None]
    cols = (dx[:, None] + np.arange(W))[:, None, :]
    samples = np.arange(m)[:, None, None]
    np.testing.assert_array_equal(out, P[samples, rows, cols])
    # backward: the gradient of sum(out * dA) by the chain rule through np.pad's reflection
    index = np.arange(A.size).reshape(A.shape)
    source = np.pad(index, ((0, 0), (s, s), (s, s), (0, 0)), mode="reflect")[samples, rows, cols]
    expected = np.zeros(A.size, dtype=dtype)
    np.add.at(expected, source.ravel(), dA.ravel())
    dA_prev, _ = layer.backward(dA, cache)
    _close(dA_prev, expected.reshape(A.shape), dtype)


# ---- the network's exact rewrites -----------------------------------------------------------
ARCHITECTURE = "shift1-conv4x3-bn-relu-pool2-conv5x3-bn-relu-pool2-gap-dense6-relu"


def _pair(dtype, **kwargs):
    """(fast, plain): the same weights; plain in the written order, with zero conv biases."""
    name = np.dtype(dtype).name
    fast = ConvNetwork(ARCHITECTURE, input_shape=(8, 8, 3), dtype=name, seed=3, **kwargs)

    class WrittenOrder(ConvNetwork):
        pool_before_relu = False

    plain = WrittenOrder(
        ARCHITECTURE, input_shape=(8, 8, 3), dtype=name, seed=3, bias_before_bn=True, **kwargs
    )
    return fast, plain


@pytest.mark.parametrize("dtype", DTYPES)
def test_pool_before_relu_and_no_bias_before_bn_change_nothing(dtype):
    fast, plain = _pair(dtype)
    kinds = [type(layer).__name__ for layer in fast.layers][:6]
    assert kinds[2:4] == ["BatchNorm", "MaxPool2D"]  # pool moved before relu
    assert "b1" not in fast.parameters and "b2" not in fast.parameters
    assert not plain.parameters["b1"].any()  # the written order's biases start at zero
    rng = np.random.default_rng(6)
    X = rng.random((5, 8, 8, 3)).astype(dtype)
    y = np.array([0, 1, 1, 0, 1])
    with fast.fixed_dropout_masks(1), plain.fixed_dropout_masks(1):
        cost_f, grads_f = fast.cost_and_gradients(X, y)
        cost_p, grads_p = plain.cost_and_gradients(X, y)
    assert cost_f == pytest.approx(cost_p, rel=1e-12 if dtype is np.float64 else 1e-5)
    for name, g in grads_f.items():
        _close(g, grads_p[name], dtype)
    for name in ("b1", "b2"):  # what the fast network leaves out has no gradient
        np.testing.assert_allclose(grads_p[name], 0, atol=TOLERANCE[dtype]["atol"])
    _close(fast.logits(X), plain.logits(X), dtype)


def test_a_config_from_before_the_rule_keeps_its_conv_biases():
    new = ConvNetwork(ARCHITECTURE, input_shape=(8, 8, 3))
    assert new.config()["bias_before_bn"] is False
    old_config = {k: v for k, v in new.config().items() if k != "bias_before_bn"}
    old = ConvNetwork.from_config(old_config)
    assert {"b1", "b2"} <= set(old.parameters)
    assert ConvNetwork.count_weights(old_config) == old.n_parameters
    assert ConvNetwork.count_weights(new.config()) == new.n_parameters
    assert ConvNetwork.from_config(new.config()).n_parameters == new.n_parameters


# ---- conv im2col from channel planes ---------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("C", "kernel", "stride", "padding"),
    [(3, 3, 1, "same"), (1, 3, 2, "same"), (2, 5, 1, "valid"), (3, 4, 2, 1), (4, 2, 3, "same")],
)
def test_conv_planes_equal_the_plain_im2col(dtype, C, kernel, stride, padding):
    from nnscratch.nn.initializers import get_initializer
    from nnscratch.nn.layers import Conv2D

    def make():
        rng = np.random.default_rng(10)
        return Conv2D(
            C,
            5,
            kernel,
            stride=stride,
            padding=padding,
            init=get_initializer("he"),
            rng=rng,
            dtype=dtype,
            index=1,
        )

    fast, plain = make(), make()
    plain.planes = False
    fast.blocks = plain.blocks = False  # whole-batch cols, cached: compared below
    rng = np.random.default_rng(11)
    fast.params["b"][:] = plain.params["b"][:] = rng.standard_normal(5)
    for m in (4, 3):  # then a smaller batch
        X = rng.standard_normal((m, 9, 8, C)).astype(dtype)
        Z_f, cache_f = fast.forward(X, True)
        Z_p, cache_p = plain.forward(X, True)
        np.testing.assert_array_equal(cache_f[0], cache_p[0])  # the same im2col matrix
        assert cache_f[0].flags.f_contiguous and not cache_p[0].flags.f_contiguous
        _close(Z_f, Z_p, dtype)
        dZ = rng.standard_normal(Z_f.shape).astype(dtype)
        (dA_f, g_f), (dA_p, g_p) = fast.backward(dZ, cache_f), plain.backward(dZ, cache_p)
        _close(dA_f, dA_p, dtype)
        for name in ("W", "b"):
            _close(g_f[name], g_p[name], dtype)


# ---- conv im2col and product by blocks of images ---------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("stride", "padding"), [(1, "same"), (2, "same"), (1, "valid"), (2, 1)])
@pytest.mark.parametrize("images_per_block", [1, 2, 5])
@pytest.mark.parametrize("C", [3, 6])  # channel planes, and the plain im2col
def test_conv_blocks_equal_one_whole_product(
    monkeypatch, dtype, stride, padding, images_per_block, C
):
    from nnscratch.nn.initializers import get_initializer
    from nnscratch.nn.layers import Conv2D, conv

    def make():
        rng = np.random.default_rng(12)
        init = get_initializer("he")
        return Conv2D(
            C, 4, 3, stride=stride, padding=padding, init=init, rng=rng, dtype=dtype, index=1
        )

    blocked, whole = make(), make()
    whole.blocks = False
    rng = np.random.default_rng(13)
    whole.params["b"][:] = blocked.params["b"][:] = rng.standard_normal(4)
    X = rng.standard_normal((5, 7, 6, C)).astype(dtype)  # 5 images: a last, smaller block
    per_image = whole.forward(X[:1], True)[1][0].nbytes  # one image's rows of cols
    monkeypatch.setattr(conv, "BLOCK_BYTES", per_image * images_per_block)
    blocks = [cols.copy() for _, cols in blocked._im2col_blocks(X, *blocked._geometry(7, 6))]
    assert len(blocks) == -(-5 // images_per_block)
    Z_b, cache_b = blocked.forward(X, True)
    Z_w, cache_w = whole.forward(X, True)
    assert cache_b[0] is None  # blocks cache the input, not cols
    np.testing.assert_array_equal(np.concatenate(blocks), cache_w[0])  # the same im2col
    _close(Z_b, Z_w, dtype)
    dZ = rng.standard_normal(Z_b.shape).astype(dtype)
    (dA_b, g_b), (dA_w, g_w) = blocked.backward(dZ, cache_b), whole.backward(dZ, cache_w)
    _close(dA_b, dA_w, dtype)
    assert set(g_b) == {"W", "b"}
    for name in g_b:
        _close(g_b[name], g_w[name], dtype)


# ---- work arrays reused between passes (buffers.WorkArrays) ---------------------------------
def _conv(seed=0, dtype=np.float64, C=3, F=4):
    from nnscratch.nn.initializers import get_initializer
    from nnscratch.nn.layers import Conv2D

    rng = np.random.default_rng(seed)
    return Conv2D(C, F, 3, init=get_initializer("he"), rng=rng, dtype=dtype, index=1)


@contextlib.contextmanager
def _fresh_arrays():
    """The plain code: every work array a fresh np.empty."""
    WorkArrays.reuse = False
    try:
        yield
    finally:
        WorkArrays.reuse = True


def test_work_arrays_hand_out_only_arrays_nobody_holds():
    work = WorkArrays()
    a = work.get("x", (4, 5), np.float32)
    b = work.get("x", (4, 5), np.float32)  # a is still held: a new array
    assert not np.shares_memory(a, b)
    view = b[1:]
    del b
    c = work.get("x", (4, 5), np.float32)  # a view of b is held: still not b's memory
    assert not np.shares_memory(c, view)
    address = c.__array_interface__["data"][0]
    del c
    d = work.get("x", (2, 5), np.float32)  # released: the same memory, a smaller batch too
    assert d.__array_interface__["data"][0] == address and d.shape == (2, 5)
    del d
    assert work.get("x", (4, 5), np.float64).dtype == np.float64  # another dtype: new
    assert len(pickle.loads(pickle.dumps(work))) == 0 and len(copy.deepcopy(work)) == 0
    kept = work._owners["x"]
    with _fresh_arrays():  # the plain code: a new array, nothing kept
        assert not np.shares_memory(work.get("x", (2, 5), np.float64), kept)
    assert work._owners == {"x": kept}


def _layers(dtype):
    """(name, make layer, input shape, training) for each layer with work arrays."""
    return [
        ("conv", lambda: _conv(dtype=dtype), (5, 6, 6, 3)),
        ("batchnorm", lambda: BatchNorm(3, index=1, dtype=dtype), (5, 6, 4, 3)),
        ("batchnorm inference", lambda: BatchNorm(3, index=1, dtype=dtype), (5, 6, 4, 3)),
        ("maxpool", lambda: MaxPool2D(2), (5, 6, 8, 3)),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["conv", "batchnorm", "batchnorm inference", "maxpool"])
def test_reused_work_arrays_give_the_fresh_arrays_results(dtype, kind):
    """Two forward passes in a row, then the backward of each (latest first, then the
    earlier one), then a smaller batch: bitwise what fresh arrays give."""
    make, shape = next((f, s) for name, f, s in _layers(dtype) if name == kind)
    rng = np.random.default_rng(8)
    X1, X2 = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    small = rng.standard_normal((2, *shape[1:])).astype(dtype)
    reused, fresh = make(), make()
    training = kind != "batchnorm inference"

    def run(layer):
        out1, cache1 = layer.forward(X1, training)
        out2, cache2 = layer.forward(X2, training)
        dZ = np.ones_like(out2) + out2  # any fixed upstream gradient
        results = [out1.copy(), out2.copy()]
        for cache, out in ((cache2, out2), (cache1, out1)):
            dA, grads = layer.backward(dZ * out, cache)
            results += [dA.copy(), *(grads[k].copy() for k in sorted(grads))]
        del out1, out2, cache1, cache2, dA
        out3, cache3 = layer.forward(small, training)
        dA3, grads3 = layer.backward(np.ones_like(out3) + out3, cache3)
        return [*results, out3.copy(), dA3.copy(), *(grads3[k].copy() for k in sorted(grads3))]

    got = run(reused)
    with _fresh_arrays():
        expected = run(fresh)
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(reused._work) > 0 and len(fresh._work) == 0
    # the arrays really are reused once released: the same memory for the next forward pass
    out, _ = reused.forward(X1, training)
    address = out.__array_interface__["data"][0]
    del out, _
    out, _ = reused.forward(X2, training)
    assert out.__array_interface__["data"][0] == address
    assert len(pickle.loads(pickle.dumps(reused))._work) == 0  # pickles carry no work arrays


@pytest.mark.parametrize("dtype", DTYPES)
def test_training_with_reused_work_arrays_equals_fresh_arrays(dtype):
    """Two epochs of a small ConvNetwork (batches of 4 of 10 images: a smaller last batch),
    then inference on another batch size: bitwise the parameters and logits of fresh arrays."""
    rng = np.random.default_rng(9)
    X = rng.random((10, 8, 8, 3)).astype(dtype)
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 0])
    name = np.dtype(dtype).name

    def train():
        net = ConvNetwork(ARCHITECTURE, input_shape=(8, 8, 3), dtype=name, seed=3)
        kept = []

        class Kept(Callback):
            def on_epoch_end(self, net, epoch, history):
                kept.append(any(len(layer.__dict__.get("_work", ())) for layer in net.layers))

        net.fit(
            X, y, optimizer="adam", batch_size=4, epochs=2, seed=0, eval_train=False,
            callbacks=[Kept()],
        )  # fmt: skip
        assert kept == [WorkArrays.reuse] * 2  # kept between epochs; the plain code keeps none
        assert not any(len(layer.__dict__.get("_work", ())) for layer in net.layers)  # released
        logits = net.logits(X[:3])
        assert not any(len(layer.__dict__.get("_work", ())) for layer in net.layers)
        return net, logits

    net, logits = train()
    with _fresh_arrays():
        plain, plain_logits = train()
    np.testing.assert_array_equal(logits, plain_logits)
    for key, value in net.parameters.items():
        np.testing.assert_array_equal(value, plain.parameters[key])
    net._logits(X[:3])  # fit's own inference between epochs: keeps its work arrays
    assert any(len(layer.__dict__.get("_work", ())) for layer in net.layers)
    copied = pickle.loads(pickle.dumps(net))  # a pickled network carries no work arrays
    assert not any(len(layer.__dict__.get("_work", ())) for layer in copied.layers)
    np.testing.assert_array_equal(copied.logits(X[:3]), logits)


def test_the_first_conv_computes_no_input_gradient(monkeypatch):
    """The shift layer before the first conv has no parameters: nobody needs the conv's dA."""
    from nnscratch.nn.layers import Conv2D

    net = ConvNetwork(ARCHITECTURE, input_shape=(8, 8, 3), dtype="float64", seed=3)
    asked = []
    plain_backward = Conv2D.backward

    def recording(self, dZ, cache, need_input_grad=True):
        dA, grads = plain_backward(self, dZ, cache, need_input_grad)
        asked.append((self.index, need_input_grad, dA is None))
        return dA, grads

    monkeypatch.setattr(Conv2D, "backward", recording)
    X = np.random.default_rng(14).random((4, 8, 8, 3))
    net.cost_and_gradients(X, np.array([0, 1, 1, 0]))
    assert sorted(asked) == [(1, False, True), (2, True, False)]
