"""``fit`` for the model core: ``nnscratch.nn.model.Sequential`` plus the training loop.

The core lives in ``nnscratch.nn``, which may not import ``nnscratch.train``; the models that
users build (``Network``, ``ConvNetwork``) derive from ``TrainableSequential`` to get ``fit``.
"""

from __future__ import annotations

from nnscratch.nn.model import Sequential
from nnscratch.train import fit as training


class TrainableSequential(Sequential):
    """A ``Sequential`` with ``fit``; subclasses build the layer list and call
    ``Sequential.__init__``."""

    def fit(self, X, y, learning_rate: float = 0.0075, iterations: int | None = None, **kwargs):
        """Train on X (m, *input_shape), y (m,) (or (m, n_L)); see ``nnscratch.train.fit.fit``
        for the keywords (epochs, batch_size, optimizer, l2, validation, early stopping, ...).
        Without ``iterations`` or ``epochs``: 2500 full-batch iterations. Returns a History,
        also kept as ``history_``."""
        self.history_ = training.fit(
            self,
            X,
            y,
            learning_rate=learning_rate,
            iterations=iterations,
            **self._fit_kwargs(kwargs),
        )
        return self.history_

    def _fit_kwargs(self, kwargs: dict) -> dict:
        """The keywords ``fit`` passes on: what the model itself knows can be filled in here
        (``ConvNetwork``: ``image_shape`` for flips of flat inputs)."""
        return kwargs
