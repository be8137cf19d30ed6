"""Optimizers and learning-rate schedules: hand-computed first steps, PyTorch twins, state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnscratch.train.optimizers import (
    OPTIMIZERS,
    Adam,
    AdamW,
    GradientDescent,
    Momentum,
    get_optimizer,
    is_weight,
    optimizer_from_config,
)
from nnscratch.train.schedules import SCHEDULES, get_schedule

LR = 0.1
P0 = [1.0, -2.0]
G1 = [0.5, -1.0]
G2 = [0.1, 0.2]


def two_steps(opt) -> tuple[np.ndarray, np.ndarray]:
    """Parameters after the first and second step with gradients G1 then G2."""
    params = {"W1": np.array(P0)}
    opt.step(params, {"W1": np.array(G1)})
    p1 = params["W1"].copy()
    opt.step(params, {"W1": np.array(G2)})
    return p1, params["W1"].copy()


# ---- hand-computed first two steps ---------------------------------------------------------
@pytest.mark.core
def test_gradient_descent_by_hand():
    p1, p2 = two_steps(GradientDescent(LR))
    np.testing.assert_allclose(p1, [0.95, -1.9], rtol=1e-15)
    np.testing.assert_allclose(p2, [0.94, -1.92], rtol=1e-15)


@pytest.mark.core
def test_momentum_by_hand():
    # v1 = 0.1 g1 = [0.05, -0.1];  v2 = 0.9 v1 + 0.1 g2 = [0.055, -0.07]
    p1, p2 = two_steps(get_optimizer("momentum", learning_rate=LR, beta=0.9))
    np.testing.assert_allclose(p1, [0.995, -1.99], rtol=1e-14)
    np.testing.assert_allclose(p2, [0.9895, -1.983], rtol=1e-14)


def test_nesterov_by_hand():
    # step = 0.1 g + 0.9 v: [0.095, -0.19], then [0.0595, -0.043]
    p1, p2 = two_steps(get_optimizer("nesterov", learning_rate=LR, beta=0.9))
    np.testing.assert_allclose(p1, [0.9905, -1.981], rtol=1e-14)
    np.testing.assert_allclose(p2, [0.98455, -1.9767], rtol=1e-14)


def test_rmsprop_by_hand():
    eps = 1e-8
    p1, p2 = two_steps(get_optimizer("rmsprop", learning_rate=LR, beta=0.9, epsilon=eps))
    s1 = [0.1 * 0.25, 0.1 * 1.0]
    s2 = [0.9 * 0.025 + 0.1 * 0.01, 0.9 * 0.1 + 0.1 * 0.04]
    e1 = [1 - LR * 0.5 / (math.sqrt(s1[0]) + eps), -2 + LR * 1.0 / (math.sqrt(s1[1]) + eps)]
    e2 = [e1[0] - LR * 0.1 / (math.sqrt(s2[0]) + eps), e1[1] - LR * 0.2 / (math.sqrt(s2[1]) + eps)]
    np.testing.assert_allclose(p1, e1, rtol=1e-14)
    np.testing.assert_allclose(p2, e2, rtol=1e-14)


def adam_by_hand(wd: float = 0.0):
    b1, b2, eps = 0.9, 0.999, 1e-8
    p = list(P0)
    m = [0.0, 0.0]
    v = [0.0, 0.0]
    out = []
    for t, g in enumerate((G1, G2), start=1):
        for i in range(2):
            p[i] *= 1 - LR * wd
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            m_hat, v_hat = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
            p[i] -= LR * m_hat / (math.sqrt(v_hat) + eps)
        out.append(list(p))
    return out


@pytest.mark.core
def test_adam_by_hand():
    p1, p2 = two_steps(Adam(LR))
    # the first Adam step is lr * sign(g) (up to epsilon)
    np.testing.assert_allclose(p1, [0.9, -1.9], rtol=1e-7)
    e1, e2 = adam_by_hand()
    np.testing.assert_allclose(p1, e1, rtol=1e-14)
    np.testing.assert_allclose(p2, e2, rtol=1e-14)


def test_adamw_by_hand_decays_weights_only():
    opt = AdamW(LR, weight_decay=0.1)
    params = {"W1": np.array(P0), "b1": np.array(P0)}
    for g in (G1, G2):
        opt.step(params, {"W1": np.array(g), "b1": np.array(g)})
    np.testing.assert_allclose(params["W1"], adam_by_hand(wd=0.1)[1], rtol=1e-14)
    np.testing.assert_allclose(params["b1"], adam_by_hand(wd=0.0)[1], rtol=1e-14)


def test_is_weight():
    assert is_weight("W1") and is_weight("W12")
    assert not any(is_weight(k) for k in ("b1", "gamma2", "beta2", "W", "Wx1"))


# ---- PyTorch twins -------------------------------------------------------------------------
def _torch_optimizer(torch, name: str, params, lr: float):
    """The torch.optim optimizer taking the same steps as ours with learning rate lr."""
    if name in ("gd", "sgd"):
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":  # ours: v = b v + (1 - b) g  ==  torch's v' = b v' + g, lr (1 - b)
        return torch.optim.SGD(params, lr=lr * (1 - 0.9), momentum=0.9)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr * (1 - 0.9), momentum=0.9, nesterov=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-8)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    if name == "adamw":  # ours decays weights only: biases go in a group without decay
        weights = [p for p in params if p.dim() == 2]
        others = [p for p in params if p.dim() != 2]
        return torch.optim.AdamW(
            [{"params": weights}, {"params": others, "weight_decay": 0.0}],
            lr=lr,
            betas=(0.9, 0.999),
            eps=1e-8,
            weight_decay=0.01,
        )
    raise AssertionError(name)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_torch(name, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    shapes = {"W1": (4, 3), "b1": (4,), "W2": (1, 4), "b2": (1,)}
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    tparams = {k: torch.tensor(p.copy(), requires_grad=True) for k, p in params.items()}
    lr = 0.01
    opt = get_optimizer(name, learning_rate=lr)
    topt = _torch_optimizer(torch, name, list(tparams.values()), lr)
    for _ in range(5):
        grads = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
        opt.step(params, grads)
        for k, t in tparams.items():
            t.grad = torch.tensor(grads[k])
        topt.step()
    rtol = 1e-12 if dtype == "float64" else 2e-5
    for k, p in params.items():
        assert p.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p, tparams[k].detach().numpy(), rtol=rtol, atol=rtol)


# ---- state, dtype and configuration --------------------------------------------------------
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dict_round_trip_resumes_exactly(name):
    rng = np.random.default_rng(1)
    grads = [{"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(3)} for _ in range(4)]
    start = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(3)}

    straight = get_optimizer(name, learning_rate=0.05)
    p = {k: v.copy() for k, v in start.items()}
    for g in grads:
        straight.step(p, g)

    first = get_optimizer(name, learning_rate=0.05)
    q = {k: v.copy() for k, v in start.items()}
    for g in grads[:2]:
        first.step(q, g)
    state = first.state_dict()
    assert state["t"] == 2
    assert all(np.isscalar(v) or isinstance(v, np.ndarray) for v in state.values())
    resumed = optimizer_from_config(first.config())
    resumed.load_state_dict(state)
    for g in grads[2:]:
        resumed.step(q, g)
    for k in p:
        np.testing.assert_array_equal(p[k], q[k])
    assert resumed.t == straight.t == 4


def test_state_is_keyed_by_parameter_name():
    opt = Adam(0.01)
    opt.step({"W1": np.ones((2, 2)), "b1": np.ones(2)}, {"W1": np.ones((2, 2)), "b1": np.ones(2)})
    assert sorted(opt.state_dict()) == ["m_sum.W1", "m_sum.b1", "t", "v_sum.W1", "v_sum.b1"]


def test_adam_keeps_the_moments_sums_and_loads_the_moments_themselves():
    """M = m / (1 - beta1) and V = v / (1 - beta2); a state of m and v (the form written
    before the sums) continues the same run to rounding."""
    rng = np.random.default_rng(0)
    p0 = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(3)}
    grads = [{k: rng.standard_normal(a.shape) for k, a in p0.items()} for _ in range(6)]
    m = {k: np.zeros_like(a) for k, a in p0.items()}
    v = {k: np.zeros_like(a) for k, a in p0.items()}
    opt, p = Adam(0.01), {k: a.copy() for k, a in p0.items()}
    for g in grads[:3]:
        opt.step(p, {k: a.copy() for k, a in g.items()})
        for k in p:  # the textbook moments
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
    state = opt.state_dict()
    for k in p:
        np.testing.assert_allclose(state[f"m_sum.{k}"] * 0.1, m[k], rtol=1e-13)
        np.testing.assert_allclose(state[f"v_sum.{k}"] * 0.001, v[k], rtol=1e-13)
    textbook = Adam(0.01)
    textbook.load_state_dict({"t": 3, **{f"m.{k}": m[k] for k in p}, **{f"v.{k}": v[k] for k in p}})
    q = {k: a.copy() for k, a in p.items()}
    for g in grads[3:]:
        opt.step(p, {k: a.copy() for k, a in g.items()})
        textbook.step(q, {k: a.copy() for k, a in g.items()})
    for k in p:
        np.testing.assert_allclose(q[k], p[k], rtol=1e-13)


def test_load_state_dict_rejects_foreign_entries():
    with pytest.raises(ValueError, match="unexpected entry 'x.W1'"):
        Adam().load_state_dict({"t": 1, "x.W1": np.zeros(2)})
    with pytest.raises(ValueError, match="'t'"):
        Momentum().load_state_dict({"v.W1": np.zeros(2)})


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_in_float32_out_in_place(name):
    p = {"W1": np.ones((3, 3), dtype=np.float32)}
    before = p["W1"]
    opt = get_optimizer(name, learning_rate=0.1)
    for _ in range(2):
        opt.step(p, {"W1": np.full((3, 3), 0.5, dtype=np.float32)})
    assert p["W1"] is before and p["W1"].dtype == np.float32
    assert all(a.dtype == np.float32 for k, a in opt.state_dict().items() if k != "t")


def test_step_takes_a_scheduled_learning_rate():
    p = {"W1": np.array([1.0])}
    GradientDescent(0.1).step(p, {"W1": np.array([1.0])}, learning_rate=0.5)
    np.testing.assert_allclose(p["W1"], [0.5])


def test_unknown_optimizer_and_option():
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'; allowed: adam, adamw"):
        get_optimizer("adagrad")
    with pytest.raises(ValueError, match="unknown option.*beta3.*allowed: beta1, beta2"):
        get_optimizer("adam", beta3=0.5)
    with pytest.raises(ValueError, match=r"beta must be a number in \[0, 1\)"):
        get_optimizer("momentum", beta=1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        get_optimizer("adam", learning_rate=-1)


def test_config_round_trip():
    opt = get_optimizer("adamw", learning_rate=0.003, beta1=0.8, weight_decay=0.2)
    assert opt.config() == {
        "name": "adamw",
        "learning_rate": 0.003,
        "beta1": 0.8,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.2,
    }
    assert optimizer_from_config(opt.config()).config() == opt.config()
    assert (
        optimizer_from_config({"name": "nesterov", "learning_rate": 0.1, "beta": 0.5}).beta == 0.5
    )


# ---- schedules -----------------------------------------------------------------------------
def test_schedules_are_pure_functions_of_the_step():
    total = 100
    const = get_schedule(None, 0.1, total)
    assert const(0) == const(99) == 0.1
    step = get_schedule("step", 0.1, total, {"step_size": 10, "gamma": 0.5})
    assert [step(s) for s in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert get_schedule("step", 0.1, total)(25) == pytest.approx(0.05)  # default: quarters
    expo = get_schedule("exponential", 0.1, total)
    assert (
        expo(0) == 0.1
        and expo(100) == pytest.approx(0.01)
        and expo(50) == pytest.approx(0.1 * 0.1**0.5)
    )
    cos = get_schedule("cosine", 0.1, total, {"min_lr": 0.01})
    assert cos(0) == pytest.approx(0.1) and cos(50) == pytest.approx(0.055)
    assert cos(100) == pytest.approx(0.01)
    warm = get_schedule("cosine", 0.1, total, {"warmup_steps": 10})
    assert warm(0) == pytest.approx(0.01) and warm(9) == pytest.approx(0.1)
    assert step(25) == step(25)  # no state between calls


def test_schedule_errors():
    with pytest.raises(ValueError, match="unknown lr_schedule 'linear'; allowed: None, constant"):
        get_schedule("linear", 0.1, 10)
    with pytest.raises(ValueError, match="unknown option.*decay.*allowed: decay_rate, decay_steps"):
        get_schedule("exponential", 0.1, 10, {"decay": 0.5})
    with pytest.raises(ValueError, match="step_size"):
        get_schedule("step", 0.1, 10, {"step_size": 0})
    assert set(SCHEDULES) == {"constant", "step", "exponential", "cosine"}


def test_state_of_another_network_is_refused():
    opt = Adam(0.01)
    opt.step({"W1": np.ones((2, 2))}, {"W1": np.ones((2, 2))})
    with pytest.raises(ValueError, match="state m_sum.W1 has shape \\(2, 2\\) but parameter W1"):
        opt.step({"W1": np.ones((3, 2))}, {"W1": np.ones((3, 2))})
