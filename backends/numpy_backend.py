"""NumPy on the CPU: always available, the reference backend."""

import threading

import numpy as np

from deepcore import host_memory
from deepcore.activations import sigmoid_floor
from deepcore.backend import Backend, Probe, denormal_threshold, patches_from_window_view
from deepcore.backends import numba_kernels


# Adam passes over each element 12 times. In blocks of this many elements, the working set
# (6 arrays of 256 KiB) stays in the L2 cache from one pass to the next: measured on the MLP's
# Adam step (670k float32 weights, one thread), 1.95 ms whole vs 1.33 ms in blocks.
ADAM_BLOCK = 1 << 16

# From this many elements the Adam update and ReLU's backward go to a compiled kernel (when
# Numba is installed): smaller arrays are NumPy's few quick calls, and a small model (the seed
# network) never loads Numba at all.
KERNEL_MIN_SIZE = 1 << 12


class NumpyBackend(Backend):
    name = "numpy"
    priority = 50
    install_hint = "pip install numpy"

    def __init__(self, device=None):
        super().__init__(device)
        self._local = threading.local()  # per-thread work buffers of the fused fast paths

    @classmethod
    def probe(cls) -> Probe:
        return Probe(True, "", ("cpu",))

    def _load(self, device):
        import array_api_compat.numpy as xp

        if device not in (None, "cpu"):
            raise ValueError(f"Backend 'numpy' has only the device 'cpu'; received device={device!r}.")
        host_memory.tune()
        return xp, "cpu"

    def asarray(self, host_array, dtype=None):
        return np.asarray(host_array, dtype=dtype)

    def to_numpy(self, array):
        return np.asarray(array)

    def scatter_add(self, target, indices, values):
        result = target.copy()
        np.add.at(result, indices, values)
        return result

    def take_rows(self, array, index):
        # The ndarray method: a third of the array-API wrapper's cost, twice per training step.
        return array.take(index, axis=0)

    def flat_concat(self, arrays):
        # One call (the portable path's reshape per array costs as much as the concatenation).
        return np.concatenate(arrays, axis=None)

    def extract_patches(self, x, windows, strides, dilations):
        if x.shape[-1] == 1:
            # One channel: the view's copy would move single floats, while the portable
            # per-offset slices copy whole rows (64x28x28x1, 3x3: 0.79 -> 0.34 ms).
            return super().extract_patches(x, windows, strides, dilations)
        # One strided view of every window, then a single copy (the portable path copies once
        # per window offset).
        effective = tuple((w - 1) * d + 1 for w, d in zip(windows, dilations))
        view = np.lib.stride_tricks.sliding_window_view(x, effective, axis=tuple(range(1, len(windows) + 1)))
        view = view[(slice(None), *(slice(None, None, s) for s in strides))]
        return patches_from_window_view(self.xp, view, dilations, x.shape[-1])

    def fold_patches(self, patches, padded_shape, windows, strides, dilations):
        result = np.zeros(padded_shape, dtype=patches.dtype)
        kernels = numba_kernels.for_arrays(patches) if len(windows) <= 2 else None
        if kernels is not None:
            (_, kernel_cols), stride, dilation = _planar(windows), _planar(strides), _planar(dilations)
            planar_patches = patches if len(windows) == 2 else patches[:, :, :, None, :]
            kernels.fold_patches(planar_patches, kernel_cols, *stride, *dilation,
                                 result if len(windows) == 2 else result[:, :, None, :])
            return result
        # In-place adds (the portable path allocates a temporary per window offset).
        from deepcore.layers.conv_utils import offset_slices

        for k, index in enumerate(offset_slices(windows, strides, dilations, patches.shape[2:-1])):
            result[index] += patches[k]
        return result

    def adam_update(self, value, gradient, m, v, alpha, beta_1, beta_2, epsilon, v_hat=None):
        arrays, scalars = (value, gradient, m, v, v_hat), (alpha, beta_1, beta_2, epsilon)
        # (Small updates skip every check: the seed network's step is ~70 us in all.)
        contiguous = value.size >= KERNEL_MIN_SIZE and all(a is None or a.flags.c_contiguous for a in arrays)
        kernels = numba_kernels.for_arrays(*(a for a in arrays if a is not None)) if contiguous else None
        if kernels is not None:
            to_dtype = value.dtype.type
            value, gradient, m, v = (a.reshape(-1) for a in (value, gradient, m, v))
            kernels.adam(value, gradient, m, v, v if v_hat is None else v_hat.reshape(-1), v_hat is not None,
                         to_dtype(alpha), to_dtype(1.0 - beta_1), to_dtype(1.0 - beta_2), to_dtype(epsilon))
            return None
        if value.size <= ADAM_BLOCK or not contiguous:
            return self._adam_block(*arrays, *scalars)
        flat = [None if a is None else a.reshape(-1) for a in arrays]  # views: contiguous arrays
        for start in range(0, value.size, ADAM_BLOCK):
            self._adam_block(*(None if a is None else a[start:start + ADAM_BLOCK] for a in flat), *scalars)

    def _adam_block(self, value, gradient, m, v, v_hat, alpha, beta_1, beta_2, epsilon):
        # The reference formula operation by operation (bit-identical results), each result
        # written into a reused buffer instead of a new array.
        t, u = self._scratch(value)
        np.subtract(gradient, m, out=t)
        t *= 1.0 - beta_1
        m += t
        np.multiply(gradient, gradient, out=t)
        t -= v
        t *= 1.0 - beta_2
        v += t
        if v_hat is not None:
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        np.multiply(m, alpha, out=u)
        np.sqrt(v, out=t)
        t += epsilon
        u /= t
        value -= u

    def lstm_cell(self, z, xw, c):
        kernels = numba_kernels.for_arrays(z, xw, c)
        if kernels is None:
            return None
        batch, units = c.shape
        acts, c_new, one = z, np.empty_like(c), z.dtype.type(1.0)  # the gates' values replace z
        floor = z.dtype.type(sigmoid_floor(self.xp, z.dtype))
        if z.dtype == np.float32:  # one pass, with its own exp and tanh (see numba_float32)
            tanh_c, h = np.empty_like(c), np.empty_like(c)
            kernels.lstm_cell_forward_float32(z, xw, c, floor, c_new, tanh_c, h)
        else:
            # NumPy's SIMD exp and tanh (a compiled loop calls the scalar libm ones, ~10x
            # slower) between compiled passes that gather their inputs and combine their results.
            e, g = np.empty((batch, 3 * units), dtype=z.dtype), np.empty_like(c)
            kernels.lstm_gate_inputs(z, xw, floor, e, g)
            np.exp(e, out=e)
            np.tanh(g, out=g)
            kernels.lstm_cell_forward(e, g, c, acts, c_new, one)
            tanh_c = np.tanh(c_new)
            h = acts[:, 3 * units:] * tanh_c

        def backprop(dh, dc_new, dz):
            dc = np.empty_like(c)
            kernels.lstm_cell_backward(acts, c, tanh_c, dh, dc_new, dz, dc, one)
            return dc

        return h, c_new, backprop

    def gru_cell(self, xw, inner, h):
        kernels = numba_kernels.for_arrays(xw, inner, h)
        if kernels is None:
            return None
        batch, units = h.shape
        one, floor = h.dtype.type(1.0), h.dtype.type(sigmoid_floor(self.xp, h.dtype))
        zr, hh, h_new = np.empty((batch, 2 * units), dtype=h.dtype), np.empty_like(h), np.empty_like(h)
        if h.dtype == np.float32:  # one pass, with its own exp and tanh (see numba_float32)
            kernels.gru_cell_forward_float32(xw, inner, h, floor, zr, hh, h_new)
        else:  # as `lstm_cell`: NumPy's SIMD exp and tanh between compiled passes
            e = np.empty_like(zr)
            kernels.gru_gate_inputs(xw, inner, floor, e)
            np.exp(e, out=e)
            kernels.gru_cell_forward(e, xw, inner, zr, hh, one)
            np.tanh(hh, out=hh)
            kernels.gru_cell_output(zr, hh, h, h_new, one)

        def backprop(dh, dxw):
            dinner, dh_kept = np.empty_like(xw), np.empty_like(h)
            kernels.gru_cell_backward(zr, hh, h, inner, dh, dxw, dinner, dh_kept, one)
            return dinner, dh_kept

        return h_new, backprop

    def bias_relu(self, z, bias):
        kernels = None
        if bias is not None and z.size >= KERNEL_MIN_SIZE and z.flags.c_contiguous:
            kernels = numba_kernels.for_arrays(z, bias)
        if kernels is None:
            if bias is not None:
                z += bias
            return np.maximum(z, 0.0, out=z)  # in place: no new array
        kernels.bias_relu(z.reshape(-1, bias.shape[0]), bias, z.dtype.type(0.0))
        return z

    def relu_gradient(self, dy, x):
        kernels = None
        if dy.size >= KERNEL_MIN_SIZE and dy.shape == x.shape and dy.flags.c_contiguous and x.flags.c_contiguous:
            kernels = numba_kernels.for_arrays(dy, x)
        if kernels is None:
            # The portable formula, with the ndarray's astype: array-api-compat's costs 1.3 us
            # more, twice per step of the seed network.
            return dy * (x > 0).astype(dy.dtype)
        dx = np.empty_like(dy)
        to_dtype = dy.dtype.type
        kernels.relu_gradient(dy.reshape(-1), x.reshape(-1), dx.reshape(-1), to_dtype(1.0), to_dtype(0.0))
        return dx

    def max_pool(self, x, pool_size, strides):
        kernels = numba_kernels.for_arrays(x) if len(pool_size) <= 2 else None
        if kernels is None:
            return None
        x4 = x if len(pool_size) == 2 else x[:, :, None, :]
        (pool_rows, pool_cols), (stride_rows, stride_cols) = _planar(pool_size), _planar(strides)
        if pool_rows * pool_cols > 256:  # offsets are kept in one byte
            return None
        batch, rows, cols, channels = x4.shape
        out = (batch, (rows - pool_rows) // stride_rows + 1, (cols - pool_cols) // stride_cols + 1, channels)
        y, first = np.empty(out, dtype=x.dtype), np.empty(out, dtype=np.uint8)
        kernels.max_pool_forward(x4, pool_rows, pool_cols, stride_rows, stride_cols, y, first)
        disjoint = stride_rows >= pool_rows and stride_cols >= pool_cols
        # Disjoint windows that also cover x assign every element of dx: no zeros needed.
        tiled = (stride_rows, stride_cols) == (pool_rows, pool_cols) and rows % pool_rows == 0 and cols % pool_cols == 0

        def backprop(dy):
            dx = (np.empty if tiled else np.zeros)(x4.shape, dtype=x.dtype)
            kernels.max_pool_backward(dy.reshape(out), first, pool_rows, pool_cols, stride_rows, stride_cols,
                                      disjoint, dx)
            return dx.reshape(x.shape)

        return (y if len(pool_size) == 2 else y[:, :, 0, :]), backprop

    def flush_denormals(self, arrays):
        for a in arrays:
            np.copyto(a, 0, where=np.abs(a) < denormal_threshold(np.finfo(a.dtype)))

    def _scratch(self, like: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two work arrays shaped like ``like``: views of this thread's buffers, which grow to
        the largest size asked for; the views are cached per shape (no allocation per step)."""
        local = self._local.__dict__
        views = local.setdefault("views", {})
        key = (like.shape, like.dtype)
        pair = views.get(key)
        if pair is None:
            buffers = local.setdefault("buffers", {}).get(like.dtype)
            if buffers is None or buffers.shape[1] < like.size:
                buffers = local["buffers"][like.dtype] = np.empty((2, like.size), like.dtype)
                views.clear()  # let the outgrown buffer go
            pair = views[key] = (buffers[0, :like.size].reshape(like.shape),
                                 buffers[1, :like.size].reshape(like.shape))
        return pair

    def describe(self):
        from threadpoolctl import threadpool_info

        blas = [f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
                for i in threadpool_info() if i["user_api"] == "blas"]
        return {**super().describe(), "numpy": np.__version__, "blas": blas, "host_allocator": host_memory.tune(),
                "compiled_kernels": numba_kernels.status()}


def _planar(values: tuple) -> tuple:
    """Window arithmetic of 1 or 2 spatial axes as 2-D: the compiled kernels see a 1-D input
    ``(batch, steps, C)`` as ``(batch, steps, 1, C)``."""
    return tuple(values) if len(values) == 2 else (values[0], 1)
