"""The networks users build: ``Network`` (the article's L-layer network), ``ConvNetwork`` and
``Ensemble``, each the maths of ``nnscratch.nn`` plus ``fit`` from ``nnscratch.train``.
"""

from nnscratch.models.conv import ConvNetwork
from nnscratch.models.ensemble import Ensemble
from nnscratch.models.network import Network

__all__ = ["ConvNetwork", "Ensemble", "Network"]
