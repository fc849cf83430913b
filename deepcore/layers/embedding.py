"""Embedding: integer token ids -> rows of a trainable table."""

from __future__ import annotations

import math

from deepcore.backend import array_namespace
from deepcore.layers.base import Layer
from deepcore.registry import get_backend


class Embedding(Layer):
    """``(batch, ...) ids -> (batch, ..., output_dim)``; table ``embeddings`` ``(input_dim,
    output_dim)`` as Keras, default ``uniform`` initializer (RandomUniform(-0.05, 0.05)).

    Ids may arrive as floats (models cast inputs to floatx); they are rounded to integers. The
    table's gradient is a scatter-add through the backend, so repeated ids accumulate.
    ``mask_zero=True`` reserves id 0 for padding: `compute_mask` returns ``ids != 0``, which a
    `Sequential` model hands to the recurrent layers after it (they skip the padded steps).
    """

    constraint_names = ("embeddings",)

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform",
                 embeddings_regularizer=None, mask_zero: bool = False, weights=None,
                 input_length: int | None = None, **kwargs):
        """``weights``: an initial table ``(input_dim, output_dim)`` (or a list holding it, as
        Keras 2), e.g. pretrained word vectors; ``input_length`` (Keras 2) gives the input
        shape ``(batch, input_length)``."""
        if input_length is not None and kwargs.get("input_shape") is None:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Embedding: {name} must be a positive integer. Received: {name}={value!r}")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.set_options(embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer)
        self.mask_zero = mask_zero
        self._initial_table = weights[0] if isinstance(weights, (list, tuple)) else weights

    def build(self, input_shape):
        super().build(input_shape)
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer)
        if self._initial_table is not None:
            self.set_weights([self._initial_table])  # checks the shape, names both
            self._initial_table = None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def compute_mask(self, x, mask=None):
        """``(batch, ...) -> (batch, ...)`` booleans, False at padding id 0; None without mask_zero."""
        if not self.mask_zero:
            return None
        return x != 0

    def check_input_values(self, x) -> None:
        """Every id must be a row of the table: ``0 <= id < input_dim`` (an id outside would
        read another row, or fail, depending on the backend)."""
        if math.prod(x.shape) == 0:
            return
        xp = array_namespace(x)
        ids = self._ids(x)
        low, high = int(xp.min(ids)), int(xp.max(ids))
        if low < 0 or high >= self.input_dim:
            raise ValueError(
                f"Embedding layer {self.name!r} takes token ids in [0, {self.input_dim}) (input_dim="
                f"{self.input_dim}); received ids from {low} to {high}. Ids must be non-negative and "
                "below input_dim: set input_dim to at least the largest id + 1, or map the ids into "
                "that range."
            )

    @staticmethod
    def _ids(x):
        """Integer ids: float inputs (models cast inputs to floatx) rounded."""
        xp = array_namespace(x)
        return x if xp.isdtype(x.dtype, "integral") else xp.astype(xp.round(x), xp.int64)

    def forward(self, x, training=False):
        xp = array_namespace(x)
        ids = self._ids(x)
        flat = xp.reshape(ids, (-1,))
        table = self.embeddings.value
        y = xp.reshape(xp.take(table, flat, axis=0), (*x.shape, self.output_dim))

        def backprop(dy):
            rows = xp.reshape(dy, (-1, self.output_dim))
            self.embeddings.grad = get_backend().scatter_add(xp.zeros_like(table), flat, rows)
            return xp.zeros_like(x)  # ids are not differentiable

        return y, backprop

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "mask_zero": self.mask_zero,
        }
