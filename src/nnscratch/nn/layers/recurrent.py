"""What the recurrent layers (``RNN``, ``LSTM``, ``GRU``) share: arguments, parameters, masks,
initial states, and the parameter gradients of backpropagation through time.

Shapes. A layer reads a batch of sequences A_prev (m, T, n_in) and returns every step's hidden
state A (m, T, H) (``return_sequences=True``) or the last one, A (m, H). Inside, everything is
time-major, (T, m, ...), so that each step's slice is one contiguous block; the (m, T, H) that
``forward`` returns is a transposed view of that storage, which the next recurrent layer
transposes back without a copy.

Parameters, named and laid out as PyTorch's ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (one layer,
batch_first): with G gates (1, 4, 3) and H hidden units,

    weight_ih (G*H, n_in)   weight_hh (G*H, H)   bias_ih (G*H,)   bias_hh (G*H,)

drawn, as there, from U(-1/sqrt(H), 1/sqrt(H)). A cell's gate pre-activations at step t are

    Zx_t = x_t . weight_ih^T + bias_ih          (all T steps in one matrix product)
    Zh_t = h_{t-1} . weight_hh^T + bias_hh      (one product per step: the recurrence)

Backpropagation through time (each cell's ``_scan_back``) runs the steps backwards and returns
dZx (T, m, G*H) and dZh (T, m, G*H), the gradients of those pre-activations (the same array
for RNN and LSTM; GRU's differ in its n gate). The parameter and input gradients are then
four matrix products over all steps at once (``_parameter_gradients``):

    d weight_ih = dZx^T . X          d weight_hh = dZh^T . [h_0, h_1, ..., h_{T-1}]
    d bias_ih = sum of dZx           d bias_hh = sum of dZh          dX = dZx . weight_ih

Masks (sequences of unequal length). ``mask`` (m, T) is True where a step is real. At a
masked step a sample's state is carried over unchanged (h_t = h_{t-1}, and c_t = c_{t-1} for
an LSTM) and its output is zero, so the last state ``return_sequences=False`` returns is the
state after the sample's last real step: for right-padded sequences exactly what PyTorch's
``pack_padded_sequence`` gives. Backward is the same rule differentiated: at a masked step the
state gradient passes straight through to the step before, and the cell's own gradients there
are zero.

Memory. The cache of ``forward`` holds a few (T, m, G*H) arrays and backward works on as
many; allocated afresh at every batch, arrays of megabytes cost the kernel a page fault per
4 KB (a third of an LSTM's training time, measured). So backward keeps its scratch arrays
between calls (``_work``), and once it has read a cache, hands that cache's internal arrays
(``recycled``, never its outputs) to the next ``forward`` (``_buffer``): a cache is used by
one backward only.

Initial states are zero unless ``initial_state`` gives them: an array (m, H) or (H,) for RNN
and GRU, a pair (h_0, c_0) for LSTM. ``final_state(cache)`` returns the states after the last
step (for truncated backpropagation through time and for sampling, which carry them into the
next call), and ``backward_with_states`` also returns the gradient of the initial states.
"""

from __future__ import annotations

import numpy as np

from nnscratch.base.validation import check_dtype, check_flag, check_positive, check_seed
from nnscratch.nn.layers.base import Layer


class Recurrent(Layer):
    """Base class of the recurrent layers; a cell implements ``_scan`` and ``_scan_back``.

    Args:
        n_in: features per step of the input.
        n_hidden: H, units of the hidden state.
        return_sequences: return every step's state (m, T, H), or only the last (m, H).
        seed: seed of the generator that draws the initial parameters.
        dtype: "float32" or "float64"; the inputs must have it too.
        index: the layer's number l in a model (its parameters are named "weight_ih" + l).
    """

    #: gate blocks G in weight_ih / weight_hh (1 for a plain RNN)
    gates: int = 1
    #: the recurrent states: ("h",), or ("h", "c") for an LSTM
    state_names: tuple[str, ...] = ("h",)
    #: the model passes ``mask`` and ``initial_state`` to layers that take them
    takes_mask = True
    #: cache entries that backward reads last: their arrays go back to the layer once it is
    #: done, for the next forward to fill (never the outputs, which the caller may keep)
    recycled: tuple[str, ...] = ()

    def __init__(
        self,
        n_in: int,
        n_hidden: int,
        *,
        return_sequences: bool = True,
        seed: int | None = 0,
        dtype="float32",
        index: int = 0,
    ):
        self.n_in = check_positive("n_in", n_in, integer=True)
        self.n_hidden = check_positive("n_hidden", n_hidden, integer=True)
        self.return_sequences = check_flag("return_sequences", return_sequences)
        self.dtype = check_dtype(dtype)
        self.index = index
        rng = np.random.default_rng(check_seed(seed))
        GH, bound = self.gates * self.n_hidden, 1 / np.sqrt(self.n_hidden)
        shapes = {
            "weight_ih": (GH, self.n_in),
            "weight_hh": (GH, self.n_hidden),
            "bias_ih": (GH,),
            "bias_hh": (GH,),
        }
        self.params = {
            name: rng.uniform(-bound, bound, shape).astype(self.dtype)
            for name, shape in shapes.items()
        }

    # ---- the cell's two halves ----------------------------------------------------------
    def _scan(self, X: np.ndarray, states0: tuple, invalid: np.ndarray | None) -> dict:
        """The forward recurrence over X (T, m, n_in) from ``states0`` ((m, H) each).

        ``invalid`` (T, m, 1) is True at masked steps (None: no step is masked). Returns the
        cache: at least "H" (T, m, H), every step's hidden state, and "final", the states
        after the last step.
        """
        raise NotImplementedError

    def _scan_back(self, dH, dfinal: tuple, cache: dict, valid) -> tuple:
        """Backpropagation through time: dH (T, m, H) (the gradient of every step's output,
        zero at masked steps) or None (only the last state is an output), ``dfinal`` (the
        gradients of the final states, (m, H) each), ``valid`` (T, m, 1) 1.0 at real steps
        and 0.0 at masked ones (or None). Returns (dZx, dZh, dstates0)."""
        raise NotImplementedError

    # ---- reused arrays ------------------------------------------------------------------
    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised array for the cache entry ``name``: the one the last backward
        recycled when it has this shape, else a new one."""
        a = self.__dict__.setdefault("_recycled", {}).pop(name, None)
        return a if a is not None and a.shape == shape else np.empty(shape, dtype=self.dtype)

    def _work(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A scratch array of backward, kept from call to call (it never leaves backward)."""
        work = self.__dict__.setdefault("_workspace", {})
        a = work.get(name)
        if a is None or a.shape != shape:
            a = work[name] = np.empty(shape, dtype=self.dtype)
        return a

    # ---- forward ------------------------------------------------------------------------
    def forward(
        self,
        A_prev: np.ndarray,
        training: bool = False,
        mask: np.ndarray | None = None,
        initial_state=None,
    ):
        """A_prev (m, T, n_in) -> (A (m, T, H) or (m, H), cache). ``mask`` (m, T) bool,
        True at real steps; ``initial_state`` as in the module docstring."""
        X = self._time_major(A_prev)  # (T, m, n_in)
        T, m, _ = X.shape
        invalid = self._invalid_steps(mask, m, T)
        states0 = self._initial_states(initial_state, m)
        cache = self._scan(X, states0, invalid)
        # the final states are copies: the arrays they are read from may be recycled
        cache.update(X=X, invalid=invalid, states0=states0)
        cache["final"] = tuple(state.copy() for state in cache["final"])
        if not self.return_sequences:
            return cache["final"][0].copy(), cache
        Hs = cache["H"]
        out = Hs if invalid is None else np.where(invalid, Hs.dtype.type(0), Hs)
        return out.transpose(1, 0, 2), cache

    def final_state(self, cache) -> tuple[np.ndarray, ...]:
        """The states after the last step, (m, H) each: (h_T,) or (h_T, c_T)."""
        return cache["final"]

    def _time_major(self, A_prev: np.ndarray) -> np.ndarray:
        if A_prev.ndim != 3 or A_prev.shape[2] != self.n_in:
            raise ValueError(
                f"{type(self).__name__} layer {self.index} expects inputs of shape "
                f"(m, T, {self.n_in}); got {A_prev.shape}"
            )
        if A_prev.dtype != self.dtype:
            raise ValueError(
                f"{type(self).__name__} layer {self.index} has dtype {self.dtype.name}; "
                f"got inputs of dtype {A_prev.dtype}"
            )
        return np.ascontiguousarray(A_prev.transpose(1, 0, 2))

    def _invalid_steps(self, mask, m: int, T: int) -> np.ndarray | None:
        """mask (m, T) -> (T, m, 1) True at masked steps, or None when no step is masked."""
        if mask is None:
            return None
        mask = np.asarray(mask)
        if mask.shape != (m, T) or mask.dtype != np.bool_:
            raise ValueError(
                f"mask must be a boolean array of shape (m, T) = {(m, T)}; "
                f"got {mask.dtype} {mask.shape}"
            )
        if mask.all():
            return None
        return ~mask.T[:, :, None]

    def _initial_states(self, initial_state, m: int) -> tuple[np.ndarray, ...]:
        n, H = len(self.state_names), self.n_hidden
        if initial_state is None:
            return tuple(np.zeros((m, H), dtype=self.dtype) for _ in range(n))
        if isinstance(initial_state, np.ndarray) and n == 1:
            initial_state = (initial_state,)
        if not isinstance(initial_state, (tuple, list)) or len(initial_state) != n:
            raise ValueError(
                f"initial_state of {type(self).__name__} must be "
                f"{'one array' if n == 1 else 'a pair (h_0, c_0)'} of shape (m, {H}) or "
                f"({H},); got {type(initial_state).__name__}"
            )
        states = []
        for name, s in zip(self.state_names, initial_state, strict=True):
            s = np.asarray(s, dtype=self.dtype)
            if s.shape not in ((H,), (m, H)):
                raise ValueError(
                    f"initial state {name} must have shape (m, H) = {(m, H)} or ({H},); "
                    f"got {s.shape}"
                )
            states.append(np.array(np.broadcast_to(s, (m, H))))
        return tuple(states)

    # ---- backward -----------------------------------------------------------------------
    def backward(self, dA: np.ndarray, cache, need_input_grad: bool = True):
        """dA (m, T, H) or (m, H) -> (dA_prev (m, T, n_in) or None, grads by local name)."""
        dX, grads, _ = self.backward_with_states(dA, cache, need_input_grad=need_input_grad)
        return dX, grads

    def backward_with_states(
        self, dA: np.ndarray, cache, dfinal=None, need_input_grad: bool = True
    ) -> tuple[np.ndarray | None, dict[str, np.ndarray], tuple[np.ndarray, ...]]:
        """``backward``, with ``dfinal`` (gradients of the final states, (m, H) each, or None)
        in and the gradients of the initial states out: (dA_prev, grads, dstates0)."""
        if cache.get("consumed"):
            raise ValueError(
                f"{type(self).__name__} layer {self.index}: this cache was already used by a "
                "backward pass (its arrays are reused); run forward again"
            )
        T, m, _ = cache["X"].shape
        zeros = tuple(np.zeros((m, self.n_hidden), dtype=self.dtype) for _ in self.state_names)
        dfinal = zeros if dfinal is None else tuple(np.array(d, dtype=self.dtype) for d in dfinal)
        invalid = cache["invalid"]
        valid = None if invalid is None else (~invalid).astype(self.dtype)
        if self.return_sequences:
            dH = dA.transpose(1, 0, 2)  # (T, m, H), read only
            if valid is not None:
                dH = dH * valid  # the outputs at masked steps were constants (zeros)
        else:
            dH = None  # only the last state was an output
            dfinal = (dfinal[0] + dA, *dfinal[1:])
        dZx, dZh, dstates0 = self._scan_back(dH, dfinal, cache, valid)
        grads, dX = self._parameter_gradients(dZx, dZh, cache, need_input_grad)
        recycled = self.__dict__.setdefault("_recycled", {})
        for name in self.recycled:
            recycled[name] = cache.pop(name)
        cache["consumed"] = True
        return (None if dX is None else dX.transpose(1, 0, 2)), grads, dstates0

    def _parameter_gradients(self, dZx, dZh, cache, need_input_grad: bool):
        """The four parameter gradients and dX (T, m, n_in), each one product over all
        steps (see the module docstring)."""
        X, Hs, h0 = cache["X"], cache["H"], cache["states0"][0]
        T, m, n_in = X.shape
        GH, H = self.gates * self.n_hidden, self.n_hidden
        dZx2 = dZx.reshape(T * m, GH)
        dZh2 = dZh.reshape(T * m, GH)
        ones = np.ones(T * m, dtype=self.dtype)
        d_weight_hh = dZh[0].T @ h0
        if T > 1:
            d_weight_hh += dZh2[m:].T @ Hs[:-1].reshape((T - 1) * m, H)
        d_bias_ih = ones @ dZx2  # a matrix-vector product sums rows faster than .sum(0)
        grads = {
            "weight_ih": dZx2.T @ X.reshape(T * m, n_in),
            "weight_hh": d_weight_hh,
            "bias_ih": d_bias_ih,
            "bias_hh": d_bias_ih.copy() if dZh is dZx else ones @ dZh2,
        }
        dX = (dZx2 @ self.params["weight_ih"]).reshape(T, m, n_in) if need_input_grad else None
        return grads, dX

    # ---- description --------------------------------------------------------------------
    def output_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[1] != self.n_in:
            raise ValueError(
                f"{type(self).__name__} layer {self.index} expects sequences of shape "
                f"(T, {self.n_in}); got per-sample shape {input_shape}"
            )
        T = input_shape[0]
        return (T, self.n_hidden) if self.return_sequences else (self.n_hidden,)

    def config(self) -> dict:
        return {
            **super().config(),
            "n_in": self.n_in,
            "n_hidden": self.n_hidden,
            "return_sequences": self.return_sequences,
        }


def gate_scale(blocks: str, H: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit (scale, offset) that turn one tanh over all gates into the right activation
    of each: sigmoid(z) = 0.5 tanh(z / 2) + 0.5 for an "s" block, tanh for a "t" block.

    A cell multiplies the pre-activations of sigmoid gates by 0.5 (scale), takes tanh of all
    gates in one call, then computes act = tanh * scale + offset: three array operations per
    step instead of a separate sigmoid (exp, add, divide) for each sigmoid block. Multiplying
    by 0.5 and adding 0.5 are exact in floating point.
    """
    scale = np.concatenate([np.full(H, 0.5 if b == "s" else 1.0) for b in blocks])
    offset = np.concatenate([np.full(H, 0.5 if b == "s" else 0.0) for b in blocks])
    return scale.astype(dtype), offset.astype(dtype)
