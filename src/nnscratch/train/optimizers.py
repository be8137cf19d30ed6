"""Optimizers: how parameters move given their gradients, sorted by increasing complexity.

An optimizer takes ``step(params, grads)``, both dicts keyed by the parameter's public name
("W1", "b1", "gamma2", ...), and updates ``params`` in place. Its state (velocities, moments,
the step count ``t``) is its own, keyed by the same names, and round-trips through
``state_dict()`` / ``load_state_dict()`` (a flat dict of arrays and scalars, e.g.
``{"t": 3, "m_sum.W1": ..., "v_sum.W1": ...}``) so that training can be checkpointed and
resumed.
``OPTIMIZERS`` is the registry by name.

Conventions (g is the gradient, lr the learning rate, all updates element-wise):

    gd / sgd   p -= lr g
    momentum   v = beta v + (1 - beta) g;   p -= lr v
    nesterov   v = beta v + (1 - beta) g;   p -= lr ((1 - beta) g + beta v)
    rmsprop    s = beta s + (1 - beta) g^2; p -= lr g / (sqrt(s) + epsilon)
    adam       m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
               p -= lr m_hat / (sqrt(v_hat) + epsilon),  m_hat = m / (1 - beta1^t), likewise v
    adamw      p -= lr weight_decay p  (weights only), then the Adam step

Momentum is the course's exponentially weighted average, v = beta v + (1 - beta) g, which keeps
the step size of plain gradient descent. PyTorch's SGD accumulates v' = beta v' + g instead;
since v = (1 - beta) v', ``momentum`` / ``nesterov`` with learning rate lr take exactly the
steps of ``torch.optim.SGD(momentum=beta, nesterov=..., lr=lr * (1 - beta))``. RMSprop and Adam
add epsilon outside the square root, as PyTorch does (``RMSprop(alpha=beta)``, ``Adam``).

Updates are in place and allocation-free: each optimizer keeps one scratch array per parameter,
and every scalar is cast to the parameter's dtype, so float32 stays float32.

Gradient clipping, for every optimizer and every model: with ``clip_norm=c`` each step first
rescales all gradients together when their global norm ||g|| (the 2-norm of all of them as
one vector) exceeds c, as PyTorch's ``clip_grad_norm_``:

    g *= c / (||g|| + 1e-6)    when ||g|| > c    (in place; the direction is kept)

It bounds the step that an exploding gradient (a recurrent network's, through many time
steps) would take. ``fit(..., optimizer_options={"clip_norm": 1.0})`` turns it on.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable

import numpy as np

from nnscratch.base.validation import check_decay, check_positive

_WEIGHT_NAME = re.compile(r"(?:W|weight_ih|weight_hh)\d+")


def is_weight(name: str) -> bool:
    """True for the weight matrices ("W1", "W2", ..., and a recurrent layer's "weight_ih1",
    "weight_hh1"): what L2 and weight decay act on, not biases or batch norm's gamma and
    beta."""
    return _WEIGHT_NAME.fullmatch(name) is not None


def global_norm(grads: dict[str, np.ndarray]) -> float:
    """||g||: the 2-norm of all gradients taken as one vector."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def clip_by_global_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale every gradient in place by max_norm / (||g|| + 1e-6) when ||g|| > max_norm
    (PyTorch's ``clip_grad_norm_``); returns ||g|| before clipping."""
    norm = global_norm(grads)
    factor = max_norm / (norm + 1e-6)
    if factor < 1:
        for g in grads.values():
            g *= g.dtype.type(factor)
    return norm


def _check_clip_norm(clip_norm) -> float | None:
    return None if clip_norm is None else check_positive("clip_norm", clip_norm)


class Optimizer:
    """Base class. Subclasses list their state arrays in ``slots`` (e.g. ("m", "v")) and
    implement ``_update(key, p, g, lr, slots, scratch)`` for one parameter."""

    name = "optimizer"
    slots: tuple[str, ...] = ()
    #: Called before ``state_dict`` reads the state: a training fast path that holds a
    #: velocity in other coordinates (``nnscratch.train.gram``) writes it back. None: nothing.
    _before_state_read: Callable[[], None] | None = None

    def __init__(self, learning_rate: float = 0.0075, clip_norm: float | None = None):
        self.learning_rate = check_positive("learning_rate", learning_rate)
        self.clip_norm = _check_clip_norm(clip_norm)
        self.t = 0  # number of steps taken
        self.state: dict[str, dict[str, np.ndarray]] = {s: {} for s in self.slots}
        self._scratch: dict[str, np.ndarray] = {}  # not state: reused work space

    def step(
        self,
        params: dict[str, np.ndarray],
        grads: dict[str, np.ndarray],
        learning_rate: float | None = None,
    ) -> None:
        """Update every array of ``params`` in place from ``grads`` (same keys and shapes).

        ``learning_rate`` overrides ``self.learning_rate`` for this step (a schedule's value).
        With ``clip_norm``, ``grads`` are first clipped in place (``clip_by_global_norm``).
        """
        self.t += 1
        lr = self.learning_rate if learning_rate is None else learning_rate
        if self.clip_norm is not None:
            clip_by_global_norm({key: grads[key] for key in params}, self.clip_norm)
        for key, p in params.items():
            g = grads[key]
            slots = {s: self._slot(s, key, p) for s in self.slots}
            self._update(key, p, g, lr, slots)

    def _update(self, key: str, p: np.ndarray, g: np.ndarray, lr: float, slots) -> None:
        raise NotImplementedError

    def _slot(self, slot: str, key: str, p: np.ndarray) -> np.ndarray:
        arrays = self.state[slot]
        a = arrays.get(key)
        if a is None:
            a = arrays[key] = np.zeros_like(p)
        elif a.shape != p.shape:
            raise ValueError(
                f"{self.name} optimizer state {slot}.{key} has shape {a.shape} but parameter "
                f"{key} has shape {p.shape}: the state belongs to another network"
            )
        elif a.dtype != p.dtype:  # e.g. loaded from a file in another dtype
            a = arrays[key] = a.astype(p.dtype)
        return a

    def _work(self, key: str, p: np.ndarray) -> np.ndarray:
        buf = self._scratch.get(key)
        if buf is None or buf.shape != p.shape or buf.dtype != p.dtype:
            buf = self._scratch[key] = np.empty_like(p)
        return buf

    # ---- checkpointing ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The optimizer's state as a flat dict of scalars and arrays (copies):
        ``{"t": steps, "<slot>.<param>": array, ...}``. Hyperparameters are in ``config()``."""
        if self._before_state_read is not None:
            self._before_state_read()
        d: dict = {"t": self.t}
        for slot, arrays in self.state.items():
            for key, a in arrays.items():
                d[f"{slot}.{key}"] = a.copy()
        return d

    def load_state_dict(self, d: dict) -> None:
        """Restore what ``state_dict()`` returned (arrays are copied)."""
        if "t" not in d:
            raise ValueError("optimizer state must contain the step count 't'")
        state: dict[str, dict[str, np.ndarray]] = {s: {} for s in self.slots}
        for name, value in d.items():
            if name == "t":
                continue
            slot, _, key = name.partition(".")
            if slot not in state or not key:
                allowed = ", ".join(f"'{s}.<param>'" for s in self.slots) or "only 't'"
                raise ValueError(
                    f"unexpected entry {name!r} in {self.name} optimizer state; allowed: "
                    f"'t', {allowed}"
                )
            state[slot][key] = np.array(value, copy=True)
        self.t = check_positive("t", int(d["t"]), integer=True, allow_zero=True)
        self.state = state

    def config(self) -> dict:
        """Name and hyperparameters: ``get_optimizer(**config)`` rebuilds it (without state).
        ``clip_norm`` appears only when set."""
        params = inspect.signature(type(self).__init__).parameters
        config = {"name": self.name, **{k: getattr(self, k) for k in params if k != "self"}}
        if config.get("clip_norm", 0) is None:
            del config["clip_norm"]
        return config

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class GradientDescent(Optimizer):
    """The article's ``update_parameters``: p := p - learning_rate * g. With mini-batches this is
    stochastic gradient descent."""

    name = "gd"

    def _update(self, key, p, g, lr, slots):
        buf = self._work(key, p)
        np.multiply(g, p.dtype.type(lr), out=buf)
        p -= buf


class Momentum(Optimizer):
    """Gradient descent with momentum: v = beta v + (1 - beta) g; p -= lr v (v starts at 0).

    With ``nesterov=True`` the step looks ahead: p -= lr ((1 - beta) g + beta v).
    """

    name = "momentum"
    slots = ("v",)

    def __init__(
        self,
        learning_rate: float = 0.0075,
        beta: float = 0.9,
        nesterov: bool = False,
        clip_norm: float | None = None,
    ):
        super().__init__(learning_rate, clip_norm)
        self.beta = check_decay("beta", beta)
        self.nesterov = bool(nesterov)

    def _update(self, key, p, g, lr, slots):
        v, buf, dt = slots["v"], self._work(key, p), p.dtype.type
        np.multiply(g, dt(1 - self.beta), out=buf)  # (1 - beta) g
        v *= dt(self.beta)
        v += buf  # v = beta v + (1 - beta) g
        if self.nesterov:  # p -= lr (1 - beta) g, then p -= lr beta v
            buf *= dt(lr)
            p -= buf
            np.multiply(v, dt(lr * self.beta), out=buf)
        else:
            np.multiply(v, dt(lr), out=buf)
        p -= buf


class Nesterov(Momentum):
    """Momentum with Nesterov's look-ahead (``Momentum(nesterov=True)``)."""

    name = "nesterov"

    def __init__(
        self, learning_rate: float = 0.0075, beta: float = 0.9, clip_norm: float | None = None
    ):
        super().__init__(learning_rate, beta=beta, nesterov=True, clip_norm=clip_norm)

    def config(self) -> dict:
        config = {"name": self.name, "learning_rate": self.learning_rate, "beta": self.beta}
        return config if self.clip_norm is None else {**config, "clip_norm": self.clip_norm}


class RMSProp(Optimizer):
    """s = beta s + (1 - beta) g^2; p -= lr g / (sqrt(s) + epsilon)."""

    name = "rmsprop"
    slots = ("s",)

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta: float = 0.9,
        epsilon: float = 1e-8,
        clip_norm: float | None = None,
    ):
        super().__init__(learning_rate, clip_norm)
        self.beta = check_decay("beta", beta)
        self.epsilon = check_positive("epsilon", epsilon)

    def _update(self, key, p, g, lr, slots):
        s, buf, dt = slots["s"], self._work(key, p), p.dtype.type
        np.multiply(g, g, out=buf)
        buf *= dt(1 - self.beta)
        s *= dt(self.beta)
        s += buf  # s = beta s + (1 - beta) g^2
        np.sqrt(s, out=buf)
        buf += dt(self.epsilon)
        np.divide(g, buf, out=buf)
        buf *= dt(lr)
        p -= buf


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): momentum and RMSprop with bias-corrected moments.

    The textbook step, with g the gradient and t the step count::

        m = beta1 m + (1 - beta1) g            v = beta2 v + (1 - beta2) g^2
        p -= lr m_hat / (sqrt(v_hat) + epsilon),  m_hat = m / (1 - beta1^t), v_hat likewise

    is computed from the moments' sums  M = m / (1 - beta1),  V = v / (1 - beta2), which
    need no scaling of g (one pass each fewer over the parameters: this step is memory-bound
    and these passes are a sixth of an epoch of a wide network)::

        M = beta1 M + g                        V = beta2 V + g^2
        p -= a M / (sqrt(V) + epsilon r),   r = sqrt((1 - beta2^t) / (1 - beta2)),
                                            a = lr r (1 - beta1) / (1 - beta1^t)

    the same step in exact arithmetic (m_hat = (1 - beta1) M / (1 - beta1^t), sqrt(v_hat) =
    sqrt(V) / r), equal to PyTorch's ``Adam`` to float rounding. ``state_dict`` holds M and
    V as "m_sum.<param>" and "v_sum.<param>"; a state with the moments themselves ("m.W1",
    "v.W1", as files written before these sums) loads too, divided by (1 - beta).
    """

    name = "adam"
    slots = ("m_sum", "v_sum")

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        clip_norm: float | None = None,
    ):
        super().__init__(learning_rate, clip_norm)
        self.beta1 = check_decay("beta1", beta1)
        self.beta2 = check_decay("beta2", beta2)
        self.epsilon = check_positive("epsilon", epsilon)

    def _update(self, key, p, g, lr, slots):
        M, V, buf, dt = slots["m_sum"], slots["v_sum"], self._work(key, p), p.dtype.type
        b1, b2 = self.beta1, self.beta2
        M *= dt(b1)
        M += g  # M = beta1 M + g
        np.multiply(g, g, out=buf)
        V *= dt(b2)
        V += buf  # V = beta2 V + g^2
        r = math.sqrt((1 - b2**self.t) / (1 - b2))
        np.sqrt(V, out=buf)
        buf += dt(self.epsilon * r)
        np.divide(M, buf, out=buf)
        buf *= dt(lr * r * (1 - b1) / (1 - b1**self.t))
        p -= buf  # p -= a M / (sqrt(V) + epsilon r)

    def load_state_dict(self, d: dict) -> None:
        """Also takes the moments themselves ("m.<param>", "v.<param>"): M = m / (1 - beta1),
        V = v / (1 - beta2)."""
        scale = {"m": 1 - self.beta1, "v": 1 - self.beta2}
        sums = {}
        for name, value in d.items():
            slot, dot, key = name.partition(".")
            if slot in scale and dot:
                a = np.asarray(value)
                sums[f"{slot}_sum.{key}"] = a / a.dtype.type(scale[slot])
            else:
                sums[name] = value
        super().load_state_dict(sums)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): before the Adam step,
    weights shrink by p -= lr * weight_decay * p. Only weight matrices ("W1", ...) decay; biases
    and batch norm's gamma/beta do not (unlike ``torch.optim.AdamW``'s default, which decays
    every parameter it is given)."""

    name = "adamw"

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.01,
        clip_norm: float | None = None,
    ):
        super().__init__(learning_rate, beta1, beta2, epsilon, clip_norm)
        self.weight_decay = check_positive("weight_decay", weight_decay, allow_zero=True)

    def _update(self, key, p, g, lr, slots):
        if self.weight_decay and is_weight(key):
            p *= p.dtype.type(1 - lr * self.weight_decay)
        super()._update(key, p, g, lr, slots)


#: The one registry from names to optimizer classes ("sgd" is gradient descent on mini-batches).
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "gd": GradientDescent,
    "sgd": GradientDescent,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "rmsprop": RMSProp,
    "adam": Adam,
    "adamw": AdamW,
}


def optimizer_options(name: str) -> tuple[str, ...]:
    """The keyword options an optimizer takes besides ``learning_rate``."""
    params = inspect.signature(OPTIMIZERS[name].__init__).parameters
    return tuple(k for k in params if k not in ("self", "learning_rate"))


def get_optimizer(name: str | Optimizer, **kwargs) -> Optimizer:
    """Resolve an optimizer by name (keyword options go to its class) or pass an instance
    through. Unknown names or options raise ValueError listing the allowed ones."""
    if isinstance(name, Optimizer):
        return name
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(sorted(OPTIMIZERS))}")
    allowed = optimizer_options(name)
    unknown = sorted(k for k in kwargs if k != "learning_rate" and k not in allowed)
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for optimizer {name!r}; "
            f"allowed: {', '.join(allowed) or 'none'}"
        )
    return OPTIMIZERS[name](**kwargs)


def optimizer_from_config(config: dict) -> Optimizer:
    """Inverse of ``Optimizer.config()``."""
    config = dict(config)
    return get_optimizer(config.pop("name"), **config)
