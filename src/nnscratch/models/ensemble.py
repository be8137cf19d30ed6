"""An ensemble: K networks of one architecture, each from its own seed, averaging probabilities.

    ens = Ensemble.of(5, layer_dims=[12288, 20, 7, 5, 1], seed=0)
    ens.fit(X, y, learning_rate=1e-4, iterations=600, optimizer="adam")
    ens.predict_proba(X)    # (m,): the mean of the members' probabilities

On 209 training images one network's test accuracy swings with its seed; the mean of several
networks' probabilities swings much less. The members' seeds are drawn from
``numpy.random.SeedSequence(seed).spawn(K)``, so ensembles with different seeds share no
member. An ``Ensemble`` is a model class like any other for model files: it is registered
in ``nnscratch.models.registry`` and its parameters are the members' under "m<k>." prefixes
("m0.W1").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnscratch.base.validation import check_positive, check_seed
from nnscratch.models.conv import ConvNetwork
from nnscratch.models.network import Network
from nnscratch.models.registry import class_name_of, model_from_config, register
from nnscratch.models.registry import count_weights as _count_member_weights
from nnscratch.nn import metrics
from nnscratch.nn.losses import get_loss
from nnscratch.nn.model import PREDICT_BATCH_SIZE


def member_seeds(seed: int | None, k: int) -> list[int | None]:
    """K independent seeds derived from one (None stays None: fresh randomness)."""
    if check_seed(seed) is None:
        return [None] * k
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(k)]


@register
class Ensemble:
    """The mean of several networks' output probabilities; a ``nnscratch.nn.model.Model``.

    Args:
        members: networks (``Sequential`` models: ``Network``, ``ConvNetwork``) with the same
            input shape, output width and output activation.

    Attributes:
        loss: the members' output loss; its ``decide_proba`` turns the mean probabilities
            into labels.
    """

    def __init__(self, members: Sequence[Network | ConvNetwork]):
        members = list(members)
        if not members:
            raise ValueError("an Ensemble needs at least one member network; got none")
        first = members[0]
        for k, net in enumerate(members[1:], start=1):
            if (
                tuple(net.input_shape) != tuple(first.input_shape)
                or net.n_outputs != first.n_outputs
                or net.output_activation != first.output_activation
            ):
                raise ValueError(
                    f"ensemble member {k} ({net!r}) does not match member 0 ({first!r}) in "
                    "input shape, output width or output activation"
                )
        if first.output_activation == "identity":
            raise ValueError("Ensemble averages probabilities: members need a sigmoid or softmax")
        self.members = members
        self.input_shape = tuple(first.input_shape)
        self.n_outputs = first.n_outputs
        self.output_activation = first.output_activation
        self.loss = get_loss(self.output_activation)
        self.dtype = first.dtype
        self.layer_dims = list(getattr(first, "layer_dims", []))

    @classmethod
    def of(cls, k: int, *, seed: int | None = 0, network_class=Network, **network_kwargs):
        """K members ``network_class(**network_kwargs, seed=...)`` with independent seeds."""
        k = check_positive("ensemble size", k, integer=True)
        return cls([network_class(**network_kwargs, seed=s) for s in member_seeds(seed, k)])

    # ---- parameters and model files -----------------------------------------------------
    @property
    def parameters(self) -> dict[str, np.ndarray]:
        """Every member's live parameters, named "m<k>.<name>" ("m0.W1", "m1.b2", ...)."""
        return {
            f"m{k}.{n}": p for k, net in enumerate(self.members) for n, p in net.parameters.items()
        }

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        return {
            f"m{k}.{n}": b for k, net in enumerate(self.members) for n, b in net.buffers.items()
        }

    @property
    def n_parameters(self) -> int:
        return sum(p.size for p in self.parameters.values())

    def config(self) -> dict:
        return {
            "members": [
                {"class": class_name_of(net), "config": net.config()} for net in self.members
            ]
        }

    @classmethod
    def from_config(cls, config: dict) -> Ensemble:
        members = config.get("members") if isinstance(config, dict) else None
        if not isinstance(members, list):
            raise ValueError(f"an Ensemble config needs a 'members' list; got {config!r}")
        return cls([model_from_config(m["class"], m["config"]) for m in members])

    @classmethod
    def count_weights(cls, config: dict) -> int | None:
        """The members' weights, as far as their descriptions tell."""
        members = config.get("members")
        if not isinstance(members, list):
            return None
        counts = [
            _count_member_weights(m.get("class"), m.get("config")) if isinstance(m, dict) else None
            for m in members
        ]
        known = [c for c in counts if c is not None]
        return sum(known) if known else None

    # ---- training -----------------------------------------------------------------------
    def fit(self, X, y, *, seed: int | None = None, **fit_kwargs) -> list:
        """Train each member in turn with ``Network.fit(X, y, **fit_kwargs)``; returns their
        Histories. ``seed`` (shuffling, dropout, flips) is spread over the members like the
        initial weights' seeds. Callbacks see each member's training as one run."""
        seeds = member_seeds(seed, len(self.members))
        histories = []
        for net, s in zip(self.members, seeds, strict=True):
            kwargs = dict(fit_kwargs)
            if s is not None:
                kwargs["seed"] = s
            histories.append(net.fit(X, y, **kwargs))
        self.history_ = histories
        return histories

    # ---- prediction ---------------------------------------------------------------------
    def _mean_proba(self, X, batch_size: int) -> np.ndarray:
        """(m, n_L) float64: the mean of the members' output activations, each computed in
        float64 from the member's logits (in float32, sigmoid(-1e-9) would round to 0.5)."""
        total: np.ndarray | None = None
        for net in self.members:
            Z = net.logits(X, batch_size).astype(np.float64)
            P = self.loss.activation.forward(Z)
            total = P if total is None else total + P
        assert total is not None, "an ensemble has at least one member"
        return total / len(self.members)

    def predict_proba(self, X, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """The mean of the members' probabilities, in the ensemble's dtype: (m,) for one
        sigmoid unit, else (m, n_L)."""
        P = self._mean_proba(X, batch_size).astype(self.dtype, copy=False)
        return P[:, 0] if P.shape[1] == 1 else P

    def predict(self, X, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """``loss.decide_proba`` of the mean probabilities (computed in float64): 0/1 for
        sigmoid (class 1 where the mean is > 0.5), class indices for softmax (argmax)."""
        return self.loss.decide_proba(self._mean_proba(X, batch_size))

    def accuracy(self, X, y) -> float:
        """Fraction of correct labels."""
        return metrics.accuracy(self.predict(X), y)

    def __len__(self) -> int:
        return len(self.members)

    def __repr__(self) -> str:
        return f"Ensemble({len(self.members)} x {self.members[0]!r})"
