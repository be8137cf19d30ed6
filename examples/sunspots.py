"""Forecasting next year's sunspot number, against naive and linear autoregressive baselines.

    python examples/sunspots.py       # ~5 s

The yearly mean sunspot numbers 1700-2008 ship offline in statsmodels
(``pip install 'nnscratch[sequences]'``). Each sample is a window of 20 years and the target
is the year after it. The split is by time, never shuffled across it: targets before 1920
train, 1920-1964 validate (early stopping, the AR order), 1965-2008 test. Values are scaled
with the training years' mean and standard deviation; errors are in sunspot numbers (RMSE).
"""

from __future__ import annotations

import argparse

import numpy as np

from nnscratch import SequenceNetwork
from nnscratch.data.sequences import load_sunspots, sliding_windows
from nnscratch.models.baselines import LinearAutoregressive

WINDOW = 20
ARCHITECTURE = "lstm32"
FIT = dict(
    optimizer="adam",
    learning_rate=3e-3,
    batch_size=32,
    epochs=300,
    optimizer_options={"clip_norm": 1.0},
    early_stopping=True,
    patience=30,
)


def prepare() -> dict:
    """Scaled windows split by the year of their target, and the scale to undo."""
    years, spots = load_sunspots()
    X, y = sliding_windows(spots, WINDOW)
    target_year = years[WINDOW:]
    mean, std = spots[years < 1920].mean(), spots[years < 1920].std()
    parts = {
        "train": target_year < 1920,
        "val": (target_year >= 1920) & (target_year < 1965),
        "test": target_year >= 1965,
    }
    data = {"mean": mean, "std": std}
    for part, rows in parts.items():
        data[part] = ((X[rows] - mean) / std, (y[rows] - mean) / std)
    return data


def rmse(data: dict, part: str, scaled_prediction) -> float:
    """Root mean squared error in sunspot numbers."""
    error = (np.asarray(scaled_prediction) - data[part][1]) * data["std"]
    return float(np.sqrt(np.mean(error**2)))


def build(seed: int = 0) -> SequenceNetwork:
    return SequenceNetwork(
        ARCHITECTURE,
        input_shape=(WINDOW, 1),
        n_outputs=1,
        output_activation="identity",
        seed=seed,
    )


def train(data: dict, seed: int = 0) -> SequenceNetwork:
    net = build(seed)
    net.fit(*data["train"], validation_data=data["val"], seed=seed, **FIT)
    return net


def baselines(data: dict) -> dict[str, float]:
    """Test RMSE of the naive forecast (next year = this year) and of the AR(p) whose order
    p = 1..WINDOW does best on the validation years."""
    X_test = data["test"][0]
    models = [LinearAutoregressive(p).fit(*data["train"]) for p in range(1, WINDOW + 1)]
    best = min(models, key=lambda m: rmse(data, "val", m.predict(data["val"][0])))
    return {
        "naive": rmse(data, "test", X_test[:, -1, 0]),
        f"AR({best.order})": rmse(data, "test", best.predict(X_test)),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="networks trained (seeds 0..)")
    args = parser.parse_args(argv)
    data = prepare()
    for name, error in baselines(data).items():
        print(f"{name:>8} test RMSE {error:.2f}")
    errors = [
        rmse(data, "test", train(data, seed).predict(data["test"][0])) for seed in range(args.seeds)
    ]
    print(
        f"    LSTM test RMSE {np.mean(errors):.2f} (seeds: {', '.join(f'{e:.2f}' for e in errors)})"
    )


if __name__ == "__main__":
    main()
