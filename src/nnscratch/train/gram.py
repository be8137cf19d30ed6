"""The Gram-matrix path: the same training steps as ``train_step``, without the first layer's
wide products. An exact algebraic rewrite, chosen by ``fit`` where it is exact.

The article's step multiplies the inputs X (m, n_0) by the first layer's weights twice per
iteration: forward Z1 = X W1^T + b1 and backward dW1 = dZ1^T X, each m n_0 n_1 multiply-adds
(for the cat network, n_0 = 12288: almost all of the work). But under gradient descent on a
fixed X every update of W1 is a combination of the rows of X (dW1 = dZ1^T X) and of W1 itself
(L2: dW1 += lambda/m W1), and momentum's velocity likewise. So W1 stays

    W1 = Theta Xe,   Xe = [X; W1_0; V_0]  (k, n_0),  k = m + 2 n_1,   Theta (n_1, k)
    (plain gradient descent has no velocity: Xe = [X; W1_0], k = m + n_1)

with W1_0 and V_0 the weights and velocity when the path took over (Theta = [0, I, 0] then),
and the velocity v = Theta_v Xe (Theta_v = [0, 0, I]). In those coordinates:

    Z1     = X W1^T + b1 = Ge[batch] Theta^T + b1      Ge = X Xe^T (m, k), computed once
    dW1    = dZ1^T X[batch]     <=>   dTheta[:, batch] = dZ1^T      (other columns 0)
    L2     dW1 += lambda/m W1   <=>   dTheta += lambda/m Theta
           ||W1||^2 = sum(Theta * (Theta H)),   H = Xe Xe^T (k, k), computed once
    update gd / momentum / Nesterov are linear with scalar coefficients: the optimizer's own
           rule applied to (Theta, dTheta, Theta_v) is the rule applied to (W1, dW1, v)

so no product with n_0 columns is left in an iteration; W1 = Theta Xe is formed only when
someone reads it. The rest of the network (layers 2..L, b1, the loss) runs exactly as in
``train_step``. Where it applies (``why_not`` returns None): the first layer is ``Dense``; the
inputs are the fixed training X (no random flips; dropout only after the first layer); the
optimizer is gd / sgd / momentum / nesterov without gradient clipping; the model uses the
core's ``cost_and_gradients``; and the rewrite is cheaper (k well below n_0) and its Gram
matrices small. Elsewhere ``fit`` takes the article's products (``train_step``).

Who reads the parameters sees the true W1: ``net.parameters`` and ``optimizer.state_dict()``
call ``materialize`` first (W1 = Theta Xe and v = Theta_v Xe written into the live arrays),
and so do the loop before an evaluation and ``close`` at the end. Reading does not change
the run: when the live W1 or v are found modified at the next step (``set_parameters``, an
early stop's restore), the path starts again from them (``rebase``). ``state_dict`` carries
(Theta, Theta_v, W1_0, V_0) in ``TrainingState`` so that a resumed run continues bitwise.
Results equal the article's path to float rounding (tests/test_gram.py), not bitwise.
"""

from __future__ import annotations

import contextlib
import hashlib

import numpy as np

from nnscratch.nn.layers.dense import Dense
from nnscratch.nn.model import Sequential
from nnscratch.train.batches import Batches
from nnscratch.train.optimizers import (
    GradientDescent,
    Momentum,
    Nesterov,
    Optimizer,
    optimizer_from_config,
)
from nnscratch.train.regularization import L2Penalty

#: The optimizers whose update is linear in (parameter, gradient, velocity) with scalar
#: coefficients: exactly those commute with W1 = Theta Xe (subclasses may not: not chosen).
LINEAR_OPTIMIZERS = (GradientDescent, Momentum, Nesterov)

#: Largest Gram matrix Ge (m, k) allowed, in bytes: beyond it the article's path is used.
MAX_GRAM_BYTES = 256 * 2**20


def why_not(net, batches: Batches, optimizer: Optimizer) -> str | None:
    """None when the Gram path is exact and cheaper for this run, else the reason why not."""
    if not isinstance(net, Sequential) or not net.layers:
        return "not a layered model"
    if type(net)._cost_and_gradients is not Sequential._cost_and_gradients:
        return f"{type(net).__name__} computes its gradients its own way"
    first = net.layers[0]
    if type(first) is not Dense:
        return f"the first layer is {type(first).__name__}, not Dense"
    if batches.flip_rng is not None:
        return "random flips change the inputs every step"
    if type(optimizer) not in LINEAR_OPTIMIZERS:
        return f"the {optimizer.name} update is not linear in the gradient"
    if optimizer.clip_norm is not None:
        return "gradient clipping rescales by a norm"
    m, n0, n1 = batches.m, first.n_in, first.n_out
    k = m + 2 * n1  # at most
    if 4 * k > n0:
        return f"no cheaper: {m} samples against {n0} input features"
    if m * (k + k) * batches.X.dtype.itemsize > MAX_GRAM_BYTES:
        return f"the Gram matrices of {m} samples exceed {MAX_GRAM_BYTES >> 20} MB"
    return None


class GramPath:
    """The first layer's weights in Gram coordinates for one run (see the module docstring).

    ``step(idx, Yb, lr)`` is ``train_step`` on the batch X[idx] (idx: a slice or the epoch's
    indices); ``materialize()`` writes W1 (and the optimizer's velocity of W1) into the live
    arrays; ``close()`` materialises and detaches from the network and the optimizer.
    """

    def __init__(self, net: Sequential, X: np.ndarray, optimizer: Optimizer, l2: L2Penalty | None):
        layer = net.layers[0]
        assert isinstance(layer, Dense), "why_not checks the first layer"
        self.net, self.X, self.optimizer = net, X, optimizer
        self.rest = net.layers[1:]
        self.W1, self.b1 = layer.params["W"], layer.params["b"]
        self.wkey, self.bkey = f"W{layer.index}", f"b{layer.index}"
        self.others = {k: p for k, p in _live_parameters(net).items() if k != self.wkey}
        self.momentum = isinstance(optimizer, Momentum)
        self._opt = optimizer_from_config(optimizer.config())  # steps Theta; same rule
        m, n1 = X.shape[0], self.W1.shape[0]
        self.m, self.n1 = m, n1
        # the basis: W1_0, and V_0 for momentum (gradient descent has no velocity)
        self.k = k = m + (2 if self.momentum else 1) * n1
        dtype = X.dtype
        self.l2 = l2
        self.l2_others = None
        if l2 is not None:
            self.l2_others = L2Penalty(l2.lam, l2.m, [n for n in l2.names if n != self.wkey])
        self.B = np.zeros((k - m, X.shape[1]), dtype=dtype)  # [W1_0; V_0]; Xe = [X; B]
        # The coordinates and the Gram matrices in float64 (small: k columns), whatever the
        # network's dtype: float32 sums of n_0 products lose more than the article's path.
        self.Ge = np.empty((m, k))  # X Xe^T, its first m columns X X^T
        self.Ge[:, :m] = gram_matrix(X)
        self.H: np.ndarray | None = None  # Xe Xe^T, for the L2 cost
        self.theta = np.zeros((n1, k))
        self.v_theta = np.zeros((n1, k))
        self._dtheta = np.zeros((n1, k))
        if self.momentum:  # the clone's velocity of W1 is Theta_v, updated in place
            self._opt.state["v"][self.wkey] = self.v_theta
        self._dirty = False  # Theta has moved since W1 was last written
        self._shown: tuple[str, str | None] | None = None  # digests of what was written
        self.rebase()
        net._before_parameters_read = self.materialize
        optimizer._before_state_read = self.materialize

    # ---- the basis ----------------------------------------------------------------------
    def _live_velocity(self) -> np.ndarray | None:
        return self.optimizer.state["v"].get(self.wkey) if self.momentum else None

    def rebase(self) -> None:
        """Start again from the live W1 and velocity: W1_0, V_0 := them, Theta = [0, I, 0]."""
        m, n1 = self.m, self.n1
        self.B[:n1] = self.W1
        v = self._live_velocity()
        if self.momentum:
            self.B[n1:] = 0 if v is None or v.shape != self.W1.shape else v
        self._set_basis_products()
        self.theta[...] = 0
        self.theta[:, m : m + n1] = np.eye(n1, dtype=self.theta.dtype)
        self.v_theta[...] = 0
        if self.momentum:
            self.v_theta[:, m + n1 :] = np.eye(n1, dtype=self.theta.dtype)
        self._dirty, self._shown = False, None

    def _set_basis_products(self) -> None:
        m = self.m
        self.Ge[:, m:] = _products(self.X, self.B)
        if self.l2 is not None:  # [[X X^T, X B^T], [B X^T, B B^T]]
            B = self.B
            self.H = np.block(
                [[self.Ge[:, :m], self.Ge[:, m:]], [self.Ge[:, m:].T, _products(B, B)]]
            )

    def _check_live(self) -> None:
        """After a materialisation: start again from the live arrays if anyone changed them."""
        if self._shown is None:
            return
        live_v = self._live_velocity()
        if self._shown != (_digest(self.W1), None if live_v is None else _digest(live_v)):
            self.rebase()
        self._shown = None

    # ---- reading the parameters ---------------------------------------------------------
    def materialize(self) -> None:
        """W1 = Theta Xe and v = Theta_v Xe, into the network's and the optimizer's arrays."""
        if not self._dirty:
            return
        _combine(self.theta, self.X, self.B, out=self.W1)
        v = None
        if self.momentum:
            velocities = self.optimizer.state["v"]
            v = velocities.get(self.wkey)
            if v is None or v.shape != self.W1.shape or v.dtype != self.W1.dtype:
                v = velocities[self.wkey] = np.empty_like(self.W1)
            _combine(self.v_theta, self.X, self.B, out=v)
        self._dirty = False
        self._shown = (_digest(self.W1), None if v is None else _digest(v))

    def close(self) -> None:
        """Materialise and detach: the network and optimizer are plain again. The inputs and
        Gram matrices are let go (a callback may keep the run's state, and with it this path,
        alive); ``state_dict`` still works, ``step`` no more."""
        self.materialize()
        self.net._before_parameters_read = None
        self.optimizer._before_state_read = None
        del self.X, self.Ge, self.H

    # ---- one step -----------------------------------------------------------------------
    def step(self, idx, Yb: np.ndarray, learning_rate: float | None) -> float:
        """``train_step(net, X[idx], Yb, optimizer, learning_rate, l2)`` in Gram coordinates:
        the batch's cost before the update (L2 included); no update when it is not finite."""
        self._check_live()
        net = self.net
        # Z1 = X[idx] W1^T (n, n_1), in float64 and rounded once: X X^T of images is ill
        # conditioned (all pixels positive), and a float32 product here loses more than the
        # article's X W1^T does
        Z = (self.Ge[idx] @ self.theta.T).astype(self.W1.dtype)
        Z += self.b1
        A, caches = Z, []
        for layer in self.rest:  # L_model_forward from layer 2 on
            A, cache = layer.forward(A, True)
            caches.append(cache)
        cost = net.loss.cost(A, Yb)
        dA = net.loss.output_gradient(net.loss.activation.forward(A), Yb)
        grads: dict[str, np.ndarray] = {}
        for layer, cache in zip(reversed(self.rest), reversed(caches), strict=True):
            dA_prev, layer_grads = layer.backward(dA, cache, need_input_grad=True)
            assert dA_prev is not None, "asked for: the first layer needs it"
            dA = dA_prev
            for name, g in layer_grads.items():
                grads[f"{name}{layer.index}"] = g
        dZ1 = dA  # (n, n_1)
        grads[self.bkey] = dZ1.sum(axis=0)
        dtheta = self._dtheta
        dtheta[...] = 0
        dtheta[:, idx] = dZ1.T  # dW1 = dZ1^T X[idx]
        if self.l2 is not None:
            assert self.l2_others is not None and self.H is not None
            cost += self.l2_others.cost(self.others)
            cost += self.l2.lam / (2 * self.l2.m) * float(np.vdot(self.theta, self.theta @ self.H))
            self.l2_others.add_gradients(self.others, grads)
            dtheta += self.theta * (self.l2.lam / self.l2.m)
        if np.isfinite(cost):
            self.optimizer.step(self.others, grads, learning_rate=learning_rate)
            self._opt.step({self.wkey: self.theta}, {self.wkey: dtheta}, learning_rate)
            self._dirty = True
        return cost

    def moved(self) -> None:
        """Theta was changed from outside (a divergence's rollback): W1 is to be written."""
        self._dirty, self._shown = True, None

    def rollback_arrays(self) -> dict[str, np.ndarray]:
        """The arrays that stand for W1 (and its velocity) while the path runs."""
        return {"gram.theta": self.theta, "gram.v_theta": self.v_theta}

    # ---- checkpointing ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Copies of Theta, Theta_v and the basis [W1_0; V_0]: with them a resumed run goes on
        bitwise."""
        return {
            "theta": self.theta.copy(),
            "v_theta": self.v_theta.copy(),
            "basis": self.B.copy(),
        }

    def load_state_dict(self, d: dict) -> None:
        """Restore ``state_dict()``'s arrays, when they give the live W1 and velocity (else,
        or without them, start from the live arrays)."""
        try:
            theta, v_theta, basis = (np.asarray(d[k]) for k in ("theta", "v_theta", "basis"))
        except (KeyError, TypeError):
            self.rebase()
            return
        shapes = (theta.shape, v_theta.shape, basis.shape)
        if shapes != (self.theta.shape, self.v_theta.shape, self.B.shape):
            self.rebase()
            return
        self.B[...] = basis
        self._set_basis_products()
        self.theta[...] = theta
        self.v_theta[...] = v_theta
        self._dirty = True
        live_W, live_v = self.W1.copy(), self._live_velocity()
        live_v = None if live_v is None else live_v.copy()
        self.materialize()  # what this state stands for, against what the network holds
        now_v = self._live_velocity()
        same_v = live_v is None or (now_v is not None and np.array_equal(live_v, now_v))
        if not (np.array_equal(live_W, self.W1) and same_v):
            np.copyto(self.W1, live_W)
            if live_v is not None:
                np.copyto(self.optimizer.state["v"][self.wkey], live_v)
            self.rebase()


def one_blas_thread() -> contextlib.AbstractContextManager:
    """Within it NumPy's BLAS runs on one thread, where threadpoolctl is installed (the
    ``sklearn`` extra brings it): the Gram path's products are a few hundred rows each, too
    small to share, and on a busy machine a second thread mostly waits for a core."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _digest(a: np.ndarray) -> str:
    """A digest of an array's content (to tell whether anyone changed it; no copy kept)."""
    a = np.ascontiguousarray(a)
    return hashlib.blake2b(a.data.cast("B"), digest_size=16).hexdigest()


def _live_parameters(net: Sequential) -> dict[str, np.ndarray]:
    """``net.parameters`` without the read hook."""
    return {
        f"{name}{layer.index}": array
        for layer in net.layers
        for name, array in layer.params.items()
    }


#: Bytes of the n_0-wide arrays taken at a time into float64 (bounded extra memory).
CHUNK_BYTES = 2**18


#: Gram matrices X X^T kept for the next run on the same X (an ensemble trains each member on
#: it), by X's shape, dtype and content digest; one entry, and only a small one.
_GRAM_CACHE: dict[tuple, np.ndarray] = {}
MAX_CACHED_BYTES = 16 * 2**20


def gram_matrix(X: np.ndarray) -> np.ndarray:
    """X X^T (m, m) in float64 (read-only), for X (m, n_0); the last one is reused when X
    is the same."""
    key = (X.shape, X.dtype.str, _digest(X))
    G = _GRAM_CACHE.get(key)
    if G is None:
        G = _products(X, X)
        G.flags.writeable = False
        _GRAM_CACHE.clear()
        if G.nbytes <= MAX_CACHED_BYTES:
            _GRAM_CACHE[key] = G
    return G


def _products(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A B^T in float64, A (p, n_0), B (q, n_0) of any float dtype: (p, q), summed over
    column chunks of ``CHUNK`` so that float32 inputs are never copied whole."""
    out = np.zeros((A.shape[0], B.shape[0]))
    step = _chunk(A.shape[0] + (0 if B is A else B.shape[0]), A.nbytes)
    for c in range(0, A.shape[1], step):
        a = A[:, c : c + step].astype(np.float64, copy=False)
        if B is A:
            out += a @ a.T  # symmetric: BLAS's syrk, half the work
        else:
            out += a @ B[:, c : c + step].astype(np.float64, copy=False).T
    return out


def _chunk(rows: int, total_bytes: int) -> int:
    """Columns per chunk: float64 copies of ``rows`` rows of about an eighth of the inputs'
    ``total_bytes`` (at least ``CHUNK_BYTES``): memory bounded, products large enough."""
    return max(64, max(CHUNK_BYTES, total_bytes // 8) // (8 * rows))


def _combine(theta: np.ndarray, X: np.ndarray, B: np.ndarray, *, out: np.ndarray) -> None:
    """out = theta [X; B] (theta float64 (n_1, m + q), X (m, n_0), B (q, n_0)), in float64,
    rounded once into ``out`` (n_1, n_0) of the network's dtype, a chunk of columns at a time."""
    m = X.shape[0]
    step = _chunk(X.shape[0] + B.shape[0], X.nbytes)
    for c in range(0, X.shape[1], step):
        part = theta[:, :m] @ X[:, c : c + step].astype(np.float64, copy=False)
        part += theta[:, m:] @ B[:, c : c + step].astype(np.float64, copy=False)
        out[:, c : c + step] = part
