"""Data augmentation for image inputs: random horizontal flips.

Images are samples-first, (m, H, W, C), or flattened row-major to (m, H*W*C) as the
article does (``image_shape`` = (H, W, C) then says how to unflatten them). A horizontal flip
reverses the width axis W: a cat facing left becomes a cat facing right, still a cat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def image_view(X: np.ndarray, image_shape: Sequence[int]) -> np.ndarray:
    """X (m, *image_shape) or (m, prod(image_shape)) -> a (m, H, W, C) view of it."""
    image_shape = tuple(int(n) for n in image_shape)
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels); got {image_shape!r}")
    if X.shape[1:] == image_shape:
        return X
    if X.ndim != 2 or X.shape[1] != int(np.prod(image_shape)):
        raise ValueError(
            f"inputs of shape {X.shape} are not images of shape {image_shape} "
            f"(flattened: (m, {int(np.prod(image_shape))}))"
        )
    return X.reshape((X.shape[0], *image_shape))


def flip_horizontal(
    X: np.ndarray,
    which: np.ndarray,
    image_shape: Sequence[int],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Flip the images ``X[which]`` (``which``: (m,) booleans) left-right; the others are
    copied unchanged. Returns ``out`` (a new array when None; ``out=X`` flips in place)."""
    V = image_view(X, image_shape)
    if out is None:
        out = np.empty_like(X)
    O = image_view(out, image_shape)  # noqa: E741
    if O is not V and not np.shares_memory(O, V):
        O[...] = V
    O[which] = V[which][:, :, ::-1]  # V[which] is a copy: safe when O is V
    return out


def random_flip(
    X: np.ndarray,
    rng: np.random.Generator,
    image_shape: tuple[int, ...],
    p: float = 0.5,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Flip each image left-right with probability ``p`` (draws m uniforms from ``rng``)."""
    m: int = X.shape[0]
    return flip_horizontal(X, rng.random(m) < p, image_shape, out=out)
