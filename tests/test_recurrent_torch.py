"""Recurrent layers, sequence models, truncated BPTT and gradient clipping against PyTorch
autograd, in float64 on seeded random shapes: outputs, final states, input gradients,
parameter gradients and initial-state gradients agree to rtol 1e-8."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import GRU, LSTM, RNN, SequenceNetwork
from nnscratch.train.optimizers import clip_by_global_norm, get_optimizer

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TORCH = {RNN: torch.nn.RNN, LSTM: torch.nn.LSTM, GRU: torch.nn.GRU}
RTOL, ATOL = 1e-8, 1e-12


def close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=what)


def torch_twin(layer):
    """A one-layer PyTorch module holding copies of ``layer``'s parameters."""
    twin = TORCH[type(layer)](layer.n_in, layer.n_hidden, batch_first=True).double()
    with torch.no_grad():
        for name, value in layer.params.items():
            getattr(twin, f"{name}_l0").copy_(torch.from_numpy(value))
    return twin


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_layer_matches_torch(cls, return_sequences, masked, seed):
    rng = np.random.default_rng(seed)
    m, T, n_in, H = (int(v) for v in rng.integers(1, [6, 8, 7, 9]))
    layer = cls(n_in, H, return_sequences=return_sequences, seed=seed, dtype="float64")
    X = rng.standard_normal((m, T, n_in))
    states0 = [rng.standard_normal((m, H)) for _ in layer.state_names]
    lengths = rng.integers(1, T + 1, m) if masked else np.full(m, T)
    mask = np.arange(T)[None] < lengths[:, None]  # right padding: what PyTorch packs
    A, cache = layer.forward(X, mask=mask if masked else None, initial_state=states0)
    G = rng.standard_normal(A.shape)
    F = [rng.standard_normal((m, H)) for _ in layer.state_names]
    dX, grads, dstates0 = layer.backward_with_states(G, cache, dfinal=F)

    twin = torch_twin(layer)
    tX = torch.tensor(X, requires_grad=True)
    t0 = [torch.tensor(s[None], requires_grad=True) for s in states0]
    inputs = tX
    if masked:
        inputs = torch.nn.utils.rnn.pack_padded_sequence(
            tX, torch.tensor(lengths), batch_first=True, enforce_sorted=False
        )
    out, finals = twin(inputs, tuple(t0) if cls is LSTM else t0[0])
    if masked:
        out = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)[0]
    finals = finals if cls is LSTM else (finals,)
    tA = out if return_sequences else finals[0][0]
    cost = (tA * torch.tensor(G)).sum()
    cost = cost + sum((s[0] * torch.tensor(f)).sum() for s, f in zip(finals, F, strict=True))
    cost.backward()

    close(A, tA, "outputs")
    for ours, theirs in zip(layer.final_state(cache), finals, strict=True):
        close(ours, theirs[0], "final states")
    close(dX, tX.grad, "input gradient")
    for name in layer.params:
        close(grads[name], getattr(twin, f"{name}_l0").grad, name)
    for ours, theirs in zip(dstates0, t0, strict=True):
        close(ours, theirs.grad[0], "initial-state gradient")


class _TorchSequenceModel(torch.nn.Module):
    """embed -> recurrent layers -> linear, the PyTorch twin of a SequenceNetwork."""

    def __init__(self, net: SequenceNetwork):
        super().__init__()
        self.parts = torch.nn.ModuleList()
        params = net.parameters
        for layer in net.layers:
            kind = type(layer).__name__
            if kind == "Embedding":
                part = torch.nn.Embedding(layer.vocab_size, layer.dim).double()
                names = {"weight": f"W{layer.index}"}
            elif kind in ("RNN", "LSTM", "GRU"):
                part = torch_twin(layer)
                names = {f"{k}_l0": f"{k}{layer.index}" for k in layer.params}
            else:  # the output Dense (maybe at every step)
                inner = getattr(layer, "layer", layer)
                part = torch.nn.Linear(inner.n_in, inner.n_out).double()
                names = {"weight": f"W{layer.index}", "bias": f"b{layer.index}"}
            with torch.no_grad():
                for theirs, ours in names.items():
                    getattr(part, theirs).copy_(torch.from_numpy(params[ours]))
            part.names = names
            self.parts.append(part)

    def forward(self, X, states=None, detach_every=None):
        A = X
        finals = []
        for k, part in enumerate(self.parts):
            if isinstance(part, torch.nn.Embedding):
                A = part(A.long())
            elif isinstance(part, torch.nn.RNNBase):
                state = None if states is None else states[k]
                A, final = part(A, state)
                finals.append(final)
            else:
                A = part(A)
        return A, finals

    def grads(self):
        return {
            ours: getattr(p, theirs).grad for p in self.parts for theirs, ours in p.names.items()
        }


def test_language_model_with_truncated_bptt_matches_torch_with_detach():
    """bptt=k: chunks of k steps, states carried on and detached (PyTorch's way), the costs
    of all chunks summed with the weights of their counted targets: the same cost and
    gradients."""
    rng = np.random.default_rng(0)
    V, T, k = 7, 10, 4
    net = SequenceNetwork(
        "embed5-lstm6-gru4",
        input_shape=(T,),
        vocab_size=V,
        n_outputs=V,
        output_activation="sequence_softmax",
        bptt=k,
        dtype="float64",
        seed=3,
    )
    X = rng.integers(0, V, (4, T))
    y = np.where(rng.random((4, T)) < 0.2, -1, rng.integers(0, V, (4, T)))
    cost, grads = net.cost_and_gradients(X, y)

    twin = _TorchSequenceModel(net)
    tX, ty = torch.tensor(X), torch.tensor(y)
    n_total = int((ty >= 0).sum())
    states, t_cost = None, 0.0
    for start in range(0, T, k):
        Z, finals = twin(tX[:, start : start + k], states)
        Yc = ty[:, start : start + k]
        part = torch.nn.functional.cross_entropy(
            Z.reshape(-1, V), Yc.reshape(-1), ignore_index=-1, reduction="sum"
        )
        (part / n_total).backward()
        t_cost += float(part.detach()) / n_total
        lstm_state, gru_state = finals
        states = {1: tuple(s.detach() for s in lstm_state), 2: gru_state.detach()}
    assert cost == pytest.approx(t_cost, rel=1e-10)
    for name, g in twin.grads().items():
        close(grads[name], g, name)


@pytest.mark.parametrize("seed", range(3))
def test_forecaster_matches_torch(seed):
    """One output per sequence from the last state, padded sequences masked."""
    rng = np.random.default_rng(seed)
    T = int(rng.integers(3, 9))
    net = SequenceNetwork(
        "gru5-lstm4",
        input_shape=(T, 2),
        n_outputs=1,
        output_activation="identity",
        padding=0.0,
        dtype="float64",
        seed=seed,
    )
    lengths = rng.integers(1, T + 1, 5)
    X = rng.standard_normal((5, T, 2)) * (np.arange(T)[None, :, None] < lengths[:, None, None])
    y = rng.standard_normal(5)
    cost, grads = net.cost_and_gradients(X, y)

    twin = _TorchSequenceModel(net)
    pack = torch.nn.utils.rnn.pack_padded_sequence
    gru, lstm, linear = twin.parts
    packed = pack(torch.tensor(X), torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, _ = gru(packed)
    _, (h, _) = lstm(out)
    Z = linear(h[0])
    t_cost = 0.5 * ((Z[:, 0] - torch.tensor(y)) ** 2).sum() / 5
    t_cost.backward()
    assert cost == pytest.approx(float(t_cost.detach()), rel=1e-10)
    for name, g in twin.grads().items():
        close(grads[name], g, name)


def test_clip_by_global_norm_matches_torch():
    rng = np.random.default_rng(0)
    grads = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(3)}
    tensors = [torch.zeros(3, 4, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)]
    for t, g in zip(tensors, grads.values(), strict=True):
        t.grad = torch.tensor(g)
    theirs = torch.nn.utils.clip_grad_norm_(tensors, 0.5)
    ours = clip_by_global_norm(grads, 0.5)
    assert ours == pytest.approx(float(theirs), rel=1e-12)
    for t, g in zip(tensors, grads.values(), strict=True):
        close(g, t.grad, "clipped gradient")


def test_adam_with_clip_norm_takes_torchs_steps():
    rng = np.random.default_rng(1)
    p = {"W1": rng.standard_normal((4, 3))}
    tp = torch.tensor(p["W1"].copy(), requires_grad=True)
    opt = get_optimizer("adam", learning_rate=0.01, clip_norm=0.3)
    t_opt = torch.optim.Adam([tp], lr=0.01)
    for _ in range(5):
        g = rng.standard_normal((4, 3)) * 3
        tp.grad = torch.tensor(g)
        torch.nn.utils.clip_grad_norm_([tp], 0.3)
        t_opt.step()
        opt.step(p, {"W1": g.copy()})
    np.testing.assert_allclose(p["W1"], tp.detach().numpy(), rtol=1e-10)


@pytest.mark.slow
def test_bench_rnn_smoke():
    """benchmarks/bench_rnn.py runs and reports a ratio (one epoch each; no speed claim)."""
    import sys
    from pathlib import Path

    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(benchmarks))
    try:
        import bench_rnn
    finally:
        sys.path.remove(str(benchmarks))
    assert bench_rnn.main(["--epochs", "1"]) > 0
