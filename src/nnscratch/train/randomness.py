"""The random streams of a training run.

Validation split, shuffles, flips and dropout masks each draw from their own generator, all
spawned from one seed (or, without one, from the network's ``training_rng``): the same seed
gives bitwise the same run, and turning flips on does not change the shuffles.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from nnscratch.base.validation import check_seed

#: The streams, in the order they are spawned (the order fixes which seed each one gets).
STREAMS = ("split", "shuffle", "flip", "dropout")


def training_rngs(net, seed: int | None) -> dict[str, np.random.Generator]:
    """Independent generators by ``STREAMS`` name, from ``seed`` (checked with
    ``check_seed``) or, for None, from four numbers drawn from ``net.training_rng``."""
    if seed is None:
        rng = getattr(net, "training_rng", None)
        if rng is None:  # a network class without its own training generator
            net_seed = getattr(net, "seed", None)
            rng = np.random.default_rng(None if net_seed is None else [net_seed, 1])
            net.training_rng = rng
        entropy = rng.integers(0, 2**63, size=len(STREAMS))
    else:
        entropy = check_seed(seed)
    children = np.random.SeedSequence(entropy).spawn(len(STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(STREAMS, children, strict=True)}


@contextlib.contextmanager
def dropout_rng(net, rng: np.random.Generator) -> Iterator[None]:
    """Within this block the network's stochastic layers (``layer.stochastic``: dropout,
    random shifts) draw from ``rng``; afterwards from the generator they had before."""
    saved = getattr(net, "training_rng", None)
    _set_training_rng(net, rng)
    try:
        yield
    finally:
        _set_training_rng(net, saved)


def _set_training_rng(net, rng: np.random.Generator | None) -> None:
    if rng is None:
        return
    setter = getattr(net, "set_training_rng", None)
    if setter is not None:
        setter(rng)
    else:
        for layer in net.layers:
            if layer.stochastic:
                layer.rng = rng
