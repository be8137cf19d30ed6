"""The plain (Elman) recurrent layer with tanh, as PyTorch's ``nn.RNN``:

    forward:   h_t = tanh(x_t . weight_ih^T + bias_ih + h_{t-1} . weight_hh^T + bias_hh)

    backward:  dz_t = (dA_t + dh_t) * (1 - h_t^2)        dA_t: the output's gradient at step t
               dh_{t-1} = dz_t . weight_hh              the gradient carried one step back

Each step multiplies the carried gradient by weight_hh and by tanh's slope (at most 1): over
many steps it shrinks (or, with large weights, grows) geometrically. That is why gradients
vanish through time (``docs/tutorials/rnn.md``), and what the LSTM's additive cell path avoids.
Shapes and the shared machinery (masks, states, parameter gradients): ``recurrent.py``.
"""

from __future__ import annotations

import numpy as np

from nnscratch.nn.layers.recurrent import Recurrent


class RNN(Recurrent):
    """``RNN(n_in, n_hidden, *, return_sequences=True, seed=0, dtype="float32")``: one tanh
    recurrent layer; parameters weight_ih (H, n_in), weight_hh (H, H), bias_ih, bias_hh."""

    gates = 1
    state_names = ("h",)

    def _scan(self, X, states0, invalid):
        T, m, n_in = X.shape
        p = self.params
        # Z (T, m, H): the input projections of all steps, then each step's state in place
        # (the outputs, so never recycled)
        Z = (X.reshape(T * m, n_in) @ p["weight_ih"].T).reshape(T, m, self.n_hidden)
        Z += p["bias_ih"] + p["bias_hh"]
        W_hhT = p["weight_hh"].T
        rec = np.empty((m, self.n_hidden), dtype=self.dtype)
        h = states0[0]
        for t in range(T):
            np.matmul(h, W_hhT, out=rec)
            Z[t] += rec
            np.tanh(Z[t], out=Z[t])  # Z[t] is now h_t
            if invalid is not None:
                np.copyto(Z[t], h, where=invalid[t])  # masked: the state carries over
            h = Z[t]
        return {"H": Z, "final": (h,)}

    def _scan_back(self, dH, dfinal, cache, valid):
        Hs = cache["H"]
        T, m, H = Hs.shape
        W_hh = self.params["weight_hh"]
        slope = self._work("slope", Hs.shape)  # tanh'(z_t) = 1 - h_t^2, all steps at once
        np.multiply(Hs, Hs, out=slope)
        np.subtract(1, slope, out=slope)
        dZ = self._work("dZ", Hs.shape)
        dh = dfinal[0]  # the gradient reaching h_t from later steps (and the final state)
        dh_tot = np.empty((m, H), dtype=self.dtype)
        if valid is not None:
            carry, hold = 1 - valid, np.empty_like(dh_tot)
        for t in range(T - 1, -1, -1):
            if dH is None:
                np.copyto(dh_tot, dh)
            else:
                np.add(dH[t], dh, out=dh_tot)
            if valid is not None:  # masked samples pass their gradient straight back
                np.multiply(dh_tot, carry[t], out=hold)
                dh_tot *= valid[t]
            np.multiply(dh_tot, slope[t], out=dZ[t])
            np.matmul(dZ[t], W_hh, out=dh)
            if valid is not None:
                dh += hold
        return dZ, dZ, (dh,)
