"""Recurrent layers (RNN, LSTM, GRU), Embedding, TimeDistributed and the per-step softmax loss:
gradients by central finite differences (every layer, both return modes, with masks and
initial states), the masking rule, argument errors. PyTorch comparisons are in
test_recurrent_torch.py."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import GRU, LSTM, RNN, Embedding
from nnscratch.nn.initializers import glorot_uniform
from nnscratch.nn.layers import Dense, TimeDistributed
from nnscratch.nn.losses import LOSSES, get_loss

CELLS = [RNN, LSTM, GRU]
EPS = 1e-6


def rel_diff(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def numeric_gradient(f, x: np.ndarray) -> np.ndarray:
    """d f() / d x by central differences, perturbing x in place one coordinate at a time."""
    grad = np.empty_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        orig = flat[k]
        flat[k] = orig + EPS
        plus = f()
        flat[k] = orig - EPS
        minus = f()
        flat[k] = orig
        out[k] = (plus - minus) / (2 * EPS)
    return grad


def random_mask(rng, m, T):
    """Real steps at random places (padding at the start, middle and end), at least one per
    sample."""
    mask = rng.random((m, T)) < 0.6
    mask[np.arange(m), rng.integers(0, T, m)] = True
    return mask


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_layer_gradients_by_finite_differences(cls, return_sequences, masked):
    rng = np.random.default_rng(7)
    m, T, n_in, H = 3, 5, 3, 4
    layer = cls(n_in, H, return_sequences=return_sequences, seed=2, dtype="float64")
    X = rng.standard_normal((m, T, n_in))
    mask = random_mask(rng, m, T) if masked else None
    states0 = tuple(rng.standard_normal((m, H)) for _ in layer.state_names)
    A, cache = layer.forward(X, mask=mask, initial_state=states0)
    G = rng.standard_normal(A.shape)  # the cost sum(G * A) + sum(F * final states)
    F = tuple(rng.standard_normal((m, H)) for _ in layer.state_names)

    def cost():
        A, cache = layer.forward(X, mask=mask, initial_state=states0)
        finals = layer.final_state(cache)
        return np.sum(G * A) + sum(np.sum(f * s) for f, s in zip(F, finals, strict=True))

    dX, grads, dstates0 = layer.backward_with_states(G, cache, dfinal=F)
    assert dX.shape == X.shape
    assert rel_diff(dX, numeric_gradient(cost, X)) < 1e-7
    for name, p in layer.params.items():
        assert grads[name].shape == p.shape
        assert rel_diff(grads[name], numeric_gradient(cost, p)) < 1e-7, name
    for name, s, ds in zip(layer.state_names, states0, dstates0, strict=True):
        assert rel_diff(ds, numeric_gradient(cost, s)) < 1e-7, f"initial {name}"


@pytest.mark.parametrize("cls", CELLS)
def test_masked_steps_carry_the_state_and_output_zeros(cls):
    """A sample padded anywhere gives the outputs of its real steps alone (run without the
    padding), zeros at the padded steps, and the state after its last real step."""
    rng = np.random.default_rng(3)
    layer = cls(2, 3, seed=1, dtype="float64")
    x = rng.standard_normal((1, 4, 2))
    padded = np.zeros((1, 7, 2))
    real = np.array([False, True, True, False, True, True, False])
    padded[0, real] = x[0]
    A_pad, cache_pad = layer.forward(padded, mask=real[None])
    A, cache = layer.forward(x)
    np.testing.assert_allclose(A_pad[0, real], A[0], rtol=1e-12)
    assert np.all(A_pad[0, ~real] == 0)
    for s_pad, s in zip(layer.final_state(cache_pad), layer.final_state(cache), strict=True):
        np.testing.assert_allclose(s_pad, s, rtol=1e-12)
    last = cls(2, 3, return_sequences=False, seed=1, dtype="float64")
    np.testing.assert_allclose(last.forward(padded, mask=real[None])[0], A[:, -1], rtol=1e-12)


@pytest.mark.parametrize("cls", CELLS)
def test_layer_shapes_config_and_parameter_layout(cls):
    layer = cls(5, 7, return_sequences=False, seed=0, index=3)
    G = cls.gates
    assert {k: v.shape for k, v in layer.params.items()} == {
        "weight_ih": (G * 7, 5),
        "weight_hh": (G * 7, 7),
        "bias_ih": (G * 7,),
        "bias_hh": (G * 7,),
    }
    assert all(v.dtype == np.float32 for v in layer.params.values())
    bound = 1 / np.sqrt(7)  # PyTorch's U(-1/sqrt(H), 1/sqrt(H))
    assert all(np.abs(v).max() <= bound for v in layer.params.values())
    assert layer.output_shape((9, 5)) == (7,)
    assert cls(5, 7).output_shape((9, 5)) == (9, 7)
    assert layer.config() == {
        "type": cls.__name__,
        "index": 3,
        "n_in": 5,
        "n_hidden": 7,
        "return_sequences": False,
    }
    A, _ = layer.forward(np.ones((2, 4, 5), dtype=np.float32))
    assert A.shape == (2, 7) and A.dtype == np.float32
    same = cls(5, 7, seed=0)
    assert all(np.array_equal(same.params[k], layer.params[k]) for k in layer.params)


@pytest.mark.parametrize("cls", CELLS)
def test_layer_errors_name_what_they_got(cls):
    layer = cls(3, 4, dtype="float64")
    with pytest.raises(ValueError, match=r"expects inputs of shape \(m, T, 3\); got \(2, 5, 2\)"):
        layer.forward(np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match="dtype float64; got inputs of dtype float32"):
        layer.forward(np.zeros((2, 5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"mask must be a boolean array of shape \(m, T\)"):
        layer.forward(np.zeros((2, 5, 3)), mask=np.ones((2, 4), dtype=bool))
    with pytest.raises(ValueError, match="initial state h must have shape"):
        layer.forward(
            np.zeros((2, 5, 3)), initial_state=[np.zeros((3, 4))] * len(layer.state_names)
        )
    with pytest.raises(ValueError, match="n_hidden must be an integer >= 1"):
        cls(3, 0)
    with pytest.raises(ValueError, match="return_sequences must be True or False"):
        cls(3, 4, return_sequences=1)
    with pytest.raises(ValueError, match="expects sequences of shape"):
        layer.output_shape((5, 2))


@pytest.mark.parametrize("cls", CELLS)
def test_a_cache_serves_one_backward_and_outputs_are_never_reused(cls):
    """Backward recycles a cache's internal arrays for the next forward: a second backward on
    the same cache is refused, and outputs and final states returned earlier stay intact."""
    rng = np.random.default_rng(0)
    layer = cls(2, 3, seed=0, dtype="float64")
    X1, X2 = rng.standard_normal((2, 2, 4, 2))
    A1, cache1 = layer.forward(X1)
    final1 = [s.copy() for s in layer.final_state(cache1)]
    kept, kept_final = A1.copy(), layer.final_state(cache1)
    layer.backward(np.ones_like(A1), cache1)
    with pytest.raises(ValueError, match="already used by a backward pass"):
        layer.backward(np.ones_like(A1), cache1)
    A2, cache2 = layer.forward(X2)
    np.testing.assert_array_equal(A1, kept)
    for a, b in zip(kept_final, final1, strict=True):
        np.testing.assert_array_equal(a, b)
    fresh = cls(2, 3, seed=0, dtype="float64")  # the recycled arrays change no result
    np.testing.assert_array_equal(fresh.forward(X2)[0], A2)
    np.testing.assert_array_equal(
        fresh.backward(A2, fresh.forward(X2)[1])[0], layer.backward(A2, cache2)[0]
    )


def test_initial_state_broadcasts_and_chunks_chain():
    """States carried from one call to the next give the same outputs as one call."""
    rng = np.random.default_rng(1)
    layer = LSTM(3, 4, seed=0, dtype="float64")
    X = rng.standard_normal((2, 6, 3))
    whole, _ = layer.forward(X)
    first, cache = layer.forward(X[:, :4])
    second, _ = layer.forward(X[:, 4:], initial_state=layer.final_state(cache))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12)
    h0 = rng.standard_normal(4)
    a, _ = layer.forward(X, initial_state=(h0, np.zeros(4)))
    b, _ = layer.forward(X, initial_state=(np.tile(h0, (2, 1)), np.zeros((2, 4))))
    np.testing.assert_array_equal(a, b)


# ---- Embedding and TimeDistributed ----------------------------------------------------------
def test_embedding_forward_backward():
    rng = np.random.default_rng(0)
    layer = Embedding(6, 3, seed=0, dtype="float64")
    ids = np.array([[0, 5, 5, 2], [1, 5, 0, 0]], dtype=np.float64)
    A, cache = layer.forward(ids)
    np.testing.assert_array_equal(A, layer.params["W"][ids.astype(int)])
    G = rng.standard_normal(A.shape)
    dX, grads = layer.backward(G, cache)
    assert dX is None
    W = layer.params["W"]
    numeric = numeric_gradient(lambda: np.sum(G * layer.forward(ids)[0]), W)
    assert rel_diff(grads["W"], numeric) < 1e-8
    assert not grads["W"][[3, 4]].any()  # ids never seen get no gradient
    assert layer.output_shape((4,)) == (4, 3)


@pytest.mark.parametrize("bad", [[[0, 6]], [[-1, 2]], [[0.5, 1]]])
def test_embedding_refuses_ids_outside_the_vocabulary(bad):
    with pytest.raises(ValueError, match=r"token ids must be whole numbers in 0\.\.5"):
        Embedding(6, 3).forward(np.array(bad, dtype=np.float32))


def test_time_distributed_dense_matches_a_loop_over_steps():
    rng = np.random.default_rng(0)
    dense = Dense(4, 3, init=glorot_uniform, rng=rng, dtype=np.float64, index=2)
    layer = TimeDistributed(dense)
    assert layer.params is dense.params and layer.index == 2
    X = rng.standard_normal((5, 6, 4))
    A, cache = layer.forward(X)
    for t in range(6):
        np.testing.assert_allclose(A[:, t], dense.forward(X[:, t])[0], rtol=1e-12)
    G = rng.standard_normal(A.shape)
    dX, grads = layer.backward(G, cache)
    assert rel_diff(dX, numeric_gradient(lambda: np.sum(G * layer.forward(X)[0]), X)) < 1e-8
    for name, p in dense.params.items():
        numeric = numeric_gradient(lambda: np.sum(G * layer.forward(X)[0]), p)
        assert rel_diff(grads[name], numeric) < 1e-8
    assert layer.output_shape((6, 4)) == (6, 3)
    assert layer.config()["layer"]["type"] == "Dense"


# ---- the per-step softmax loss --------------------------------------------------------------
def test_sequence_softmax_loss_counts_only_non_negative_targets():
    rng = np.random.default_rng(0)
    loss = get_loss("sequence_softmax")
    assert LOSSES["sequence_softmax"] is type(loss) and loss.per_step
    Z = rng.standard_normal((3, 4, 5))
    Y = loss.encode_targets([[0, 4, -1, -1], [2, 2, 2, -1], [1, -1, -1, -1]], 5, np.float64)
    counted = Y >= 0
    assert loss.count(Y) == 6
    logp = Z - np.log(np.exp(Z).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(logp, np.maximum(Y, 0).astype(int)[..., None], -1)[..., 0]
    expected = -np.sum(picked * counted) / 6
    assert loss.cost(Z, Y) == pytest.approx(expected, rel=1e-12)
    dZ = loss.output_gradient(loss.activation.forward(Z), Y)

    def cost():
        return loss.cost(Z, Y)

    assert rel_diff(dZ, numeric_gradient(cost, Z)) < 1e-8
    assert not dZ[~counted].any()
    np.testing.assert_array_equal(loss.decide(Z), Z.argmax(axis=-1))


@pytest.mark.parametrize(
    ("y", "match"),
    [
        ([0, 1, 2], r"shape \(m, T\)"),
        ([[0, 5]], r"in 0\.\.4"),
        ([[0.5, 1]], "integers"),
    ],
)
def test_sequence_softmax_targets_are_checked(y, match):
    with pytest.raises(ValueError, match=match):
        get_loss("sequence_softmax").encode_targets(np.array(y), 5, np.float32)


def test_sequence_softmax_needs_two_units_and_matching_shapes():
    loss = get_loss("sequence_softmax")
    with pytest.raises(ValueError, match="at least 2 units"):
        loss.check_output_width(1)
    with pytest.raises(ValueError, match=r"per-step targets must have shape \(m, T\) = \(2, 3\)"):
        loss.cost(np.zeros((2, 3, 4)), np.zeros((2, 4)))


@pytest.mark.parametrize("cls", CELLS)
def test_training_steps_reuse_the_large_arrays(cls):
    """After one forward/backward, the next batch of the same shape writes into the arrays
    of the last one (no new multi-megabyte allocations, hence no page faults per batch)."""
    layer = cls(3, 8, seed=0)
    X = np.ones((4, 6, 3), dtype=np.float32)
    A, cache = layer.forward(X)
    layer.backward(np.ones_like(A), cache)
    recycled = {name: id(a) for name, a in layer._recycled.items()}
    work = {name: id(a) for name, a in layer._workspace.items()}
    assert set(recycled) == set(cls.recycled) and work
    A, cache = layer.forward(X)
    assert {name: id(cache[name]) for name in cls.recycled} == recycled
    layer.backward(np.ones_like(A), cache)
    assert {name: id(a) for name, a in layer._workspace.items()} == work
