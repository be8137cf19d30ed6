"""Layers: each one a forward/backward pair over samples-first arrays.

A layer maps A_prev -> A in ``forward`` and returns the cache its ``backward`` needs;
``backward`` maps dA -> dA_prev and the gradients of the layer's own parameters. The network
(``nnscratch.network``) chains them: that chain is the article's ``L_model_forward`` and
``L_model_backward``.
"""

from .activation import ActivationLayer
from .base import Layer
from .dense import Dense

__all__ = ["Layer", "Dense", "ActivationLayer"]
