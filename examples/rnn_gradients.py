"""Why gradients vanish (or explode) through time, and what the LSTM and clipping change:
the figure of docs/tutorials/rnn.md.

    python examples/rnn_gradients.py            # writes docs/tutorials/rnn_gradients.png, ~15 s

Left: the gradient of a cost on the last state with respect to each input step,
||dL/dx_t|| (mean over 32 sequences of 100 random steps), against how many steps before the
end x_t is. Right: training a tanh RNN whose recurrent weights are 3x PyTorch's
initialisation (so that its gradients explode) on a long-memory task, by plain SGD, with and
without ``clip_norm``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nnscratch import GRU, LSTM, RNN, SequenceNetwork  # noqa: E402

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "rnn_gradients.png"


def gradient_norms(layer, X: np.ndarray) -> np.ndarray:
    """||dL/dx_t|| for L = mean over sequences of sum(h_T), listed from the last step back."""
    A, cache = layer.forward(X)
    dX, _ = layer.backward(np.full_like(A, 1 / X.shape[0]), cache)
    return np.linalg.norm(dX, axis=2).mean(axis=0)[::-1]


def layers(n_in: int, H: int) -> dict:
    """The layers compared, at initialisation (float64: the smallest norms are ~1e-30)."""

    def make(cls, **kwargs):
        return cls(n_in, H, return_sequences=False, seed=0, dtype="float64", **kwargs)

    big = make(RNN)
    big.params["weight_hh"] *= 3
    open_lstm = make(LSTM)
    open_lstm.params["bias_ih"][H : 2 * H] += 4  # forget gates f = sigmoid(z + 4) ~ 0.98
    return {
        "RNN (tanh), PyTorch's init": make(RNN),
        "RNN, recurrent weights x3": big,
        "GRU, PyTorch's init": make(GRU),
        "LSTM, PyTorch's init (f ~ 0.5)": make(LSTM),
        "LSTM, forget bias +4 (f ~ 0.98)": open_lstm,
    }


def memory_task(T: int, m: int, seed: int):
    """Sequences of T noise values; the label is whether the first one is positive."""
    X = np.random.default_rng(seed).standard_normal((m, T, 1))
    return X, (X[:, 0, 0] > 0).astype(np.int64)


def clipping_runs(T: int = 40, epochs: int = 5) -> dict[str, list[float]]:
    X, y = memory_task(T, 2000, 0)
    runs = {}
    for label, options in (("no clipping", {}), ("clip_norm=1", {"clip_norm": 1.0})):
        net = SequenceNetwork(
            "rnn32", input_shape=(T, 1), n_outputs=1, output_activation="sigmoid", seed=0
        )
        net.parameters["weight_hh1"][...] *= 3  # exploding gradients
        history = net.fit(
            X,
            y,
            optimizer="sgd",
            learning_rate=0.1,
            batch_size=64,
            epochs=epochs,
            optimizer_options=options,
            seed=0,
        )
        runs[label] = history.costs
    return runs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    X = np.random.default_rng(0).standard_normal((32, 100, 4))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, layer in layers(4, 32).items():
        norms = gradient_norms(layer, X)
        left.semilogy(norms, label=label)
        print(
            f"{label:<34} ||dL/dx|| 1 step back {norms[1]:.1e}, 50 back {norms[50]:.1e}, "
            f"99 back {norms[99]:.1e}"
        )
    left.set(
        xlabel="steps before the last one",
        ylabel="||dL / dx_t||",
        title="Gradient reaching each input step (at initialisation)",
    )
    left.legend(fontsize=8)
    for label, costs in clipping_runs().items():
        right.plot(costs, label=label, lw=1)
        print(
            f"RNN x3, SGD, {label:<12} mean cost of the last 50 updates {np.mean(costs[-50:]):.3f}"
        )
    right.axhline(np.log(2), color="grey", ls=":", lw=1, label="chance (log 2)")
    right.set(
        xlabel="update",
        ylabel="training cost (batch)",
        title="RNN with exploding gradients, first-of-40 memory task",
    )
    right.legend(fontsize=8)
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
