"""Activations: values, derivatives, overflow safety, dtype, registry errors."""

import warnings

import numpy as np
import pytest

from nnscratch.nn.activations import (
    ACTIVATIONS,
    HIDDEN_ACTIVATIONS,
    LeakyReLU,
    Softmax,
    get_activation,
)

pytestmark = pytest.mark.core

Z = np.array([[-3.0, -0.5, 0.0, 0.5, 3.0]])


@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
def test_derivative_matches_finite_difference(name):
    g = get_activation(name)
    z = np.linspace(-4, 4, 81).reshape(1, -1)
    z = z[np.abs(z) > 1e-3]  # skip the kink of relu/leaky relu at 0
    eps = 1e-6
    numeric = (g.forward(z + eps) - g.forward(z - eps)) / (2 * eps)
    np.testing.assert_allclose(g.derivative(z), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
def test_backward_is_dA_times_derivative(name):
    g = get_activation(name)
    dA = np.random.default_rng(0).standard_normal(Z.shape)
    A = g.forward(Z)
    np.testing.assert_allclose(g.backward(dA, Z, A), dA * g.derivative(Z))


def test_known_values():
    np.testing.assert_allclose(get_activation("relu").forward(Z), [[0, 0, 0, 0.5, 3]])
    np.testing.assert_allclose(get_activation("leaky_relu").forward(Z), [[-0.3, -0.05, 0, 0.5, 3]])
    np.testing.assert_allclose(get_activation("sigmoid").forward(np.zeros((1, 1))), [[0.5]])
    np.testing.assert_allclose(get_activation("tanh").forward(Z), np.tanh(Z))


def test_relu_derivative_at_zero_is_zero():
    assert get_activation("relu").derivative(np.zeros((1, 1)))[0, 0] == 0
    dA = np.ones((1, 1))
    assert get_activation("relu").backward(dA, np.zeros((1, 1)), np.zeros((1, 1)))[0, 0] == 0


def test_leaky_relu_slope_configurable():
    g = LeakyReLU(slope=0.2)
    np.testing.assert_allclose(g.forward(np.array([[-1.0, 2.0]])), [[-0.2, 2.0]])
    np.testing.assert_allclose(g.derivative(np.array([[-1.0, 2.0]])), [[0.2, 1.0]])
    assert get_activation("leaky_relu", slope=0.2) == g
    with pytest.raises(ValueError, match="slope"):
        LeakyReLU(slope=-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softmax_never_overflow(dtype):
    big = np.array([[-1e4, -800.0, 0.0, 800.0, 1e4]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = get_activation("sigmoid").forward(big)
        p = Softmax().forward(big)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(p))
    np.testing.assert_allclose(s[0, [0, 2, 4]], [0, 0.5, 1])
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    assert s.dtype == dtype and p.dtype == dtype


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_dtype_preserved(name):
    g = get_activation(name)
    z = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    a = g.forward(z)
    assert a.dtype == np.float32
    assert g.backward(np.ones_like(z), z, a).dtype == np.float32


def test_softmax_backward_matches_jacobian():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((2, 4))
    dA = rng.standard_normal((2, 4))
    s = Softmax()
    a = s.forward(z)
    for i in range(2):
        J = np.diag(a[i]) - np.outer(a[i], a[i])
        np.testing.assert_allclose(s.backward(dA, z, a)[i], J @ dA[i])
    with pytest.raises(TypeError):
        s.derivative(z)


def test_unknown_activation_lists_allowed_names():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*relu"):
        get_activation("swish")
