"""Weight initialisers: the article's scaled normal, He, Xavier/Glorot (normal and uniform) and
1/sqrt(n_prev).

Each initialiser is a function ``(rng, shape, fan_in, fan_out, dtype) -> W`` that draws from a
``numpy.random.Generator`` (never the global random state) and returns weights of the
requested dtype. Biases always start at zero.

Weights keep the article's shape: W of layer l is (n_l, n_{l-1}); fan_in = n_{l-1}.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

Initializer = Callable[[np.random.Generator, tuple, int, int, np.dtype], np.ndarray]


def scaled_normal(rng, shape, fan_in, fan_out, dtype, *, scale: float = 0.01) -> np.ndarray:
    """The article's ``np.random.randn(n_l, n_{l-1}) * scale`` (it prints no scale; 0.01 is
    the usual one, and why its deep networks barely learn)."""
    return (rng.standard_normal(shape) * scale).astype(dtype, copy=False)


def he(rng, shape, fan_in, fan_out, dtype) -> np.ndarray:
    """He et al. (2015): N(0, 2 / fan_in). Suited to ReLU layers."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype, copy=False)


def xavier(rng, shape, fan_in, fan_out, dtype) -> np.ndarray:
    """Glorot & Bengio (2010), normal form: N(0, 2 / (fan_in + fan_out)). Suited to tanh."""
    std = np.sqrt(2.0 / (fan_in + fan_out))
    return (rng.standard_normal(shape) * std).astype(dtype, copy=False)


def glorot_uniform(rng, shape, fan_in, fan_out, dtype) -> np.ndarray:
    """Glorot & Bengio (2010), uniform form: U(-b, b) with b = sqrt(6 / (fan_in + fan_out)),
    the same variance as ``xavier``, 2 / (fan_in + fan_out), without its tails. scikit-learn's
    MLP draws its weights this way."""
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, shape).astype(dtype, copy=False)


def sqrt_n_prev(rng, shape, fan_in, fan_out, dtype) -> np.ndarray:
    """N(0, 1 / fan_in): ``randn(n_l, n_{l-1}) / sqrt(n_{l-1})``, the reference 4-layer
    network's initialisation (also known as LeCun normal)."""
    return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype, copy=False)


#: The one registry from names to initialisers ("random" is the article's name).
INITIALIZERS: dict[str, Initializer] = {
    "normal": scaled_normal,
    "random": scaled_normal,
    "he": he,
    "xavier": xavier,
    "glorot": xavier,
    "glorot_uniform": glorot_uniform,
    "xavier_uniform": glorot_uniform,
    "sqrt_n_prev": sqrt_n_prev,
    "lecun": sqrt_n_prev,
}


def get_initializer(name: str, scale: float = 0.01) -> Initializer:
    """Resolve an initialiser by name; ``scale`` applies to "normal"/"random" only."""
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise ValueError(f"unknown init {name!r}; allowed: {', '.join(sorted(INITIALIZERS))}")
    init = INITIALIZERS[name]
    if init is scaled_normal:
        scale = float(scale)
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"init_scale must be a finite number > 0; got {scale!r}")
        return partial(scaled_normal, scale=scale)
    return init
