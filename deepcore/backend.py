"""The backend protocol: what every backend adapter offers.

A `Backend` bundles an array-API namespace (`xp`), a device and the few things the standard
does not define: host<->device transfer, synchronisation, random numbers and scatter-add.
Everything here is written once against the standard; an adapter in `deepcore.backends`
overrides only what its library can do better (thinc's `Ops` pattern).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import numpy as np

from deepcore import config
from deepcore import random as host_random


@dataclass(frozen=True)
class Probe:
    """Whether a backend can be used here, and if not, why."""

    available: bool
    reason: str = ""
    devices: tuple = field(default_factory=tuple)


class BackendUnavailableError(RuntimeError):
    """The requested backend is known but cannot be used on this machine."""


class Backend:
    """Base class of every backend.

    Subclasses set `name`, `priority` (higher is preferred by `available_backends`),
    `install_hint`, and implement `probe()` and `_load(device)`.
    """

    name: str = ""
    priority: int = 0
    install_hint: str = ""

    def __init__(self, device: Any = None):
        self.xp, self.device = self._load(device)

    # --- to be provided by adapters -------------------------------------------------
    @classmethod
    def probe(cls) -> Probe:
        """Check, without side effects beyond importing, whether this backend is usable."""
        raise NotImplementedError

    def _load(self, device: Any) -> tuple[Any, Any]:
        """Return the array-API namespace and the resolved device object."""
        raise NotImplementedError

    def activate(self) -> None:
        """Make this backend's device current (a no-op where devices are explicit)."""

    # --- transfer ---------------------------------------------------------------------
    def asarray(self, host_array: Any, dtype: Any = None) -> Any:
        """Host (NumPy, list, scalar) -> an array on this backend's device."""
        return self.xp.asarray(host_array, dtype=dtype, device=self.device)

    def to_numpy(self, array: Any) -> np.ndarray:
        """An array of this backend -> a NumPy array on the host."""
        return np.asarray(array)

    def synchronize(self) -> None:
        """Wait until queued device work has finished (no-op on synchronous backends)."""

    def is_native(self, array: Any) -> bool:
        """True when ``array`` already belongs to this backend's array library."""
        return array_api_compat.is_array_api_obj(array) and array_namespace(array) is self.xp

    # --- dtypes and creation ------------------------------------------------------------
    def dtype(self, name: str | None = None) -> Any:
        """The namespace's dtype object for ``name`` (default: `floatx()`)."""
        return getattr(self.xp, name or config.floatx())

    def zeros(self, shape: tuple, dtype: Any = None) -> Any:
        return self.xp.zeros(shape, dtype=dtype or self.dtype(), device=self.device)

    # --- random numbers (host-drawn by default: identical on every backend) -----------
    def random_bernoulli(self, shape: tuple, p: float, dtype: Any = None, generator: Any = None) -> Any:
        """An array of 0/1 values, 1 with probability ``p`` (from ``generator`` if given)."""
        return self.asarray(host_random.bernoulli(shape, p, generator), dtype=dtype or self.dtype())

    def random_normal(self, shape: tuple, stddev: float, dtype: Any = None, generator: Any = None) -> Any:
        """Zero-mean normal noise of standard deviation ``stddev`` (from ``generator`` if given)."""
        return self.asarray(host_random.gaussian(shape, stddev, generator), dtype=dtype or self.dtype())

    def random_uniform(self, shape: tuple, low: float, high: float, dtype: Any = None, generator: Any = None) -> Any:
        """Uniform draws in ``[low, high)`` (from ``generator`` if given)."""
        return self.asarray(host_random.uniform_draws(shape, low, high, generator), dtype=dtype or self.dtype())

    def random_permutation(self, n: int) -> Any:
        return self.asarray(host_random.permutation(n), dtype=self.xp.int64)

    # --- what the standard lacks ----------------------------------------------------------
    def scatter_add(self, target: Any, indices: Any, values: Any) -> Any:
        """``target[indices[i]] += values[i]`` along axis 0, accumulating repeated indices.

        The portable fallback is a one-hot matmul: exact, and O(n * rows) memory.
        """
        xp = self.xp
        one_hot = xp.astype(
            xp.reshape(indices, (-1, 1)) == xp.arange(target.shape[0], device=self.device),
            values.dtype,
        )
        flat = xp.reshape(values, (one_hot.shape[0], -1))
        return target + xp.reshape(one_hot.T @ flat, target.shape)

    def extract_patches(self, x: Any, windows: tuple, strides: tuple, dilations: tuple) -> Any:
        """Every window of ``x (batch, *spatial, C)`` -> ``(batch, *out, prod(windows), C)``,
        window offsets in row-major order: the im2col of convolution.

        The portable path gathers one strided slice per window offset (no padding here).
        """
        from deepcore.layers.conv_utils import gather_windows

        return gather_windows(x, windows, strides, dilations)

    def fold_patches(self, patches: Any, padded_shape: tuple, windows: tuple, strides: tuple,
                     dilations: tuple) -> Any:
        """The transpose of `extract_patches`, window offset first:
        ``(prod(windows), batch, *out, C) -> padded_shape``, every window summed back where it
        came from (the backward of convolution).

        The portable path adds one strided slice per window offset into zeros.
        """
        from deepcore.layers.conv_utils import scatter_windows

        return scatter_windows(patches, padded_shape, windows, strides, dilations)

    def take_rows(self, array: Any, index: Any) -> Any:
        """``array[index]`` along axis 0 for a 1-D integer ``index`` (a shuffled batch)."""
        return self.xp.take(array, index, axis=0)

    def flat_concat(self, arrays: list) -> Any:
        """Arrays of one dtype -> one 1-D array of all their elements, array after array
        (row-major within each)."""
        xp = self.xp
        return xp.concat([xp.reshape(a, (-1,)) for a in arrays])

    def argmax(self, x: Any, axis: int) -> Any:
        """Index of the first maximum along ``axis`` (global max pooling's backward)."""
        return self.xp.argmax(x, axis=axis)

    # --- fused fast paths: the portable reference, overridden by adapters ---------------------
    def bias_relu(self, z: Any, bias: Any) -> Any:
        """``max(z + bias, 0)`` (``bias`` None: ``max(z, 0)``) for a layer's own new ``z
        (..., units)`` with ``bias (units,)``; ``z`` may be overwritten (and returned)."""
        if bias is not None:
            z += bias
        return self.xp.maximum(z, 0.0)

    def relu_gradient(self, dy: Any, x: Any) -> Any:
        """The ReLU's backward: ``dy`` where ``x > 0``, else 0 (``dy`` times the 0/1 mask, so a
        masked negative ``dy`` gives -0.0 and a masked NaN stays NaN); a new array."""
        return dy * self.xp.astype(x > 0, dy.dtype)

    def gru_cell(self, xw: Any, inner: Any, h: Any) -> tuple[Any, Any] | None:
        """The GRU cell (``reset_after=True``) after its matmuls, fused, for Keras's default
        activations: ``xw (batch, 3 * units)`` is ``x_t W + b`` and ``inner`` ``h U + b'`` (this
        call may overwrite it), gates in the order z, r, h; ``h (batch, units)``.

        Returns ``(h_new, backprop)`` with ``z, r = sigmoid(xw_{z,r} + inner_{z,r})``, ``hh =
        tanh(xw_h + r * inner_h)`` and ``h_new = z * h + (1 - z) * hh``; ``backprop(dh, dxw)``
        writes the gradient of ``xw`` into ``dxw (batch, 3 * units)`` and returns that of
        ``inner`` and ``dh * z`` (the part of h's gradient that skips the matmul). Or None: the
        portable code has no fused cell, and `GRU` composes its activations (the reference).
        """
        return None

    def max_pool(self, x: Any, pool_size: tuple, strides: tuple) -> tuple[Any, Any] | None:
        """Max pooling fused into one pass: ``x (batch, *spatial, C)``, already padded, ->
        ``(y, backprop)`` with ``y (batch, *out, C)`` the windows' maxima (NaN if any element
        is) and ``backprop(dy) -> dx`` of ``x``'s shape sending each window's gradient to its
        first maximum in row-major window order (to its last element when none equals the
        maximum, i.e. for NaN). Or None: `MaxPooling` then reduces the window offsets' strided
        slices itself (the reference)."""
        return None

    def lstm_cell(self, z: Any, xw: Any, c: Any) -> tuple[Any, Any, Any] | None:
        """The LSTM cell after its matmuls, fused, for Keras's default activations: the gate
        pre-activations ``z + xw`` (``(batch, 4 * units)``, gates in the order i, f, c, o) are
        ``z = h @ recurrent_kernel`` (this call may overwrite it) plus the step's input
        projection and bias ``xw``; ``c (batch, units)`` is the previous cell state.

        Returns ``(h, c_new, backprop)`` with ``i, f, o = sigmoid(z_i, z_f, z_o)``, ``g =
        tanh(z_c)``, ``c_new = f * c + i * g`` and ``h = o * tanh(c_new)``; ``backprop(dh,
        dc_new, dz)`` writes the gradient of ``z`` into ``dz (batch, 4 * units)`` and returns
        that of ``c``. Or None: the portable code has no fused cell, and `LSTM` composes its
        activations (the reference a fused cell is tested against: bit for bit, or, for a cell
        with its own exp and tanh, as close to the exact values).
        """
        return None

    def adam_update(self, value: Any, gradient: Any, m: Any, v: Any, alpha: float, beta_1: float,
                    beta_2: float, epsilon: float, v_hat: Any = None) -> None:
        """One Adam step, in place, in Keras 3's formula and order of operations:

        m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2);
        v_hat = max(v_hat, v) when ``v_hat`` is given (AMSGrad), and then used for v;
        value -= (m * alpha) / (sqrt(v) + epsilon).

        All arrays have ``value``'s shape; ``alpha`` is the bias-corrected learning rate.
        """
        xp = array_namespace(value)
        m += (gradient - m) * (1.0 - beta_1)
        v += (gradient * gradient - v) * (1.0 - beta_2)
        if v_hat is not None:
            v_hat[...] = xp.maximum(v_hat, v)
            v = v_hat
        value -= (m * alpha) / (xp.sqrt(v) + epsilon)

    def flush_denormals(self, arrays: list) -> None:
        """Set, in place, every entry with magnitude below `denormal_threshold` to 0."""
        for a in arrays:
            xp = array_namespace(a)
            a[...] = xp.where(xp.abs(a) < denormal_threshold(xp.finfo(a.dtype)), 0.0, a)

    def make_collectives(self, comm: Any) -> Any:
        """The engine that sums gradients across the ranks of ``comm`` (MPI through the host)."""
        from deepcore.distribution.collectives import MPICollectives

        return MPICollectives(comm, self)

    def describe(self) -> dict:
        """Facts about this backend for `deepcore info` and reports."""
        return {"name": self.name, "device": str(self.device)}

    def __repr__(self) -> str:
        return f"<Backend {self.name} device={self.device}>"


def patches_from_window_view(xp: Any, view: Any, dilations: tuple, channels: int) -> Any:
    """For adapters whose library makes strided window views (NumPy's sliding_window_view,
    torch's unfold): ``(batch, *out, C, *effective window)`` -> the `Backend.extract_patches`
    layout ``(batch, *out, prod(windows), C)``, taking every ``dilation``-th window element."""
    rank = len(dilations)
    view = view[(..., *(slice(None, None, d) for d in dilations))]
    channels_last = (*range(rank + 1), *range(rank + 2, 2 * rank + 2), rank + 1)
    patches = xp.permute_dims(view, channels_last)
    return xp.reshape(patches, (*patches.shape[:rank + 1], -1, channels))


def denormal_threshold(finfo: Any) -> float:
    """``smallest_normal / eps`` of a float type (9.9e-32 for float32, 2.0e-292 for float64):
    below it a number, or its product with any factor >= eps, is (or may be) denormal, and
    arithmetic on denormals is up to ~15x slower on x86 CPUs."""
    return float(finfo.smallest_normal) / float(finfo.eps)


_namespace_by_type: dict[type, Any] = {}


def array_namespace(array: Any) -> Any:
    """The array-API namespace of ``array``, cached by type (this sits on the hot path)."""
    kind = type(array)
    xp = _namespace_by_type.get(kind)
    if xp is None:
        xp = array_api_compat.array_namespace(array)
        _namespace_by_type[kind] = xp
    return xp


def array_device(array: Any) -> Any:
    """``array_api_compat.device(array)``, the device to create arrays next to ``array``. A
    NumPy array answers "cpu" at once: the helper's type checks cost ~1.5 us, three times per
    step of the seed network (every bias gradient)."""
    return "cpu" if type(array) is np.ndarray else array_api_compat.device(array)
