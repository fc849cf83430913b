"""Random image augmentations for training, as Keras: `RandomFlip`, `RandomRotation`,
`RandomTranslation`, `RandomZoom`, `RandomCrop`, `RandomContrast` and `RandomBrightness`; each
is the identity at inference (`RandomCrop`: a centred crop and resize).

Images are ``(batch, rows, cols, channels)``. Draws come from the host generator (or the
layer's own with ``seed``), so every backend transforms the same images the same way. The
rotation, translation and zoom are affine maps sampled as Keras 3 does (`affine_transform`):
the output pixel at column ``u``, row ``v`` reads the input at column ``a0 u + a1 v + a2``,
row ``b0 u + b1 v + b2``, bilinearly (or from the nearest pixel, ``floor(x + 0.5)``), points
outside the image taken by ``fill_mode``: ``"reflect"`` (d c b a | a b c d | d c b a),
``"wrap"`` (a b c d | a b c d), ``"nearest"`` (a a | a b c d | d d) or ``"constant"``
(``fill_value``). The output is linear in the input: the backward adds each output gradient
back to the pixels it was read from, with the same weights.
"""

from __future__ import annotations

import itertools
import math

from deepcore import random as host_random
from deepcore.backend import array_device, array_namespace
from deepcore.layers import conv_utils
from deepcore.layers.base import Layer
from deepcore.layers.image_preprocessing import check_images, check_size, resize, sized_output_shape
from deepcore.registry import get_backend

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def _taps(xp, coordinate, interpolation: str):
    """``[(index, weight), ...]`` along one axis: the floor and the next index with linear
    weights, or the nearest index with weight 1 (index as float arrays)."""
    if interpolation == "nearest":
        return [(xp.floor(coordinate + 0.5), xp.ones_like(coordinate))]
    lower = xp.floor(coordinate)
    upper_weight = coordinate - lower
    return [(lower, 1.0 - upper_weight), (lower + 1.0, upper_weight)]


def _fix_index(xp, index, size: int, fill_mode: str):
    """Integer indices outside ``[0, size)`` mapped inside by ``fill_mode`` (``constant``:
    clipped; the caller gives those taps the fill value instead)."""
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "reflect":
        # The triangular wave of period 2 * size over the doubled grid: ... 1 0 | 0 1 ... n-1 | n-1 ...
        period = 2 * size
        folded = (2 * index + 1) % (2 * period)
        return (period - xp.abs(folded - period) - 1) // 2
    return xp.clip(index, 0, size - 1)


def affine_transform(x, transform, interpolation: str, fill_mode: str, fill_value: float):
    """``x (batch, rows, cols, C)``, ``transform (batch, 6)`` of ``[a0, a1, a2, b0, b1, b2]`` per
    image -> ``(y, backprop)``, both ``(batch, rows, cols, C)`` (see the module docstring)."""
    xp = array_namespace(x)
    batch, rows, cols, channels = x.shape
    device = array_device(x)
    v = xp.reshape(xp.arange(rows, dtype=x.dtype, device=device), (1, rows, 1))
    u = xp.reshape(xp.arange(cols, dtype=x.dtype, device=device), (1, 1, cols))
    a0, a1, a2, b0, b1, b2 = (xp.reshape(transform[:, k], (batch, 1, 1)) for k in range(6))
    source_rows, source_cols = b0 * u + b1 * v + b2, a0 * u + a1 * v + a2  # (batch, rows, cols)
    image = xp.reshape(xp.arange(batch, device=device), (batch, 1, 1)) * (rows * cols)
    pixels = batch * rows * cols
    indices, weights = [], []
    fill_weight = 0.0
    for (r, row_weight), (c, col_weight) in itertools.product(_taps(xp, source_rows, interpolation),
                                                             _taps(xp, source_cols, interpolation)):
        r, c = xp.astype(r, xp.int64), xp.astype(c, xp.int64)
        weight = row_weight * col_weight
        if fill_mode == "constant":
            inside = xp.astype((r >= 0) & (r < rows) & (c >= 0) & (c < cols), x.dtype)
            fill_weight = fill_weight + weight * (1.0 - inside)
            weight = weight * inside
        fixed = image + _fix_index(xp, r, rows, fill_mode) * cols + _fix_index(xp, c, cols, fill_mode)
        indices.append(xp.reshape(fixed, (pixels,)))
        weights.append(xp.reshape(weight, (pixels, 1)))
    flat = xp.reshape(x, (pixels, channels))
    y = sum(w * xp.take(flat, index, axis=0) for index, w in zip(indices, weights))
    if fill_mode == "constant" and fill_value:
        y = y + xp.reshape(fill_weight, (pixels, 1)) * fill_value

    def backprop(dy):
        flat_dy = xp.reshape(dy, (pixels, channels))
        values = xp.concat([w * flat_dy for w in weights], axis=0)
        dx = get_backend().scatter_add(xp.zeros_like(flat), xp.concat(indices, axis=0), values)
        return xp.reshape(dx, x.shape)

    return xp.reshape(y, x.shape), backprop


def _factor_range(layer: str, name: str, factor, bound: float | None = 1.0) -> tuple[float, float]:
    """Keras's factors: a number f means [-|f|, |f|], a pair (low, high) that range; with
    ``bound``, each value must lie in [-bound, bound]."""
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        low, high = -abs(factor), abs(factor)
    elif isinstance(factor, (tuple, list)) and len(factor) == 2:
        low, high = sorted(float(f) for f in factor)
    else:
        raise ValueError(f"{layer}: {name} must be a number or a pair of numbers. Received: {name}={factor!r}")
    if bound is not None and not -bound <= low <= high <= bound:
        raise ValueError(f"{layer}: {name} must lie in [-{bound}, {bound}]. Received: {name}={factor!r}")
    return float(low), float(high)


class ImageAugmentation(Layer):
    """What the random augmentations share: ``(batch, rows, cols, channels)`` images, their own
    generator with ``seed`` (else the host's), `augment` in training and `infer` (the identity
    unless a subclass says otherwise) at inference."""

    def __init__(self, seed: int | None = None, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        conv_utils.check_data_format(data_format)
        self.seed = seed
        self._generator = host_random.generator(seed) if seed is not None else None

    def uniform(self, shape: tuple, low: float, high: float, like):
        """Draws in ``[low, high)`` of ``shape``, in ``like``'s dtype, on the active backend."""
        return get_backend().random_uniform(shape, low, high, dtype=like.dtype, generator=self._generator)

    def augment(self, x) -> tuple:
        """``x -> (y, backprop)`` in training."""
        raise NotImplementedError

    def infer(self, x) -> tuple:
        """``x -> (y, backprop)`` at inference."""
        return x, lambda dy: dy

    def forward(self, x, training=False):
        check_images(self, x.shape)
        return self.augment(x) if training else self.infer(x)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class AffineAugmentation(ImageAugmentation):
    """What RandomRotation, RandomTranslation and RandomZoom share: the sampling options.
    Subclasses give each image's transform."""

    def __init__(self, fill_mode: str = "reflect", interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None, **kwargs):
        super().__init__(seed, data_format, **kwargs)
        name = type(self).__name__
        if fill_mode not in FILL_MODES:
            raise ValueError(f"{name}: fill_mode must be one of {list(FILL_MODES)}. Received: fill_mode={fill_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{name}: interpolation must be one of {list(INTERPOLATIONS)}. "
                             f"Received: interpolation={interpolation!r}")
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def transforms(self, x):
        """``(batch, 6)``: each image's ``[a0, a1, a2, b0, b1, b2]``."""
        raise NotImplementedError

    def augment(self, x):
        return affine_transform(x, self.transforms(x), self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class RandomRotation(AffineAugmentation):
    """Rotates each training image about its centre by an angle drawn from ``factor * 2 pi``
    (a number f: [-f, f]; a pair: that range), counter-clockwise for positive angles."""

    def __init__(self, factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, data_format: str | None = None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = factor
        self.low, self.high = _factor_range("RandomRotation", "factor", factor, bound=None)

    def transforms(self, x):
        xp = array_namespace(x)
        batch, rows, cols = x.shape[0], x.shape[1], x.shape[2]
        angle = self.uniform((batch,), self.low * 2.0 * math.pi, self.high * 2.0 * math.pi, x)
        cos, sin = xp.cos(angle), xp.sin(angle)
        # The centre ((cols - 1) / 2, (rows - 1) / 2) maps to itself (Keras's offsets).
        x_offset = ((cols - 1) - (cos * (cols - 1) - sin * (rows - 1))) / 2.0
        y_offset = ((rows - 1) - (sin * (cols - 1) + cos * (rows - 1))) / 2.0
        return xp.stack([cos, -sin, x_offset, sin, cos, y_offset], axis=1)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomTranslation(AffineAugmentation):
    """Shifts each training image by ``height_factor * rows`` rows and ``width_factor * cols``
    columns, drawn per image (a number f: [-f, f]; a pair: that range; within [-1, 1])."""

    def __init__(self, height_factor, width_factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, data_format: str | None = None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _factor_range("RandomTranslation", "height_factor", height_factor)
        self.width_range = _factor_range("RandomTranslation", "width_factor", width_factor)

    def transforms(self, x):
        xp = array_namespace(x)
        batch, rows, cols = x.shape[0], x.shape[1], x.shape[2]
        down = self.uniform((batch,), *self.height_range, x) * rows
        right = self.uniform((batch,), *self.width_range, x) * cols
        ones, zeros = xp.ones_like(down), xp.zeros_like(down)
        return xp.stack([ones, zeros, -right, zeros, ones, -down], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomZoom(AffineAugmentation):
    """Zooms each training image about its centre: each axis samples ``1 + factor`` times the
    image's extent (a positive factor zooms out, a negative one in), drawn per image from
    ``height_factor`` (a number f: [-f, f]; a pair: that range; within [-1, 1]) and from
    ``width_factor``, or with the height's draw when ``width_factor`` is None (keeping the
    aspect ratio)."""

    def __init__(self, height_factor, width_factor=None, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, data_format: str | None = None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _factor_range("RandomZoom", "height_factor", height_factor)
        self.width_range = None if width_factor is None else _factor_range("RandomZoom", "width_factor", width_factor)

    def transforms(self, x):
        xp = array_namespace(x)
        batch, rows, cols = x.shape[0], x.shape[1], x.shape[2]
        zoom_rows = 1.0 + self.uniform((batch,), *self.height_range, x)
        zoom_cols = zoom_rows if self.width_range is None else 1.0 + self.uniform((batch,), *self.width_range, x)
        zeros = xp.zeros_like(zoom_rows)
        return xp.stack([zoom_cols, zeros, (cols - 1) / 2.0 * (1.0 - zoom_cols),
                         zeros, zoom_rows, (rows - 1) / 2.0 * (1.0 - zoom_rows)], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomFlip(ImageAugmentation):
    """Flips each training image, with probability 1/2 drawn per image, left-right
    (``"horizontal"``), up-down (``"vertical"``) or both (``"horizontal_and_vertical"``,
    Keras's default; as Keras 3, one draw decides both flips, so an image comes out as it is
    or turned by 180 degrees)."""

    axes_of_mode = {"horizontal": (2,), "vertical": (1,), "horizontal_and_vertical": (2, 1)}

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        if mode not in self.axes_of_mode:
            raise ValueError(f"RandomFlip: mode must be one of {list(self.axes_of_mode)}. Received: mode={mode!r}")
        self.mode = mode

    def augment(self, x):
        xp = array_namespace(x)
        axes = self.axes_of_mode[self.mode]
        # (batch, 1, 1, 1): 1.0 where the image is flipped
        flipped = get_backend().random_bernoulli((x.shape[0], 1, 1, 1), 0.5, dtype=x.dtype, generator=self._generator)
        y = flipped * xp.flip(x, axis=axes) + (1.0 - flipped) * x

        def backprop(dy):  # a flip is its own inverse and transpose
            return xp.flip(flipped * dy, axis=axes) + (1.0 - flipped) * dy

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomCrop(ImageAugmentation):
    """``(batch, rows, cols, C) -> (batch, height, width, C)``. In training, when the images are
    larger along both axes, one ``height x width`` window at a random position (one per batch,
    as Keras); otherwise, and at inference, the largest centred window of the target's aspect
    ratio resized to it (bilinear, Keras's rule)."""

    def __init__(self, height: int, width: int, seed: int | None = None, data_format: str | None = None, **kwargs):
        super().__init__(seed, data_format, **kwargs)
        check_size("RandomCrop", height, width)
        self.height, self.width = height, width

    def compute_output_shape(self, input_shape):
        return sized_output_shape(self, input_shape)

    def augment(self, x):
        rows, cols = x.shape[1], x.shape[2]
        if rows <= self.height or cols <= self.width:
            return self.infer(x)
        generator = self._generator or host_random.generator()
        top = int(generator.uniform(0, rows - self.height + 1))
        left = int(generator.uniform(0, cols - self.width + 1))
        amounts = ((top, rows - self.height - top), (left, cols - self.width - left))
        return conv_utils.crop(x, amounts), lambda dy: conv_utils.pad(dy, amounts)

    def infer(self, x):
        return resize(x, self.height, self.width, "bilinear", crop_to_aspect_ratio=True)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


def _clip_to_range(xp, z, value_range):
    """``z`` clipped to ``value_range`` and the 0/1 mask of the entries it left alone (their
    gradient)."""
    low, high = (float(v) for v in value_range)
    kept = xp.astype((z >= low) & (z <= high), z.dtype)
    return xp.clip(z, low, high), kept


class RandomContrast(ImageAugmentation):
    """Scales each training image's deviation from its per-channel mean by a factor drawn per
    image from ``[1 - lower, 1 + upper]`` (``factor``: a number f for both, or ``(lower,
    upper)``, within [0, 1]), then clips to ``value_range`` (Keras's default (0, 255))."""

    def __init__(self, factor, value_range=(0, 255), seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        lower, upper = (factor, factor) if isinstance(factor, (int, float)) else tuple(factor)
        if not 0.0 <= lower <= 1.0 or upper < 0.0:  # Keras's check: 1 - lower must stay >= 0
            raise ValueError("RandomContrast: factor must be non-negative, and its lower part at most 1. "
                             f"Received: factor={factor!r}")
        self.factor, self.lower, self.upper = factor, float(lower), float(upper)
        self.value_range = tuple(value_range)

    def augment(self, x):
        xp = array_namespace(x)
        scale = self.uniform((x.shape[0], 1, 1, 1), 1.0 - self.lower, 1.0 + self.upper, x)
        positions = x.shape[1] * x.shape[2]
        mean = xp.mean(x, axis=(1, 2), keepdims=True)
        y, kept = _clip_to_range(xp, (x - mean) * scale + mean, self.value_range)

        def backprop(dy):
            dz = dy * kept
            # d/dx of (x - mean) * s + mean: s, plus (1 - s) / positions through the mean
            return dz * scale + xp.sum(dz, axis=(1, 2), keepdims=True) * ((1.0 - scale) / positions)

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "factor": _plain_factor(self.factor), "value_range": list(self.value_range)}


class RandomBrightness(ImageAugmentation):
    """Adds to each training image a delta drawn per image from ``factor`` (a number f: [-f,
    f]; a pair: that range; within [-1, 1]) times the width of ``value_range`` (Keras's
    default (0, 255)), then clips to that range."""

    def __init__(self, factor, value_range=(0, 255), seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.factor = factor
        self.factor_range = _factor_range("RandomBrightness", "factor", factor)
        self.value_range = tuple(value_range)

    def augment(self, x):
        xp = array_namespace(x)
        width = float(self.value_range[1]) - float(self.value_range[0])
        delta = self.uniform((x.shape[0], 1, 1, 1), *self.factor_range, x) * width
        y, kept = _clip_to_range(xp, x + delta, self.value_range)
        return y, lambda dy: dy * kept

    def get_config(self):
        return {**super().get_config(), "factor": _plain_factor(self.factor), "value_range": list(self.value_range)}


def _plain_factor(factor):
    """A factor as JSON takes it: a number, or a pair as a list."""
    return factor if isinstance(factor, (int, float)) else list(factor)
