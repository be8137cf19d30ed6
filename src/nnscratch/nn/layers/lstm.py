"""The long short-term memory layer (Hochreiter & Schmidhuber, 1997), as PyTorch's
``nn.LSTM``; gates in PyTorch's order i, f, g, o (rows of weight_ih / weight_hh):

    forward:   [z_i, z_f, z_g, z_o] = x_t . weight_ih^T + bias_ih + h_{t-1} . weight_hh^T + bias_hh
               i = sigmoid(z_i)   f = sigmoid(z_f)   g = tanh(z_g)   o = sigmoid(z_o)
               c_t = f * c_{t-1} + i * g                   the cell: an additive path
               h_t = o * tanh(c_t)

    backward:  dh = dA_t + dh_t                            (output and later steps)
               dc = dh * o * (1 - tanh(c_t)^2) + dc_t
               dz_i = dc * g * i (1 - i)      dz_f = dc * c_{t-1} * f (1 - f)
               dz_g = dc * i * (1 - g^2)      dz_o = dh * tanh(c_t) * o (1 - o)
               dc_{t-1} = dc * f              dh_{t-1} = dz . weight_hh

The cell's gradient goes back one step multiplied by the forget gate f alone, no weight
matrix and no squashing slope: with f near 1 it survives many steps, where a plain RNN's
vanishes (``docs/tutorials/rnn.md``).

Speed: all four gates come from one tanh over (m, 4H) (sigmoid(z) = 0.5 tanh(z/2) + 0.5, see
``recurrent.gate_scale``), and backward's per-step factors (o (1 - tanh(c)^2), the gates'
slopes) are computed for all steps at once before the loop, which keeps seven array
operations per step. Shapes and the shared machinery: ``recurrent.py``.
"""

from __future__ import annotations

import numpy as np

from nnscratch.nn.layers.recurrent import Recurrent, gate_scale


class LSTM(Recurrent):
    """``LSTM(n_in, n_hidden, *, return_sequences=True, seed=0, dtype="float32")``;
    parameters weight_ih (4H, n_in), weight_hh (4H, H), bias_ih, bias_hh (4H,); states
    (h, c)."""

    gates = 4
    state_names = ("h", "c")

    recycled = ("G", "C", "TC")

    def _scan(self, X, states0, invalid):
        T, m, n_in = X.shape
        H, p = self.n_hidden, self.params
        scale, offset = gate_scale("ssts", H, self.dtype)
        # G (T, m, 4H): the input projections, scaled for the one-tanh trick, then each
        # step's activated gates [i, f, g, o] in place
        G = self._buffer("G", (T, m, 4 * H))
        np.matmul(X.reshape(T * m, n_in), p["weight_ih"].T, out=G.reshape(T * m, 4 * H))
        G += p["bias_ih"] + p["bias_hh"]
        G *= scale
        W_hhT = (p["weight_hh"] * scale[:, None]).T  # (H, 4H)
        Hs = np.empty((T, m, H), dtype=self.dtype)  # the outputs: never recycled
        Cs = self._buffer("C", (T, m, H))
        TC = self._buffer("TC", (T, m, H))  # tanh(c_t)
        rec = np.empty((m, 4 * H), dtype=self.dtype)
        ig = np.empty((m, H), dtype=self.dtype)
        h, c = states0
        for t in range(T):
            a = G[t]
            np.matmul(h, W_hhT, out=rec)
            a += rec
            np.tanh(a, out=a)
            a *= scale
            a += offset  # [i, f, g, o]
            np.multiply(a[:, H : 2 * H], c, out=Cs[t])  # f * c_{t-1}
            np.multiply(a[:, :H], a[:, 2 * H : 3 * H], out=ig)  # i * g
            Cs[t] += ig
            np.tanh(Cs[t], out=TC[t])
            np.multiply(a[:, 3 * H :], TC[t], out=Hs[t])
            if invalid is not None:  # masked: both states carry over
                np.copyto(Cs[t], c, where=invalid[t])
                np.copyto(Hs[t], h, where=invalid[t])
            h, c = Hs[t], Cs[t]
        return {"H": Hs, "C": Cs, "TC": TC, "G": G, "final": (h, c)}

    def _scan_back(self, dH, dfinal, cache, valid):
        G, Cs, TC, c0 = cache["G"], cache["C"], cache["TC"], cache["states0"][1]
        T, m, H4 = G.shape
        H = H4 // 4
        W_hh = self.params["weight_hh"]
        i, f, g, o = (G[:, :, k * H : (k + 1) * H] for k in range(4))
        # the per-step factors, for all steps at once:
        #   K = [g i(1-i), c_{t-1} f(1-f), i (1-g^2), tanh(c) o(1-o)], so that
        #   dz = [dc, dc, dc, dh] * K;  and P = o (1 - tanh(c)^2), so that dc += dh * P
        slope_a, slope_b = _gate_slopes(H, self.dtype)
        K = self._work("K", G.shape)
        np.subtract(slope_a, G, out=K)
        K *= G
        K += slope_b  # s(1 - s) for the sigmoid gates, 1 - g^2 for g
        K4 = K.reshape(T, m, 4, H)
        K4[:, :, 0] *= g
        K4[0, :, 1] *= c0
        K4[1:, :, 1] *= Cs[:-1]
        K4[:, :, 2] *= i
        K4[:, :, 3] *= TC
        P = self._work("P", TC.shape)
        np.multiply(TC, TC, out=P)
        np.subtract(1, P, out=P)
        P *= o

        dZ = self._work("dZ", G.shape)
        dZ4 = dZ.reshape(T, m, 4, H)
        dh, dc = dfinal  # gradients reaching h_t and c_t from later steps
        dh_tot = np.empty((m, H), dtype=self.dtype)
        dc_tot = np.empty_like(dh_tot)
        if valid is not None:
            carry = 1 - valid
            hold_h, hold_c = np.empty_like(dh_tot), np.empty_like(dh_tot)
        for t in range(T - 1, -1, -1):
            if dH is None:
                np.copyto(dh_tot, dh)
            else:
                np.add(dH[t], dh, out=dh_tot)
            if valid is not None:  # masked samples pass their gradients straight back
                np.multiply(dh_tot, carry[t], out=hold_h)
                np.multiply(dc, carry[t], out=hold_c)
                dh_tot *= valid[t]
            np.multiply(dh_tot, P[t], out=dc_tot)
            dc_tot += dc
            if valid is not None:
                dc_tot *= valid[t]
            np.multiply(K4[t, :, :3], dc_tot[:, None, :], out=dZ4[t, :, :3])
            np.multiply(K4[t, :, 3], dh_tot, out=dZ4[t, :, 3])
            np.multiply(dc_tot, f[t], out=dc)
            np.matmul(dZ[t], W_hh, out=dh)
            if valid is not None:
                dh += hold_h
                dc += hold_c
        return dZ, dZ, (dh, dc)


def _gate_slopes(H: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) per unit of [i, f, g, o] such that (a - act) * act + b is each gate's slope:
    s (1 - s) for the sigmoid gates (a = 1, b = 0), 1 - g^2 for g (a = 0, b = 1)."""
    a = np.concatenate([np.full(H, v) for v in (1.0, 1.0, 0.0, 1.0)]).astype(dtype)
    return a, (1 - a).astype(dtype)
