"""The gated recurrent unit (Cho et al., 2014), as PyTorch's ``nn.GRU``; gates in PyTorch's
order r, z, n (rows of weight_ih / weight_hh):

    forward:   [x_r, x_z, x_n] = x_t . weight_ih^T + bias_ih
               [h_r, h_z, h_n] = h_{t-1} . weight_hh^T + bias_hh
               r = sigmoid(x_r + h_r)     z = sigmoid(x_z + h_z)
               n = tanh(x_n + r * h_n)                the reset gate scales h_n, bias included
               h_t = (1 - z) * n + z * h_{t-1}

    backward:  dh = dA_t + dh_t
               dx_n = dh * (1 - z) * (1 - n^2)       (the n gate's pre-activation)
               dx_r = dh_r = dx_n * h_n * r (1 - r)
               dx_z = dh_z = dh * (h_{t-1} - n) * z (1 - z)
               dh_n = dx_n * r                        (h_n's gradient differs from x_n's)
               dh_{t-1} = [dh_r, dh_z, dh_n] . weight_hh + dh * z

The update gate z interpolates between the old state and the new candidate: with z near 1 the
state, and its gradient (the dh * z term), pass a step unchanged, as through an LSTM's cell.
The n block's input and hidden pre-activations have different gradients, so ``_scan_back``
returns dZx and dZh as two arrays. Shapes and the shared machinery: ``recurrent.py``.
"""

from __future__ import annotations

import numpy as np

from nnscratch.nn.layers.recurrent import Recurrent, gate_scale


class GRU(Recurrent):
    """``GRU(n_in, n_hidden, *, return_sequences=True, seed=0, dtype="float32")``;
    parameters weight_ih (3H, n_in), weight_hh (3H, H), bias_ih, bias_hh (3H,)."""

    gates = 3
    state_names = ("h",)
    recycled = ("G", "HN")

    def _scan(self, X, states0, invalid):
        T, m, n_in = X.shape
        H, p = self.n_hidden, self.params
        scale, offset = gate_scale("sst", H, self.dtype)
        rz_scale, rz_offset = scale[: 2 * H], offset[: 2 * H]
        # G (T, m, 3H): x projections (r and z with both biases, scaled for the one-tanh
        # trick), then each step's r, z and n in place
        G = self._buffer("G", (T, m, 3 * H))
        np.matmul(X.reshape(T * m, n_in), p["weight_ih"].T, out=G.reshape(T * m, 3 * H))
        G += p["bias_ih"]
        G[:, :, : 2 * H] += p["bias_hh"][: 2 * H]
        G[:, :, : 2 * H] *= rz_scale
        W_hhT = (p["weight_hh"] * scale[:, None]).T  # (H, 3H); the n rows unscaled
        b_hn = p["bias_hh"][2 * H :]
        Hs = np.empty((T, m, H), dtype=self.dtype)  # the outputs: never recycled
        HN = self._buffer("HN", (T, m, H))  # h_n = h_{t-1} . W_hn^T + b_hn, which backward needs
        rec = np.empty((m, 3 * H), dtype=self.dtype)
        tmp = np.empty((m, H), dtype=self.dtype)
        h = states0[0]
        for t in range(T):
            np.matmul(h, W_hhT, out=rec)
            rz, n = G[t, :, : 2 * H], G[t, :, 2 * H :]
            rz += rec[:, : 2 * H]
            np.tanh(rz, out=rz)
            rz *= rz_scale
            rz += rz_offset  # [r, z]
            np.add(rec[:, 2 * H :], b_hn, out=HN[t])
            np.multiply(rz[:, :H], HN[t], out=tmp)  # r * h_n
            n += tmp
            np.tanh(n, out=n)
            np.subtract(h, n, out=Hs[t])
            Hs[t] *= rz[:, H:]
            Hs[t] += n  # n + z (h - n) = (1 - z) n + z h
            if invalid is not None:
                np.copyto(Hs[t], h, where=invalid[t])  # masked: the state carries over
            h = Hs[t]
        return {"H": Hs, "HN": HN, "G": G, "final": (h,)}

    def _scan_back(self, dH, dfinal, cache, valid):
        G, Hs, HN, h0 = cache["G"], cache["H"], cache["HN"], cache["states0"][0]
        T, m, H3 = G.shape
        H = H3 // 3
        W_hh = self.params["weight_hh"]
        r, z, n = (G[:, :, k * H : (k + 1) * H] for k in range(3))
        # the per-step factors, for all steps at once
        tmp3 = self._work("tmp", Hs.shape)
        dh_to_dn = self._work("dh_to_dn", Hs.shape)  # (1 - z)(1 - n^2)
        np.multiply(n, n, out=tmp3)
        np.subtract(1, tmp3, out=tmp3)
        np.subtract(1, z, out=dh_to_dn)
        dh_to_dn *= tmp3
        dn_to_dr = self._work("dn_to_dr", Hs.shape)  # h_n r (1 - r)
        np.subtract(1, r, out=dn_to_dr)
        dn_to_dr *= r
        dn_to_dr *= HN
        dh_to_dz = self._work("dh_to_dz", Hs.shape)  # (h_{t-1} - n) z (1 - z)
        np.subtract(h0, n[0], out=dh_to_dz[0])
        np.subtract(Hs[:-1], n[1:], out=dh_to_dz[1:])
        np.subtract(1, z, out=tmp3)
        tmp3 *= z
        dh_to_dz *= tmp3

        dZx = self._work("dZx", G.shape)  # gradients of [x_r, x_z, x_n]
        dZh = self._work("dZh", G.shape)  # gradients of [h_r, h_z, h_n]
        dh = dfinal[0]
        dh_tot = np.empty((m, H), dtype=self.dtype)
        tmp = np.empty_like(dh_tot)
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
            dxn = dZx[t, :, 2 * H :]
            np.multiply(dh_tot, dh_to_dn[t], out=dxn)
            np.multiply(dxn, dn_to_dr[t], out=dZh[t, :, :H])
            np.multiply(dh_tot, dh_to_dz[t], out=dZh[t, :, H : 2 * H])
            np.multiply(dxn, r[t], out=dZh[t, :, 2 * H :])
            np.matmul(dZh[t], W_hh, out=dh)
            np.multiply(dh_tot, z[t], out=tmp)
            dh += tmp
            if valid is not None:
                dh += hold
        dZx[:, :, : 2 * H] = dZh[:, :, : 2 * H]  # r and z: x and h share pre-activations
        return dZx, dZh, (dh,)
