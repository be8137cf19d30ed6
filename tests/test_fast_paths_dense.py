"""The dense network's fast paths equal the plain code they replace (bitwise where the
arithmetic is the same): the softmax loss's shared exponentials, ReLU against a row of
zeros, the batch gather with ``mode="clip"``."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch.nn.activations import get_activation
from nnscratch.nn.losses import get_loss
from nnscratch.train.batches import Batches


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [1, 7, 128])
def test_softmax_cost_and_gradient_together_equal_the_two_apart(dtype, m):
    rng = np.random.default_rng(m)
    loss = get_loss("softmax")
    Z = (rng.standard_normal((m, 10)) * 30).astype(dtype)  # large: exp overflows unshifted
    Y = loss.encode_targets(rng.integers(0, 10, m), 10, np.dtype(dtype))
    cost, dZ = loss.cost_and_output_gradient(Z.copy(), Y)
    assert cost == loss.cost(Z, Y)
    plain = loss.output_gradient(loss.activation.forward(Z), Y)
    assert dZ.dtype == plain.dtype == dtype
    np.testing.assert_array_equal(dZ, plain)
    w = rng.random(m)  # weighted: the plain path itself
    cost_w, dZ_w = loss.cost_and_output_gradient(Z, Y, w)
    assert cost_w == loss.cost(Z, Y, w)
    np.testing.assert_array_equal(dZ_w, loss.output_gradient(loss.activation.forward(Z), Y, w))


@pytest.mark.parametrize("name", ["sigmoid", "identity"])
def test_other_losses_give_cost_and_gradient_of_their_two_methods(name):
    rng = np.random.default_rng(0)
    loss = get_loss(name)
    Z = rng.standard_normal((9, 1))
    Y = (rng.random((9, 1)) > 0.5).astype(float)
    cost, dZ = loss.cost_and_output_gradient(Z, Y)
    assert cost == loss.cost(Z, Y)
    np.testing.assert_array_equal(dZ, loss.output_gradient(loss.activation.forward(Z), Y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_against_a_row_of_zeros_is_max_z_0(dtype):
    rng = np.random.default_rng(1)
    for shape in [(5,), (3, 4), (2, 6, 6, 3)]:
        Z = rng.standard_normal(shape).astype(dtype)
        Z.flat[0], Z.flat[-1] = 0, -0.0
        A = get_activation("relu").forward(Z)
        assert A.dtype == dtype and A.shape == Z.shape
        np.testing.assert_array_equal(A, np.maximum(Z, 0))
        assert not np.shares_memory(A, Z)


def test_batches_gather_equals_fancy_indexing():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((50, 6)).astype(np.float32)
    Y = rng.standard_normal((50, 2)).astype(np.float32)
    batches = Batches(X, Y, 16)
    order = rng.permutation(50)
    for start in batches.starts():
        idx = order[start : start + 16]
        Xb, Yb = batches.batch(order, start)
        np.testing.assert_array_equal(Xb, X[idx])
        np.testing.assert_array_equal(Yb, Y[idx])
        _, Yi = batches.indices(order, start)
        np.testing.assert_array_equal(Yi, Y[idx])
