"""ConvLSTM1D, ConvLSTM2D and ConvLSTM3D: Keras 3's convolutional LSTM.

``(batch, timesteps, *spatial, channels) -> (batch, *out_spatial, filters)``, or ``(batch,
timesteps, *out_spatial, filters)`` with ``return_sequences=True``. The LSTM's products are
convolutions: the input's with ``kernel (*kernel_size, channels, 4 * filters)`` (Keras's
``strides``, ``padding`` and ``dilation_rate``), the state's with ``recurrent_kernel
(*kernel_size, filters, 4 * filters)`` (stride 1, ``same`` padding), gates i, f, c, o as in
`LSTM`. Each is an im2col matmul, so the LSTM's time loop runs unchanged with a row per sample
and output position (`Recurrent.input_rows` and its companions): the same cell, its fused fast
path, masks, ``initial_state``, ``stateful`` and backprop through time.

Dropout differs from Keras in one way: the input (and recurrent) dropout mask is one per
sequence shared by the four gates, where Keras draws one per gate.
"""

from __future__ import annotations

from deepcore.backend import array_namespace
from deepcore.layers import conv_utils
from deepcore.layers.recurrent import LSTM


class ConvLSTM(LSTM):
    """The convolutional LSTM over ``rank`` spatial axes; `ConvLSTM1D`/`2D`/`3D` fix the rank."""

    rank = 0

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", data_format: str | None = None,
                 dilation_rate=1, **kwargs):
        super().__init__(filters, **kwargs)
        self.filters = filters
        conv_utils.window_arguments(self, self.rank, kernel_size, strides, dilation_rate, padding, data_format)
        self._out_spatial: tuple | None = None  # set by build

    def weight_shapes(self, input_shape):
        if len(input_shape) != self.rank + 3 or input_shape[-1] is None or None in input_shape[2:]:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects inputs of shape (batch, timesteps, "
                f"{'spatial, ' * self.rank}channels) with known spatial sizes and channels; received "
                f"{tuple(input_shape)}."
            )
        step_shape = (input_shape[0], *input_shape[2:])
        self._out_spatial = self._conv_output(step_shape)[1:-1]
        width = self.gates * self.units
        return (*self.kernel_size, input_shape[-1], width), (*self.kernel_size, self.units, width)

    def _conv_output(self, step_shape) -> tuple:
        return conv_utils.output_shape(step_shape, self.kernel_size, self.strides, self.dilation_rate,
                                       self.padding, self.filters, self.name)

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        state = self._conv_output((batch, *input_shape[2:]))
        output = (batch, steps, *state[1:]) if self.return_sequences else state
        return [output, state, state] if self.return_state else output

    @property
    def state_sizes(self) -> list:
        if self._out_spatial is None:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} knows its states' shape once built.")
        return [(*self._out_spatial, self.filters)] * self.state_count

    # A row per sample and output position: (batch * positions, ...).
    def input_rows(self, x):
        xp = array_namespace(x)
        batch, steps = x.shape[0], x.shape[1]
        time_major = xp.reshape(xp.permute_dims(x, (1, 0, *range(2, x.ndim))), (steps * batch, *x.shape[2:]))
        rows, rows_backprop = conv_utils.window_rows(time_major, self.kernel_size, self.strides,
                                                      self.dilation_rate, self.padding)

        def backprop(drows):
            dx = xp.reshape(rows_backprop(drows), (steps, batch, *x.shape[2:]))
            return xp.permute_dims(dx, (1, 0, *range(2, x.ndim)))

        return rows, backprop

    def recurrent_rows(self, h):
        ones = (1,) * self.rank
        rows, backprop = conv_utils.window_rows(self.state_of_rows(h), self.kernel_size, ones, ones, "same")
        return rows, lambda drows: self.state_rows(backprop(drows))

    def state_rows(self, state):
        return array_namespace(state).reshape(state, (-1, self.filters))

    def state_of_rows(self, rows):
        return array_namespace(rows).reshape(rows, (-1, *self._out_spatial, self.filters))

    def get_config(self):
        config = super().get_config()
        del config["units"]
        return {**config, **conv_utils.window_config(self)}


class ConvLSTM1D(ConvLSTM):
    """``(batch, timesteps, steps, channels) -> (batch, [timesteps,] new_steps, filters)``."""

    rank = 1


class ConvLSTM2D(ConvLSTM):
    """``(batch, timesteps, rows, cols, channels) -> (batch, [timesteps,] new_rows, new_cols, filters)``."""

    rank = 2


class ConvLSTM3D(ConvLSTM):
    """``(batch, timesteps, d1, d2, d3, channels) -> (batch, [timesteps,] new_d1, new_d2, new_d3, filters)``."""

    rank = 3
