"""Architecture strings: the one parser behind ``ConvNetwork`` and ``SequenceNetwork``.

A model class keeps a registry of tokens (a compiled pattern, matched in full, -> a layer
builder) and a one-line grammar for messages; ``parse_tokens`` splits a string such as
"conv16x3-relu-pool2" at "-" and pairs every token with its builder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from nnscratch.base.limits import MAX_TOKENS, check_count


def build_layers(architecture: str, parsed, state) -> list:
    """Run each parsed token's builder on the build ``state`` (which carries at least
    ``shape``, the per-sample shape so far, advanced layer by layer); a builder's ValueError
    comes back naming the architecture and the token, and so does a token whose parameters
    would take the names of earlier ones (two batch norms after one layer: "bn-bn")."""
    layers = []
    names: set[str] = set()
    for match, builder in parsed:
        try:
            for layer in builder(match, state):
                state.shape = layer.output_shape(state.shape)
                _claim_names(layer, names)
                layers.append(layer)
        except ValueError as err:
            raise ValueError(f"architecture {architecture!r}, token {match[0]!r}: {err}") from err
    return layers


def _claim_names(layer, names: set[str]) -> None:
    """Add the layer's parameter names (``W1``, ``gamma1``...) to ``names``; ValueError when
    one is taken already."""
    own = {f"{name}{layer.index}" for name in getattr(layer, "params", {})}
    taken = sorted(own & names)
    if taken:
        raise ValueError(
            f"its parameters {taken} exist already (one {type(layer).__name__} per conv or dense "
            "layer: put a conv<F>x<K> or dense<N> token between them)"
        )
    names |= own


def parse_tokens(
    architecture: str, tokens: Mapping[re.Pattern, Callable], grammar: str
) -> list[tuple[re.Match, Callable]]:
    """Split an architecture string into (match, builder) pairs; ValueError names a bad token
    and lists the ``grammar``."""
    if not isinstance(architecture, str) or not architecture.strip():
        raise ValueError(f"architecture must be a non-empty string; got {architecture!r}")
    check_count("architecture tokens (joined by '-')", architecture.count("-") + 1, MAX_TOKENS)
    parsed = []
    for token in architecture.strip().lower().split("-"):
        for pattern, builder in tokens.items():
            match = pattern.fullmatch(token)
            if match:
                parsed.append((match, builder))
                break
        else:
            raise ValueError(
                f"unknown architecture token {token!r} in {architecture!r}; allowed: {grammar}"
            )
    return parsed
