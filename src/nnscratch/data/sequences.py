"""Sequence data that ships offline in well-known packages, and the tokenisation of text.

    names = load_names()                       # 5,000 US first names, from the `names` package
    vocab = CharVocabulary(names)
    X, y = vocab.encode_lm(names)              # inputs and next-character targets, padded
    years, spots = load_sunspots()             # yearly sunspot numbers 1700-2008 (statsmodels)
    X, y = sliding_windows(spots, 20)          # 20 years in, the next year out

Nothing is downloaded: ``pip install 'nnscratch[sequences]'`` installs both packages, whose
files hold the data (the US Census 1990 name lists in ``names``; the sunspot series in
``statsmodels.datasets``).

Token convention of ``CharVocabulary`` (what ``SequenceNetwork.sample`` assumes by default):
id 0 is padding, id 1 (".") marks both the start and the end of a text, the characters follow
in sorted order. A name of n characters becomes n + 1 steps:

    inputs   .  e  m  m  a  _  _        (_: padding, id 0)
    targets  e  m  m  a  .  -1 -1       (-1: not counted by the per-step loss)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from nnscratch.base.errors import DataError
from nnscratch.base.validation import check_positive

PAD, BOUNDARY = 0, 1


class CharVocabulary:
    """Characters <-> token ids: 0 padding (""), 1 the boundary ".", then the characters.

    Args:
        texts: the texts whose characters make the vocabulary; or
        tokens: a stored token list (``vocab.tokens``, e.g. a model file's ``classes``).
    """

    def __init__(self, texts: Iterable[str] = (), *, tokens: Sequence[str] | None = None):
        if tokens is None:
            chars = sorted(set("".join(texts)) - {"."})
            tokens = ["", ".", *chars]
        tokens = list(tokens)
        if tokens[:2] != ["", "."] or len(set(tokens)) != len(tokens):
            raise ValueError(
                "a character vocabulary starts with padding '' and the boundary '.', without "
                f"repeats; got {tokens[:5]}..."
            )
        self.tokens: tuple[str, ...] = tuple(tokens)
        self.ids = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """The ids of a text's characters (ValueError names a character not in the
        vocabulary)."""
        try:
            return [self.ids[c] for c in text]
        except KeyError as err:
            raise ValueError(
                f"character {err.args[0]!r} of {text!r} is not in the vocabulary"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Text from ids; padding and boundaries are left out."""
        return "".join(self.tokens[i] for i in ids if i > BOUNDARY)

    def encode_lm(self, texts: Sequence[str], length: int | None = None):
        """Language-model arrays: X (m, T) inputs and y (m, T) next-token targets, T =
        ``length`` or the longest text + 1 (see the module docstring). Texts longer than
        T - 1 characters are refused."""
        longest = max(len(t) for t in texts)
        T = longest + 1 if length is None else check_positive("length", length, integer=True)
        if longest + 1 > T:
            raise ValueError(f"a text of {longest} characters needs length >= {longest + 1}")
        X = np.full((len(texts), T), PAD, dtype=np.int64)
        y = np.full((len(texts), T), -1, dtype=np.int64)
        for row, text in enumerate(texts):
            ids = self.encode(text)
            X[row, : len(ids) + 1] = [BOUNDARY, *ids]
            y[row, : len(ids) + 1] = [*ids, BOUNDARY]
        return X, y


def _need(package: str):
    try:
        return __import__(package)
    except ImportError as err:
        raise DataError(
            f"this data set ships in the {package!r} package: pip install 'nnscratch[sequences]'"
        ) from err


def load_names() -> list[str]:
    """The US Census 1990 first names (female and male lists of the ``names`` package),
    lower case, each once, sorted: 5,163 names of 2 to 11 letters."""
    package = _need("names")
    folder = Path(package.__file__).parent
    found: set[str] = set()
    for file in ("dist.female.first", "dist.male.first"):
        for line in (folder / file).read_text().splitlines():
            if line.strip():
                found.add(line.split()[0].lower())
    return sorted(found)


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Yearly mean sunspot numbers 1700-2008 (statsmodels' ``sunspots`` data set):
    (years (309,), values (309,)), float64."""
    _need("statsmodels")
    from statsmodels.datasets import sunspots

    data = sunspots.load().data
    return np.asarray(data["YEAR"], dtype=np.float64), np.asarray(
        data["SUNACTIVITY"], dtype=np.float64
    )


def sliding_windows(series, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``length`` consecutive values and the value after it:
    X (n - length, length, 1), y (n - length,). Row i ends at series[i + length - 1] and
    predicts series[i + length]."""
    series = np.asarray(series)
    length = check_positive("length", length, integer=True)
    if series.ndim != 1 or series.shape[0] <= length:
        raise ValueError(
            f"series must be 1-D and longer than the window ({length}); got shape {series.shape}"
        )
    n = series.shape[0] - length
    X = np.lib.stride_tricks.sliding_window_view(series, length)[:n]
    return X[:, :, None].copy(), series[length:].copy()
