"""Sequence data (names, sunspots, the character vocabulary, windows), the baselines, and
(slow) the two example tasks end to end."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from nnscratch.data.sequences import (
    CharVocabulary,
    load_names,
    load_sunspots,
    sliding_windows,
)
from nnscratch.models.baselines import LinearAutoregressive, NgramLanguageModel

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
needs_names = pytest.mark.skipif(
    importlib.util.find_spec("names") is None, reason="the names package is not installed"
)
needs_statsmodels = pytest.mark.skipif(
    importlib.util.find_spec("statsmodels") is None, reason="statsmodels is not installed"
)


def test_vocabulary_encodes_names_for_a_language_model():
    vocab = CharVocabulary(["emma", "bo"])
    assert vocab.tokens == ("", ".", "a", "b", "e", "m", "o")
    X, y = vocab.encode_lm(["emma", "bo"])
    np.testing.assert_array_equal(X, [[1, 4, 5, 5, 2], [1, 3, 6, 0, 0]])
    np.testing.assert_array_equal(y, [[4, 5, 5, 2, 1], [3, 6, 1, -1, -1]])
    assert vocab.decode(X[0]) == "emma" and vocab.decode(y[1]) == "bo"
    assert CharVocabulary(tokens=vocab.tokens).tokens == vocab.tokens
    with pytest.raises(ValueError, match="character 'z' of 'zoe' is not in the vocabulary"):
        vocab.encode("zoe")
    with pytest.raises(ValueError, match="needs length >= 5"):
        vocab.encode_lm(["emma"], length=4)
    with pytest.raises(ValueError, match="starts with padding"):
        CharVocabulary(tokens=["a", "b"])


def test_sliding_windows_pair_each_window_with_the_next_value():
    X, y = sliding_windows(np.arange(6.0), 3)
    np.testing.assert_array_equal(X[:, :, 0], [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    np.testing.assert_array_equal(y, [3, 4, 5])
    with pytest.raises(ValueError, match="longer than the window"):
        sliding_windows(np.arange(3.0), 3)


@needs_names
def test_names_ship_offline():
    names = load_names()
    assert len(names) == 5163 and names == sorted(set(names))
    assert all(name.isalpha() and name.islower() for name in names)
    assert {"mary", "james"} <= set(names)


@needs_statsmodels
def test_sunspots_ship_offline():
    years, spots = load_sunspots()
    assert years[0] == 1700 and years[-1] == 2008 and spots.shape == (309,)
    assert np.all(spots >= 0)


def test_ngram_model_counts_and_smooths():
    vocab = CharVocabulary(["ab", "ab", "b"])
    X, y = vocab.encode_lm(["ab", "ab", "b"])
    bigram = NgramLanguageModel(len(vocab), order=2, smoothing=1.0).fit(X, y)
    P = np.exp(bigram.log_proba())
    np.testing.assert_allclose(P.sum(axis=-1), 1)
    a, b, end = vocab.ids["a"], vocab.ids["b"], 1
    # targets ".", a, b (never the padding ""), add-1: after the start "." a 2 times and b
    # once (of 3); after a, b twice (of 2)
    assert P[end, a] == pytest.approx(3 / 6) and P[end, b] == pytest.approx(2 / 6)
    assert P[a, b] == pytest.approx(3 / 5) and not P[:, 0].any()
    expected = -np.mean(
        [
            np.log(P[c, t])
            for xs, ys in zip(X, y, strict=True)
            for c, t in zip(xs, ys, strict=True)
            if t >= 0
        ]
    )
    assert bigram.cost(X, y) == pytest.approx(expected)
    assert bigram.perplexity(X, y) == pytest.approx(math.exp(expected))
    trigram = NgramLanguageModel(len(vocab), order=3, smoothing=0.01).fit(X, y)
    assert trigram.cost(X, y) < bigram.cost(X, y)
    drawn = trigram.sample(5, seed=0, max_length=4)
    assert all(set(s.tolist()) <= {a, b} for s in drawn)


def test_linear_autoregressive_recovers_an_ar_process():
    rng = np.random.default_rng(0)
    series = np.zeros(5000)
    for t in range(2, 5000):
        series[t] = 0.6 * series[t - 1] - 0.3 * series[t - 2] + 1.0 + 0.1 * rng.standard_normal()
    X, y = sliding_windows(series[100:], 5)
    model = LinearAutoregressive(2).fit(X, y)
    np.testing.assert_allclose(model.coef_, [1.0, -0.3, 0.6], atol=0.05)  # b, a_2, a_1
    assert model.predict(X).shape == y.shape
    with pytest.raises(ValueError, match=r"AR\(6\) needs windows"):
        LinearAutoregressive(6).fit(X, y)


def _example(name: str):
    sys.path.insert(0, str(EXAMPLES))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.mark.slow
@needs_names
def test_char_lm_beats_the_trigram_model():
    char_lm = _example("char_lm")
    data = char_lm.prepare(0)
    net, _ = char_lm.train(data, 0, epochs=6)
    assert net.perplexity(*data["test"]) < 0.9 * char_lm.baselines(data)["trigram"]
    samples = [data["vocab"].decode(s) for s in net.sample(20, 0.8, seed=0)]
    assert all(s.isalpha() or s == "" for s in samples)


@pytest.mark.slow
@needs_statsmodels
def test_sunspot_forecast_beats_the_baselines():
    sunspots = _example("sunspots")
    data = sunspots.prepare()
    errors = sunspots.baselines(data)
    net = sunspots.train(data, seed=0)
    ours = sunspots.rmse(data, "test", net.predict(data["test"][0]))
    assert ours < min(errors.values())
