"""The same networks in PyTorch autograd (float64): costs and every gradient must agree."""

import numpy as np
import pytest

from nnscratch import LeakyReLU, Network
from nnscratch.nn.activations import HIDDEN_ACTIVATIONS

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_HIDDEN = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.1),
    "identity": lambda z: z,
}


def torch_cost(output, Z, y):
    if output == "sigmoid":
        return F.binary_cross_entropy_with_logits(Z, y.reshape(Z.shape), reduction="sum") / len(Z)
    if output == "softmax":
        return F.cross_entropy(Z, y)
    return 0.5 * ((Z - y.reshape(Z.shape)) ** 2).sum() / len(Z)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_matches_torch_autograd(hidden, output, seed):
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 4))
    dims = [int(rng.integers(2, 9)) for _ in range(depth + 1)]
    n_out = 3 if output == "softmax" else 1 + seed % 2
    dims.append(n_out)
    m = int(rng.integers(1, 20))
    net = Network(dims, hidden, output, init="xavier", seed=seed, dtype="float64")
    X = rng.standard_normal((m, dims[0]))
    if output == "sigmoid":
        y = rng.integers(0, 2, (m, n_out))
    elif output == "softmax":
        y = rng.integers(0, n_out, m)
    else:
        y = rng.standard_normal((m, n_out))

    cost, grads = net.cost_and_gradients(X, y)

    params = {k: torch.tensor(v, requires_grad=True) for k, v in net.parameters.items()}
    A = torch.tensor(X)
    L = len(dims) - 1
    for l in range(1, L + 1):  # noqa: E741
        Z = A @ params[f"W{l}"].T + params[f"b{l}"]
        A = TORCH_HIDDEN[hidden](Z) if l < L else Z
    ty = torch.tensor(y) if output == "softmax" else torch.tensor(y, dtype=torch.float64)
    t_cost = torch_cost(output, A, ty)
    t_cost.backward()

    assert cost == pytest.approx(t_cost.item(), rel=1e-10, abs=1e-12)
    for k, p in params.items():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=k)


def test_leaky_relu_slope_matches_torch():
    rng = np.random.default_rng(0)
    net = Network([4, 6, 1], LeakyReLU(0.25), dtype="float64")
    X, y = rng.standard_normal((7, 4)), rng.integers(0, 2, 7)
    _, grads = net.cost_and_gradients(X, y)
    W1, b1, W2, b2 = (
        torch.tensor(net.parameters[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")
    )
    Z = F.leaky_relu(torch.tensor(X) @ W1.T + b1, 0.25) @ W2.T + b2
    F.binary_cross_entropy_with_logits(Z[:, 0], torch.tensor(y, dtype=torch.float64)).backward()
    np.testing.assert_allclose(grads["W1"], W1.grad.numpy(), rtol=1e-9)
