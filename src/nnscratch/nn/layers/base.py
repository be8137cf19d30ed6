"""The layer interface that every layer (dense, activation, and later ones) implements."""

from __future__ import annotations

from typing import Any

import numpy as np


class Layer:
    """One step of the network.

    Attributes:
        index: the article's layer number l (1..L); parameter names are built from it at the
            public boundary only ("W" + l), never inside the maths.
        params: this layer's trainable arrays by local name ({"W": ..., "b": ...}); empty for
            layers without parameters.
        buffers: non-trainable arrays that inference needs (batch norm's running mean), by
            local name; empty for most layers.
    """

    buffers: dict[str, np.ndarray] = {}  # noqa: RUF012 (read-only default; layers assign their own)

    index: int = 0
    params: dict[str, np.ndarray]

    #: True for layers that draw random numbers while training (dropout masks, random
    #: shifts). A stochastic layer has ``rng`` (the generator the model points at its
    #: training stream) and ``mask_seed`` (when not None, every training-mode forward pass
    #: draws the same numbers from it, so that a gradient check sees a fixed function).
    stochastic: bool = False
    rng: np.random.Generator  # stochastic layers only
    mask_seed: int | None  # stochastic layers only

    def forward(self, A_prev: np.ndarray, training: bool = False) -> tuple[np.ndarray, Any]:
        """A_prev (m, ...) -> (A (m, ...), cache for backward)."""
        raise NotImplementedError

    def backward(
        self, dA: np.ndarray, cache: Any, need_input_grad: bool = True
    ) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """dA (m, ...) -> (dA_prev or None when not needed, grads by local name)."""
        raise NotImplementedError

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for a per-sample input shape."""
        return input_shape

    def config(self) -> dict:
        """JSON-able description of the layer (type and hyperparameters, no arrays)."""
        return {"type": type(self).__name__, "index": self.index}
