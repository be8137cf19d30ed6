"""A character-level language model of first names, against bigram and trigram baselines.

    python examples/char_lm.py              # ~30 s on one core
    python examples/char_lm.py --epochs 5   # quicker

The data ship offline in the `names` package (``pip install 'nnscratch[sequences]'``): the
US Census 1990 female and male first-name lists, 5,163 distinct names, split 80/10/10 at
random into training, validation and test names. Each name is read one character at a time
and the model predicts the next one ("." ends the name); the score is the perplexity per
character on the test names: exp(mean negative log-likelihood), lower is better.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nnscratch import SequenceNetwork
from nnscratch.data.sequences import CharVocabulary, load_names
from nnscratch.models.baselines import NgramLanguageModel

ARCHITECTURE = "embed32-lstm128"
#: fit's options (validation data added by ``train``): Adam, clipped gradients, early stopping
FIT = dict(
    optimizer="adam",
    learning_rate=3e-3,
    batch_size=64,
    epochs=40,
    optimizer_options={"clip_norm": 1.0},
    early_stopping=True,
    patience=5,
)


def prepare(seed: int = 0) -> dict:
    """The names, shuffled with ``seed`` and split 80/10/10, as language-model arrays."""
    names = load_names()
    order = np.random.default_rng(seed).permutation(len(names))
    names = [names[i] for i in order]
    n = len(names)
    parts = {
        "train": names[: n * 8 // 10],
        "val": names[n * 8 // 10 : n * 9 // 10],
        "test": names[n * 9 // 10 :],
    }
    vocab = CharVocabulary(names)
    length = max(len(name) for name in names) + 1
    data = {"vocab": vocab, "length": length}
    for part, texts in parts.items():
        data[part] = vocab.encode_lm(texts, length)
    return data


def build(data: dict, seed: int = 0) -> SequenceNetwork:
    V = len(data["vocab"])
    return SequenceNetwork(
        ARCHITECTURE,
        input_shape=(data["length"],),
        vocab_size=V,
        n_outputs=V,
        output_activation="sequence_softmax",
        seed=seed,
    )


def train(data: dict, seed: int = 0, **overrides) -> tuple[SequenceNetwork, object]:
    net = build(data, seed)
    history = net.fit(
        *data["train"], validation_data=data["val"], seed=seed, **{**FIT, **overrides}
    )
    return net, history


def baselines(data: dict) -> dict[str, float]:
    """Test perplexities of a bigram and a trigram model, smoothing chosen on validation."""
    out = {}
    for order, name in ((2, "bigram"), (3, "trigram")):
        fitted = [
            NgramLanguageModel(len(data["vocab"]), order, k).fit(*data["train"])
            for k in (0.01, 0.03, 0.1, 0.3, 1.0)
        ]
        best = min(fitted, key=lambda model: model.perplexity(*data["val"]))
        out[name] = best.perplexity(*data["test"])
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=FIT["epochs"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = prepare(args.seed)
    vocab = data["vocab"]
    print(f"{len(data['train'][0])} training names, vocabulary of {len(vocab)} tokens")
    for name, perplexity in baselines(data).items():
        print(f"{name:>8} test perplexity {perplexity:.2f}")
    start = time.perf_counter()
    net, history = train(data, args.seed, epochs=args.epochs)
    print(
        f"    LSTM test perplexity {net.perplexity(*data['test']):.2f} "
        f"(best epoch {history.best_epoch} of {history.epochs}, "
        f"{time.perf_counter() - start:.0f} s)"
    )
    for temperature in (0.6, 1.0):
        samples = net.sample(10, temperature=temperature, seed=args.seed)
        print(f"samples at temperature {temperature}:", ", ".join(vocab.decode(s) for s in samples))


if __name__ == "__main__":
    main()
