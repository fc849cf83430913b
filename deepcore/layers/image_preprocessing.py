"""Image preprocessing layers, as Keras: `Resizing` and `CenterCrop` change the image size (the
random augmentations are in `image_augmentation`).

Images are ``(batch, rows, cols, channels)``. Resizing follows Keras 3 (TensorFlow's
``resize`` with half-pixel centres, no antialiasing): along each axis the output is a fixed
``(out, in)`` matrix times the input, so its transpose is the backward.
"""

from __future__ import annotations

from deepcore.backend import array_device, array_namespace
from deepcore.layers import conv_utils
from deepcore.layers.base import Layer


def check_images(layer: Layer, shape) -> None:
    """An error naming ``layer`` unless ``shape`` is ``(batch, rows, cols, channels)``."""
    if len(shape) != 4:
        raise ValueError(
            f"{type(layer).__name__} layer {layer.name!r} expects images of shape (batch, rows, cols, "
            f"channels); received {tuple(shape)}."
        )


def resize_matrix(xp, in_length: int, out_length: int, interpolation: str, dtype, device):
    """``(out_length, in_length)`` weights of one axis's resize, TensorFlow's half-pixel rules
    with ``scale = in / out``: bilinear samples at ``(i + 0.5) * scale - 0.5``, clamped to
    ``[0, in - 1]``, between its two neighbours (each row sums to 1); nearest takes element
    ``min(floor((i + 0.5) * scale), in - 1)``."""
    scale = in_length / out_length
    positions = xp.arange(out_length, dtype=dtype, device=device)
    columns = xp.arange(in_length, dtype=dtype, device=device)[None, :]
    if interpolation == "nearest":
        source = xp.minimum(xp.floor((positions + 0.5) * scale), float(in_length - 1))
        return xp.astype(columns == source[:, None], dtype)
    centres = xp.clip((positions + 0.5) * scale - 0.5, 0.0, float(in_length - 1))
    lower = xp.floor(centres)
    upper = xp.minimum(lower + 1.0, float(in_length - 1))
    fraction = (centres - lower)[:, None]
    return ((1.0 - fraction) * xp.astype(columns == lower[:, None], dtype)
            + fraction * xp.astype(columns == upper[:, None], dtype))


def resample(x, matrices: list):
    """One ``(out, in)`` matrix applied along each spatial axis of ``(batch, *spatial, C)``, in
    order: ``-> (y, backprop)``, the backward applying the transposes."""
    xp = array_namespace(x)

    def along(matrix, a, axis):
        return xp.moveaxis(xp.tensordot(matrix, a, axes=([1], [axis])), 0, axis)

    y = x
    for axis, matrix in enumerate(matrices, start=1):
        y = along(matrix, y, axis)

    def backprop(dy):
        for axis, matrix in enumerate(matrices, start=1):
            dy = along(matrix.T, dy, axis)
        return dy

    return y, backprop


def aspect_crop(rows: int, cols: int, height: int, width: int) -> tuple[slice, slice]:
    """The centred window of a ``rows x cols`` image with the aspect ratio of ``height x width``,
    as Keras's ``crop_to_aspect_ratio`` computes it."""
    crop_rows = max(min(rows, int(cols * height / width)), 1)
    crop_cols = max(min(cols, int(rows * width / height)), 1)
    top, left = int((rows - crop_rows) / 2), int((cols - crop_cols) / 2)
    return slice(top, top + crop_rows), slice(left, left + crop_cols)


def resize(x, height: int, width: int, interpolation: str, crop_to_aspect_ratio: bool):
    """``(batch, rows, cols, C) -> ((batch, height, width, C), backprop)``."""
    xp = array_namespace(x)
    batch, rows, cols, channels = x.shape
    window = (slice(None), slice(None)) if not crop_to_aspect_ratio else aspect_crop(rows, cols, height, width)
    index = (slice(None), *window, slice(None))
    cropped = x[index]
    matrices = [resize_matrix(xp, n, m, interpolation, x.dtype, array_device(x))
                for n, m in zip(cropped.shape[1:3], (height, width))]
    y, resample_backprop = resample(cropped, matrices)
    if not crop_to_aspect_ratio:
        return y, resample_backprop

    def backprop(dy):
        dx = xp.zeros(x.shape, dtype=dy.dtype, device=array_device(dy))
        dx[index] = resample_backprop(dy)
        return dx

    return y, backprop


def check_size(layer_name: str, height: int, width: int) -> None:
    """An error naming the layer unless the target ``height`` and ``width`` are positive ints."""
    for name, value in (("height", height), ("width", width)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{layer_name}: {name} must be a positive integer. Received: {name}={value!r}")


def sized_output_shape(layer: Layer, input_shape) -> tuple:
    """``(batch, rows, cols, C) -> (batch, layer.height, layer.width, C)`` for the layers that
    produce a fixed image size."""
    check_images(layer, input_shape)
    return (input_shape[0], layer.height, layer.width, input_shape[-1])


class Resizing(Layer):
    """``(batch, rows, cols, C) -> (batch, height, width, C)``, ``interpolation`` ``"bilinear"``
    (Keras's default) or ``"nearest"``. With ``crop_to_aspect_ratio=True`` the largest centred
    window of the target's aspect ratio is resized, so the image is not distorted."""

    interpolations = ("bilinear", "nearest")

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", crop_to_aspect_ratio: bool = False,
                 data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        check_size("Resizing", height, width)
        conv_utils.check_data_format(data_format)
        if interpolation not in self.interpolations:
            raise ValueError(f"Resizing: interpolation must be one of {list(self.interpolations)}. "
                             f"Received: interpolation={interpolation!r}")
        self.height, self.width = height, width
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio

    def compute_output_shape(self, input_shape):
        return sized_output_shape(self, input_shape)

    def forward(self, x, training=False):
        check_images(self, x.shape)
        return resize(x, self.height, self.width, self.interpolation, self.crop_to_aspect_ratio)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio}


class CenterCrop(Layer):
    """``(batch, rows, cols, C) -> (batch, height, width, C)``: the centred ``height x width``
    window (the extra row or column, when the difference is odd, is cut at the end, as Keras).
    An image smaller than the target along an axis is instead resized to it, after a centred
    crop to the target's aspect ratio (Keras's rule)."""

    def __init__(self, height: int, width: int, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        check_size("CenterCrop", height, width)
        conv_utils.check_data_format(data_format)
        self.height, self.width = height, width

    def compute_output_shape(self, input_shape):
        return sized_output_shape(self, input_shape)

    def forward(self, x, training=False):
        check_images(self, x.shape)
        rows, cols = x.shape[1], x.shape[2]
        if rows < self.height or cols < self.width:
            return resize(x, self.height, self.width, "bilinear", crop_to_aspect_ratio=True)
        top, left = (rows - self.height) // 2, (cols - self.width) // 2
        amounts = ((top, rows - self.height - top), (left, cols - self.width - left))
        return conv_utils.crop(x, amounts), lambda dy: conv_utils.pad(dy, amounts)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
