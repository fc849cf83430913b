"""The NumPy backend's compiled fast paths: loops fused by Numba (``pip install "deepcore[fast]"``).

Each kernel does in one pass over memory what the portable array-API code does in a dozen
NumPy calls with a temporary array each, and gives bit-identical results: the
same float operations in the same order, in the arrays' own dtype (the scalars are passed as
NumPy scalars of that dtype). One exception: the float32 LSTM and GRU forward cells
(`numba_float32`) compute their own exp and tanh, a few ulp from NumPy's. Numba compiles a kernel on its first call and caches the machine
code on disk (``cache=True``), so only the first run on a machine pays for compilation.

The kernels run on the calling thread. Numba's parallel loops were 2x slower inside training
(measured, MLP 784-512-512-10 on 2 cores: 21k samples/s with them, 48k without): their worker
threads compete with OpenBLAS's threads, which spin for a while after every GEMM. A serial
loop vectorizes once division never raises (``error_model="numpy"``), and then runs Adam over
670k float32 weights in 0.36 ms against NumPy's 1.33 ms.

`load` returns this module's kernels, or None when Numba is not installed, cannot be imported
(e.g. it does not support the installed NumPy yet: a warning says so) or ``DEEPCORE_NUMBA=0``
turns them off; the backend then keeps its NumPy path.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from types import SimpleNamespace
from typing import Any

KERNEL_DTYPE_CHARS = "fd"  # the kernels take float32 and float64 arrays


def status() -> str:
    """One line for ``deepcore info``: whether the compiled kernels are on, and why not."""
    if os.environ.get("DEEPCORE_NUMBA", "1") == "0":
        return "off (DEEPCORE_NUMBA=0)"
    if importlib.util.find_spec("numba") is None:
        return 'off (numba is not installed: pip install "deepcore[fast]")'
    if load() is None:
        return "off (numba cannot be imported; see the warning)"
    from importlib.metadata import version

    return f"on (numba {version('numba')})"


def for_arrays(*arrays: Any) -> SimpleNamespace | None:
    """`load`'s kernels when they can take ``arrays`` (all float32 or all float64), else None."""
    dtype = arrays[0].dtype
    if dtype.char not in KERNEL_DTYPE_CHARS or any(a.dtype != dtype for a in arrays[1:]):
        return None
    return load()


@functools.lru_cache(maxsize=None)
def load() -> SimpleNamespace | None:
    """The compiled kernels (compiled lazily, per dtype, on first call), or None."""
    if os.environ.get("DEEPCORE_NUMBA", "1") == "0" or importlib.util.find_spec("numba") is None:
        return None
    try:
        import numba
    except ImportError as exc:  # e.g. "Numba needs NumPy 2.3 or less"
        warnings.warn(f"numba is installed but cannot be imported ({exc}); the NumPy backend runs without "
                      "its compiled kernels (same results, slower). DEEPCORE_NUMBA=0 silences this.",
                      RuntimeWarning, stacklevel=2)
        return None
    import numpy as np

    compiled = numba.njit(nogil=True, cache=True, error_model="numpy")

    @compiled
    def adam(value, gradient, m, v, v_hat, amsgrad, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
        # Without AMSGrad ``v_hat`` is not read (pass any array, e.g. v); the branch is
        # loop-invariant, and the compiler makes a loop of each case.
        for i in range(value.size):
            g = gradient[i]
            m_i = m[i] + (g - m[i]) * one_minus_beta_1
            v_i = v[i] + (g * g - v[i]) * one_minus_beta_2
            m[i] = m_i
            v[i] = v_i
            if amsgrad:
                v_i = max(v_hat[i], v_i)
                v_hat[i] = v_i
            value[i] -= (m_i * alpha) / (np.sqrt(v_i) + epsilon)

    @compiled
    def bias_relu(z, bias, zero):
        # z (rows, units) <- max(z + bias, 0) with np.maximum's rules (NaN stays, -0.0 -> 0.0).
        for r in range(z.shape[0]):
            row = z[r]
            for j in range(row.size):
                v = row[j] + bias[j]
                row[j] = v if v > zero or v != v else zero

    @compiled
    def relu_gradient(dy, x, dx, one, zero):
        for i in range(dy.size):
            dx[i] = dy[i] * (one if x[i] > 0 else zero)

    # The cell kernels (LSTM, GRU) index row slices with the loop counter alone (an index like ``units + j``
    # makes Numba check for negative indices) and never write an array they read (possible
    # aliasing): either stops the loop from vectorizing, 3-4x slower.
    @compiled
    def lstm_gate_inputs(z, xw, floor, e, g):
        # z + xw (batch, 4 * units), gates i, f, c, o -> e (batch, 3 * units): -max(z + xw, floor)
        # of the sigmoid gates i, f, o (np.maximum's NaN rule), ready for one exp; g (batch,
        # units): z_c + xw_c.
        units = g.shape[1]
        for b in range(z.shape[0]):
            z_i, z_f, z_g, z_o = z[b, :units], z[b, units:2 * units], z[b, 2 * units:3 * units], z[b, 3 * units:]
            x_i, x_f, x_g, x_o = xw[b, :units], xw[b, units:2 * units], xw[b, 2 * units:3 * units], xw[b, 3 * units:]
            e_i, e_f, e_o, g_b = e[b, :units], e[b, units:2 * units], e[b, 2 * units:], g[b]
            for j in range(units):
                i, f, o = z_i[j] + x_i[j], z_f[j] + x_f[j], z_o[j] + x_o[j]
                e_i[j] = -(floor if i < floor else i)
                e_f[j] = -(floor if f < floor else f)
                e_o[j] = -(floor if o < floor else o)
                g_b[j] = z_g[j] + x_g[j]

    @compiled
    def lstm_cell_forward(e, g, c, acts, c_new, one):
        # e: exp(-max(z, floor)) of the gates i, f, o; g: tanh(z_c). acts (batch, 4 * units)
        # receives the gates' values i, f, g, o; c_new = f * c + i * g.
        units = c.shape[1]
        for b in range(c.shape[0]):
            e_i, e_f, e_o, g_b = e[b, :units], e[b, units:2 * units], e[b, 2 * units:], g[b]
            i, f, g_out, o = acts[b, :units], acts[b, units:2 * units], acts[b, 2 * units:3 * units], acts[b, 3 * units:]
            c_b, c_new_b = c[b], c_new[b]
            for j in range(units):
                i_j = one / (one + e_i[j])
                f_j = one / (one + e_f[j])
                i[j] = i_j
                f[j] = f_j
                g_out[j] = g_b[j]
                o[j] = one / (one + e_o[j])
                c_new_b[j] = f_j * c_b[j] + i_j * g_b[j]

    @compiled
    def lstm_cell_backward(acts, c, tanh_c, dh, dc_new, dz, dc, one):
        units = c.shape[1]
        for b in range(c.shape[0]):
            i, f, g, o = acts[b, :units], acts[b, units:2 * units], acts[b, 2 * units:3 * units], acts[b, 3 * units:]
            dz_i, dz_f, dz_g, dz_o = dz[b, :units], dz[b, units:2 * units], dz[b, 2 * units:3 * units], dz[b, 3 * units:]
            c_b, t, dh_b, dc_new_b, dc_b = c[b], tanh_c[b], dh[b], dc_new[b], dc[b]
            for j in range(units):
                dc_j = dc_new_b[j] + (dh_b[j] * o[j]) * (one - t[j] * t[j])
                dz_i[j] = ((dc_j * g[j]) * i[j]) * (one - i[j])
                dz_f[j] = ((dc_j * c_b[j]) * f[j]) * (one - f[j])
                dz_g[j] = (dc_j * i[j]) * (one - g[j] * g[j])
                dz_o[j] = ((dh_b[j] * t[j]) * o[j]) * (one - o[j])
                dc_b[j] = dc_j * f[j]

    @compiled
    def gru_gate_inputs(xw, inner, floor, e):
        # e (batch, 2 * units) <- -max(xw + inner, floor) of the gates z, r (np.maximum's NaN rule).
        units = e.shape[1] // 2
        for b in range(e.shape[0]):
            xw_zr, inner_zr, e_b = xw[b, :2 * units], inner[b, :2 * units], e[b]
            for j in range(2 * units):
                v = xw_zr[j] + inner_zr[j]
                e_b[j] = -(floor if v < floor else v)

    @compiled
    def gru_cell_forward(e, xw, inner, zr, candidate, one):
        # e: exp(-max(., floor)) of z, r -> zr (batch, 2 * units) their sigmoids; candidate
        # (batch, units) <- xw_h + r * inner_h, the input of tanh.
        units = candidate.shape[1]
        for b in range(e.shape[0]):
            e_b, zr_b = e[b], zr[b]
            for j in range(2 * units):
                zr_b[j] = one / (one + e_b[j])
            r, xw_h, inner_h, candidate_b = zr[b, units:], xw[b, 2 * units:], inner[b, 2 * units:], candidate[b]
            for j in range(units):
                candidate_b[j] = xw_h[j] + r[j] * inner_h[j]

    @compiled
    def gru_cell_output(zr, hh, h, h_new, one):
        units = h.shape[1]
        for b in range(h.shape[0]):
            z, hh_b, h_b, h_new_b = zr[b, :units], hh[b], h[b], h_new[b]
            for j in range(units):
                h_new_b[j] = z[j] * h_b[j] + (one - z[j]) * hh_b[j]

    @compiled
    def gru_cell_backward(zr, hh, h, inner, dh, dxw, dinner, dh_kept, one):
        units = h.shape[1]
        for b in range(h.shape[0]):
            z, r, hh_b, h_b, inner_h, dh_b = zr[b, :units], zr[b, units:], hh[b], h[b], inner[b, 2 * units:], dh[b]
            dxw_z, dxw_r, dxw_h = dxw[b, :units], dxw[b, units:2 * units], dxw[b, 2 * units:]
            dinner_z, dinner_r, dinner_h, dh_kept_b = (dinner[b, :units], dinner[b, units:2 * units],
                                                       dinner[b, 2 * units:], dh_kept[b])
            for j in range(units):
                da_h = (dh_b[j] * (one - z[j])) * (one - hh_b[j] * hh_b[j])
                da_z = ((dh_b[j] * (h_b[j] - hh_b[j])) * z[j]) * (one - z[j])
                da_r = ((da_h * inner_h[j]) * r[j]) * (one - r[j])
                dxw_z[j] = da_z
                dxw_r[j] = da_r
                dxw_h[j] = da_h
                dinner_z[j] = da_z
                dinner_r[j] = da_r
                dinner_h[j] = da_h * r[j]
                dh_kept_b[j] = dh_b[j] * z[j]

    @compiled
    def max_pool_forward(x, pool_rows, pool_cols, stride_rows, stride_cols, y, first):
        # x (batch, rows, cols, channels), padded; y (batch, out_rows, out_cols, channels) the
        # windows' maxima with np.maximum's NaN rule, `first` the offset (row-major in the
        # window) of each window's first maximum; in a NaN window its last offset, where the
        # portable rule (the first element equal to the maximum, else the last) puts it.
        last = pool_rows * pool_cols - 1
        for b in range(y.shape[0]):
            for r in range(y.shape[1]):
                for q in range(y.shape[2]):
                    y_w, first_w = y[b, r, q], first[b, r, q]
                    top, left = r * stride_rows, q * stride_cols
                    x_0 = x[b, top, left]
                    for ch in range(y_w.size):
                        y_w[ch] = x_0[ch]
                        first_w[ch] = 0
                    for k in range(1, last + 1):
                        x_k = x[b, top + k // pool_cols, left + k % pool_cols]
                        for ch in range(y_w.size):
                            if x_k[ch] > y_w[ch] or x_k[ch] != x_k[ch]:
                                y_w[ch] = x_k[ch]
                                first_w[ch] = k
                    for ch in range(y_w.size):
                        if y_w[ch] != y_w[ch]:
                            first_w[ch] = last

    @compiled
    def max_pool_backward(dy, first, pool_rows, pool_cols, stride_rows, stride_cols, disjoint, dx):
        # Each window's gradient to its `first` element: dy times a 0/1 share per offset,
        # assigned where windows share no element, added where they overlap.
        for b in range(dy.shape[0]):
            for r in range(dy.shape[1]):
                for q in range(dy.shape[2]):
                    dy_w, first_w = dy[b, r, q], first[b, r, q]
                    top, left = r * stride_rows, q * stride_cols
                    for k in range(pool_rows * pool_cols):
                        dx_k = dx[b, top + k // pool_cols, left + k % pool_cols]
                        for ch in range(dy_w.size):
                            share = dy_w[ch] * (1.0 if first_w[ch] == k else 0.0)
                            if disjoint:
                                dx_k[ch] = share
                            else:
                                dx_k[ch] += share

    @compiled
    def fold_patches(patches, kernel_cols, stride_rows, stride_cols, dilation_rows, dilation_cols, x):
        # patches (window, batch, out_rows, out_cols, channels), window offsets row-major;
        # each offset's block is added into x (batch, rows, cols, channels) where it came from.
        for k in range(patches.shape[0]):
            row_offset, col_offset = (k // kernel_cols) * dilation_rows, (k % kernel_cols) * dilation_cols
            for b in range(patches.shape[1]):
                for r in range(patches.shape[2]):
                    for q in range(patches.shape[3]):
                        source, target = patches[k, b, r, q], x[b, r * stride_rows + row_offset, q * stride_cols + col_offset]
                        for ch in range(source.size):
                            target[ch] += source[ch]

    from deepcore.backends import numba_float32

    return SimpleNamespace(adam=adam, bias_relu=bias_relu, relu_gradient=relu_gradient,
                           lstm_cell_forward_float32=numba_float32.lstm_cell_forward,
                           gru_cell_forward_float32=numba_float32.gru_cell_forward,
                           lstm_gate_inputs=lstm_gate_inputs, lstm_cell_forward=lstm_cell_forward,
                           lstm_cell_backward=lstm_cell_backward, gru_gate_inputs=gru_gate_inputs,
                           gru_cell_forward=gru_cell_forward, gru_cell_output=gru_cell_output,
                           gru_cell_backward=gru_cell_backward, max_pool_forward=max_pool_forward,
                           max_pool_backward=max_pool_backward, fold_patches=fold_patches)
