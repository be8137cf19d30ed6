"""The networks users build: ``Network`` (the article's L-layer network), ``ConvNetwork`` and
``Ensemble``. ``Network`` and ``ConvNetwork`` each lay out a list of layers for the one model
core, ``nnscratch.nn.model.Sequential``, and get ``fit`` from ``nnscratch.train`` through
``models.trainable.TrainableSequential``; all three implement ``nnscratch.nn.model.Model``.
"""

from nnscratch.models.conv import ConvNetwork
from nnscratch.models.ensemble import Ensemble
from nnscratch.models.network import Network

__all__ = ["ConvNetwork", "Ensemble", "Network"]
