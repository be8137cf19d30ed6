"""Architecture strings: the one parser behind ``ConvNetwork`` and ``SequenceNetwork``.

A model class keeps a registry of tokens (a compiled pattern, matched in full, -> a layer
builder) and a one-line grammar for messages; ``parse_tokens`` splits a string such as
"conv16x3-relu-pool2" at "-" and pairs every token with its builder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping


def build_layers(architecture: str, parsed, state) -> list:
    """Run each parsed token's builder on the build ``state`` (which carries at least
    ``shape``, the per-sample shape so far, advanced layer by layer); a builder's ValueError
    comes back naming the architecture and the token."""
    layers = []
    for match, builder in parsed:
        try:
            for layer in builder(match, state):
                state.shape = layer.output_shape(state.shape)
                layers.append(layer)
        except ValueError as err:
            raise ValueError(f"architecture {architecture!r}, token {match[0]!r}: {err}") from err
    return layers


def parse_tokens(
    architecture: str, tokens: Mapping[re.Pattern, Callable], grammar: str
) -> list[tuple[re.Match, Callable]]:
    """Split an architecture string into (match, builder) pairs; ValueError names a bad token
    and lists the ``grammar``."""
    if not isinstance(architecture, str) or not architecture.strip():
        raise ValueError(f"architecture must be a non-empty string; got {architecture!r}")
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
