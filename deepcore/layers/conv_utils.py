"""Window arithmetic shared by the convolution and pooling layers, for any number of spatial axes.

Inputs are ``channels_last``: ``(batch, *spatial, channels)``. The standard has no strided views
and no convolution, so windows are gathered with strided slices, one slice per window offset:
`gather_windows` stacks them into ``(batch, *out_spatial, window_size, channels)``, and
`scatter_windows` adds each offset's block back through its slice (the backward of
convolution). `extract_patches` and `fold_patches` go through the backend, whose adapter may
replace them with faster equivalents (NumPy: one strided view and one copy; in-place adds).
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

from deepcore.backend import array_device, array_namespace
from deepcore.registry import get_backend

Padding = tuple[tuple[int, int], ...]  # (before, after) per spatial axis


def normalize_tuple(value: Any, rank: int, name: str) -> tuple[int, ...]:
    """An int or a sequence of ``rank`` positive ints -> a tuple of ``rank`` ints."""
    values = (value,) * rank if isinstance(value, int) else tuple(value)
    positive = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)
    if len(values) != rank or not positive:
        raise ValueError(
            f"{name} must be a positive integer or a tuple of {rank} positive integers. "
            f"Received: {name}={value!r}"
        )
    return values


def normalize_padding(padding: str, allowed: Sequence[str] = ("valid", "same")) -> str:
    """``"SAME"`` -> ``"same"``; an error for a mode not in ``allowed``."""
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in allowed:
        raise ValueError(f"padding must be one of {list(allowed)}. Received: padding={padding!r}")
    return mode


def check_data_format(data_format: str | None) -> None:
    """Only channels_last (Keras's default) is implemented."""
    if data_format not in (None, "channels_last"):
        raise ValueError(
            "deepcore's convolution and pooling layers take channels_last inputs (batch, ..., "
            f"channels). Received: data_format={data_format!r}; transpose the data to channels_last."
        )


def window_arguments(layer: Any, rank: int, kernel_size: Any, strides: Any, dilation_rate: Any, padding: str,
                     data_format: str | None, paddings: Sequence[str] = ("valid", "same")) -> None:
    """Check Keras's convolution arguments and set them on ``layer`` as tuples (``kernel_size``,
    ``strides``, ``dilation_rate``) and a lower-case ``padding``."""
    check_data_format(data_format)
    layer.kernel_size = normalize_tuple(kernel_size, rank, "kernel_size")
    layer.strides = normalize_tuple(strides, rank, "strides")
    layer.dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate")
    if max(layer.strides) > 1 and max(layer.dilation_rate) > 1:
        raise ValueError(
            f"{type(layer).__name__}: strides > 1 together with dilation_rate > 1 is not supported (as in Keras). "
            f"Received: strides={layer.strides}, dilation_rate={layer.dilation_rate}"
        )
    layer.padding = normalize_padding(padding, paddings)


def window_config(layer: Any) -> dict:
    """The config entries `window_arguments` set, and ``filters``, as Keras writes them."""
    return {"filters": layer.filters, "kernel_size": list(layer.kernel_size), "strides": list(layer.strides),
            "padding": layer.padding, "dilation_rate": list(layer.dilation_rate)}


def output_length(length: int | None, window: int, stride: int, dilation: int, padding: str) -> int | None:
    """Output length along one axis, Keras's rule: ``same`` -> ceil(L / s);
    ``valid`` -> floor((L - effective window) / s) + 1; ``causal`` keeps ``same``'s length."""
    if length is None:
        return None
    if padding in ("same", "causal"):
        return -(-length // stride)
    effective = (window - 1) * dilation + 1
    return max((length - effective) // stride + 1, 0)


def output_shape(input_shape: tuple, windows: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int], padding: str, channels: int | None, layer: str) -> tuple:
    """``(batch, *spatial, C) -> (batch, *out_spatial, channels)``; an error when a window
    does not fit the input."""
    spatial = tuple(
        output_length(n, w, s, d, padding)
        for n, w, s, d in zip(input_shape[1:-1], windows, strides, dilations)
    )
    if any(n == 0 for n in spatial):
        raise ValueError(
            f"Layer {layer!r}: the window {tuple(windows)} (dilation {tuple(dilations)}) does not fit "
            f"the input of shape {tuple(input_shape)} with padding={padding!r}; use padding='same' "
            "or a smaller window."
        )
    return (input_shape[0], *spatial, channels)


def padding_amounts(lengths: Sequence[int], windows: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int], padding: str) -> Padding:
    """(before, after) per axis. ``same`` puts the odd element after, as TensorFlow/Keras;
    ``causal`` pads only before, by the effective window minus one."""
    amounts = []
    for length, window, stride, dilation in zip(lengths, windows, strides, dilations):
        effective = (window - 1) * dilation + 1
        if padding == "valid":
            amounts.append((0, 0))
        elif padding == "causal":
            amounts.append((effective - 1, 0))
        else:
            out = -(-length // stride)
            total = max((out - 1) * stride + effective - length, 0)
            amounts.append((total // 2, total - total // 2))
    return tuple(amounts)


def pad(x: Any, amounts: Padding, value: float = 0.0) -> Any:
    """Pad the spatial axes of ``(batch, *spatial, channels)`` with ``value``."""
    if all(before == 0 and after == 0 for before, after in amounts):
        return x
    xp = array_namespace(x)
    spatial = x.shape[1:-1]
    shape = (x.shape[0], *(n + b + a for n, (b, a) in zip(spatial, amounts)), x.shape[-1])
    padded = xp.full(shape, value, dtype=x.dtype, device=array_device(x))
    padded[_interior(spatial, amounts)] = x
    return padded


def crop(x: Any, amounts: Padding) -> Any:
    """The inverse of `pad`: drop ``amounts`` from the spatial axes."""
    if all(before == 0 and after == 0 for before, after in amounts):
        return x
    spatial = tuple(n - b - a for n, (b, a) in zip(x.shape[1:-1], amounts))
    return x[_interior(spatial, amounts)]


def _interior(spatial: Sequence[int], amounts: Padding) -> tuple:
    return (slice(None), *(slice(b, b + n) for n, (b, _) in zip(spatial, amounts)), slice(None))


def offset_slices(windows: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
                  out_spatial: Sequence[int]) -> list[tuple]:
    """For every window offset (row-major, as Keras's kernel axes), the index of the input
    elements it meets across all output positions."""
    slices = []
    for offset in itertools.product(*(range(w) for w in windows)):
        index = [slice(None)]
        for o, stride, dilation, out in zip(offset, strides, dilations, out_spatial):
            start = o * dilation
            index.append(slice(start, start + (out - 1) * stride + 1, stride))
        index.append(slice(None))
        slices.append(tuple(index))
    return slices


def extract_patches(x_padded: Any, windows: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int]) -> Any:
    """``(batch, *padded_spatial, C) -> (batch, *out_spatial, prod(windows), C)``: every window,
    through the active backend (a fast path where it has one, else `gather_windows`)."""
    return get_backend().extract_patches(x_padded, tuple(windows), tuple(strides), tuple(dilations))


def gather_windows(x_padded: Any, windows: Sequence[int], strides: Sequence[int],
                   dilations: Sequence[int]) -> Any:
    """The portable `extract_patches`: one strided slice per window offset, stacked."""
    xp = array_namespace(x_padded)
    out_spatial = [
        output_length(n, w, s, d, "valid")
        for n, w, s, d in zip(x_padded.shape[1:-1], windows, strides, dilations)
    ]
    slices = offset_slices(windows, strides, dilations, out_spatial)
    return xp.stack([x_padded[index] for index in slices], axis=-2)


def fold_patches(patches: Any, padded_shape: tuple, windows: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int]) -> Any:
    """Transpose of `extract_patches`: sum every window back where it came from.

    ``(prod(windows), batch, *out_spatial, C) -> padded_shape``, window offset first (so each
    offset's share is one contiguous block); overlapping windows accumulate. Through the active
    backend (a fast path where it has one, else `scatter_windows`).
    """
    return get_backend().fold_patches(patches, tuple(padded_shape), tuple(windows), tuple(strides),
                                      tuple(dilations))


def scatter_windows(patches: Any, padded_shape: tuple, windows: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int]) -> Any:
    """The portable `fold_patches`: each window offset's block added back through its strided
    slice."""
    xp = array_namespace(patches)
    result = xp.zeros(padded_shape, dtype=patches.dtype, device=array_device(patches))
    for k, index in enumerate(offset_slices(windows, strides, dilations, patches.shape[2:-1])):
        result[index] = result[index] + patches[k, ...]
    return result


def window_rows(x: Any, windows: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
                padding: str) -> tuple[Any, Any]:
    """A convolution's left operand: ``x (batch, *spatial, C)`` padded and cut into windows,
    one row per output position, ``(batch * prod(out_spatial), prod(windows) * C)`` (the
    row order of a Keras kernel ``(*windows, C, filters)`` reshaped to 2-D). Returns the rows
    and ``backprop(drows) -> dx``, which folds the windows back."""
    xp = array_namespace(x)
    amounts = padding_amounts(x.shape[1:-1], windows, strides, dilations, padding)
    padded = pad(x, amounts)
    patches = extract_patches(padded, windows, strides, dilations)  # (batch, *out, window, C)
    shape = tuple(patches.shape)
    positions = 1
    for n in shape[:-2]:
        positions *= n
    rows = xp.reshape(patches, (positions, shape[-2] * shape[-1]))

    def backprop(drows):
        rank = len(shape) - 3
        by_offset = xp.permute_dims(xp.reshape(drows, shape), (rank + 1, *range(rank + 1), rank + 2))
        return crop(fold_patches(by_offset, padded.shape, windows, strides, dilations), amounts)

    return rows, backprop
