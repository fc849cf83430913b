"""SimpleRNN, LSTM and GRU: Keras 3 weights, defaults and formulas, with backprop through time.

``(batch, timesteps, features) -> (batch, units)``, or ``(batch, timesteps, units)`` with
``return_sequences=True``; with ``return_state=True`` the layer returns ``[output, *states]``
and its backprop takes one gradient per entry (None for "no gradient"). With ``stateful=True``
each batch starts from the states the previous batch ended with (`reset_states` forgets them).

Each layer owns ``kernel (features, gates * units)``, ``recurrent_kernel (units, gates *
units)`` and ``bias``, laid out as Keras stores them. The input projection ``x @ kernel`` is
one matmul over all time steps; only the recurrent part runs step by step. The loop works
on rows: a row is a sample, and the products are ``(rows, ...) @ kernel`` (a convolutional
recurrence, `ConvLSTM2D`, has a row per sample and position: see `Recurrent.input_rows`).
A subclass writes one time step, ``step(xw_t, states, recurrent_kernel, recurrent_kernel_t, recurrent_keep) ->
(new_states, step_backprop)`` (``recurrent_keep``: the recurrent dropout mask or None), with
``step_backprop(dstates, dxw, t) -> (dstates_prev, recurrent_grads)`` writing the step's
gradient of ``xw_t`` into ``dxw[t] (rows, gates * units)`` of the time-major ``dxw`` (no
per-step concatenation, no stacking afterwards); ``dxw`` reuses the buffer of ``xw``, so a
``step_backprop`` must not read ``xw_t``. ``recurrent_kernel`` is a contiguous copy and
``recurrent_kernel_t`` a contiguous copy of ``recurrent_kernel.T`` (a product with either is
faster than with a transposed or Fortran-ordered layout). A recurrent gradient may be given as
a pair ``(a, b)`` meaning ``a.T @ b``, with ``b=None`` meaning ``dxw[t]``: the pairs of all
steps are then stacked and multiplied once (together with the kernel's gradient for
``b=None``), which is much cheaper than one small product per step.
"""

from __future__ import annotations

from typing import Any

from deepcore import random as host_random
from deepcore.backend import array_namespace
from deepcore.layers.base import Layer
from deepcore.layers.dropout import dropout_mask
from deepcore.registry import get_backend


class Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: weights, the time loop and its reverse."""

    gates = 1
    state_count = 1
    uses_mask = True
    takes_initial_state = True  # a functional model may pass initial_state= (see forward)
    constraint_names = ("kernel", "recurrent", "bias")

    def __init__(self, units: int, activation="tanh", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, seed: int | None = None, unroll: bool = False, use_cudnn="auto",
                 zero_output_for_mask: bool = False, **kwargs):
        # Keras's unroll and use_cudnn choose how its backends run the same recurrence; here
        # the time loop is always a Python loop, so they are accepted and change nothing.
        super().__init__(**kwargs)
        self.unroll = unroll
        name = type(self).__name__
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"{name}: units must be a positive integer. Received: units={units!r}")
        for label, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name}: {label} must be in [0, 1). Received: {label}={rate!r}")
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.seed = seed
        self._generator = host_random.generator(seed) if seed is not None else None
        self.units = units
        self.use_bias = use_bias
        self.set_options(activation=activation, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer)
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        # Keras's: a masked step outputs zeros instead of the previous output (Bidirectional
        # sets it when returning sequences); the states are carried either way.
        self.zero_output_for_mask = zero_output_for_mask
        self._carried: list | None = None  # with stateful: the last forward's final states

    # --- weights ----------------------------------------------------------------------------
    def bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def weight_shapes(self, input_shape) -> tuple[tuple, tuple]:
        """The shapes of ``kernel`` and ``recurrent_kernel`` for ``(batch, timesteps, features)``
        inputs (an error for other inputs)."""
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects inputs of shape (batch, timesteps, "
                f"features) with known features; received {tuple(input_shape)}."
            )
        width = self.gates * self.units
        return (input_shape[-1], width), (self.units, width)

    def build(self, input_shape):
        kernel_shape, recurrent_shape = self.weight_shapes(input_shape)
        super().build(input_shape)
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", recurrent_shape, self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer)
        self.bias = (
            self.add_weight("bias", self.bias_shape(), self.bias_initializer,
                            regularizer=self.bias_regularizer)
            if self.use_bias else None
        )

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units)] * self.state_count
        return output

    def compute_mask(self, x, mask=None):
        """The input mask goes on with the sequence (``return_sequences``), else none (Keras)."""
        return mask if self.return_sequences else None

    def keras_weight_paths(self) -> list[str]:
        return [f"cell/{path}" for path in super().keras_weight_paths()]  # Keras's layer holds a cell

    # --- states carried between batches (stateful=True) -----------------------------------
    def reset_states(self) -> None:
        """Forget the carried states: the next batch starts from zeros (Keras's
        ``reset_states``; ``reset_state`` is the same)."""
        self._carried = None

    reset_state = reset_states

    def _initial_states(self, zeros, batch: int) -> list:
        """Zeros (as rows), or with ``stateful`` the states the previous batch ended with
        (Keras: the final state of sample i is the initial state of sample i of the next batch;
        no gradient flows back into the previous batch)."""
        if not self.stateful or self._carried is None:
            return [zeros] * self.state_count
        carried_batch = self._carried[0].shape[0] * batch // zeros.shape[0]
        if carried_batch != batch:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} is stateful and carries states for batches "
                f"of {carried_batch} samples, but received a batch of {batch}. Keep one batch size "
                "(a stateful model needs the data length to be a multiple of it, and shuffle=False), "
                "or call reset_states() before changing it."
            )
        return list(self._carried)

    def move_to(self, backend) -> None:
        if self._carried is not None and self.backend is not None and backend is not self.backend:
            self._carried = [self.transfer(a, backend) for a in self._carried]
        super().move_to(backend)

    # --- rows: what the time loop multiplies ------------------------------------------------
    # The loop works on 2-D rows: a state is (rows, units) and a step's input projection (rows,
    # gates * units). Here a row is a sample; a convolutional recurrence (ConvLSTM) has a row
    # per sample and position, and overrides these four methods.
    def input_rows(self, x) -> tuple[Any, Any]:
        """``x (batch, timesteps, features)`` as time-major rows ``(timesteps * batch,
        features)`` (a step's rows are contiguous), and ``backprop(drows) -> dx``."""
        xp = array_namespace(x)
        batch, steps, features = x.shape
        rows = xp.reshape(xp.permute_dims(x, (1, 0, 2)), (steps * batch, features))
        return rows, lambda drows: xp.permute_dims(xp.reshape(drows, (steps, batch, features)), (1, 0, 2))

    def recurrent_rows(self, h) -> tuple[Any, Any]:
        """What multiplies ``recurrent_kernel``: ``h (rows, units)`` itself; with ``backprop``
        taking the product's gradient back to h."""
        return h, _unchanged

    def state_rows(self, state):
        """A state (or an output step) ``(batch, *state shape)`` as rows ``(rows, units)``."""
        return state

    def state_of_rows(self, rows):
        """The inverse of `state_rows`."""
        return rows

    # --- the time loop ----------------------------------------------------------------------
    def step(self, xw_t, states: list, recurrent_kernel, recurrent_kernel_t,
             recurrent_keep) -> tuple[list, Any]:
        """One time step: ``xw_t (rows, gates * units)`` is the input projection plus input bias;
        ``recurrent_keep`` (or None) is the recurrent dropout mask for ``h`` entering the matmul."""
        raise NotImplementedError

    @property
    def state_sizes(self) -> list:
        """The width of each state (or its shape per sample, a tuple), in the order of
        ``initial_state`` and the returned states."""
        return [self.units] * self.state_count

    def _given_states(self, initial_state, batch: int) -> list:
        """``initial_state`` checked (``state_count`` arrays of shape ``(batch, *state shape)``)
        and made rows."""
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        shapes = [tuple(state.shape) for state in states]
        expected = [(batch, *per_sample(size)) for size in self.state_sizes]
        if shapes != expected:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r}: initial_state must be {self.state_count} "
                f"array(s) of shape {expected[0]}; received shapes {shapes}."
            )
        return [self.state_rows(state) for state in states]

    def forward(self, x, training=False, mask=None, initial_state=None):
        """``mask (batch, timesteps)`` (True: a real step; from e.g. ``Embedding(mask_zero=True)``):
        a masked step keeps the previous states and repeats the previous output (zeros with
        ``zero_output_for_mask``), as Keras.
        ``initial_state``: the ``state_count`` states ``(batch, units)`` to start from instead
        of zeros (Keras's ``initial_state``, e.g. an encoder's final states); ``backprop`` then
        returns ``[dx, *initial state gradients]``.

        In training, ``dropout`` drops input features and ``recurrent_dropout`` entries of the
        previous output entering the recurrent matmul, each with one mask per sequence for all
        time steps (Keras's rule)."""
        xp = array_namespace(x)
        batch, steps = x.shape[0], x.shape[1]
        input_keep = recurrent_keep = None
        if training and self.dropout:
            input_keep = dropout_mask((batch, 1, *x.shape[2:]), self.dropout, x.dtype, self._generator)
            x = x * input_keep
        flat_x, inputs_backprop = self.input_rows(x)  # (steps * rows, features): a step's rows are contiguous
        (rows, features), width = (flat_x.shape[0] // steps, flat_x.shape[1]), self.gates * self.units
        if training and self.recurrent_dropout:
            recurrent_keep = dropout_mask((rows, self.units), self.recurrent_dropout, x.dtype, self._generator)
        kernel = xp.reshape(self.kernel.value, (features, width))
        kernel_and_bias = kernel
        if self.bias is not None:
            # A column of ones appended to x adds the input bias (GRU: row 0 of its bias) within
            # the matmul, and puts the bias gradient in the last row of the kernel gradient.
            bias = self.bias.value
            input_bias = bias if bias.ndim == 1 else bias[0, :]
            flat_x = xp.concat([flat_x, xp.ones_like(flat_x[:, :1])], axis=1)
            kernel_and_bias = xp.concat([kernel, input_bias[None, :]], axis=0)
        xw = xp.reshape(flat_x @ kernel_and_bias, (steps, rows, width))
        # A C-ordered copy: the orthogonal initializer's value is Fortran-ordered, and the
        # in-place optimizer updates keep it so; h @ it is ~30% slower in NumPy.
        recurrent_kernel = xp.reshape(self.recurrent_kernel.value, (-1, width), copy=True)
        recurrent_kernel_t = xp.reshape(recurrent_kernel.T, (width, recurrent_kernel.shape[0]), copy=True)
        zeros = xp.zeros_like(xw[0, :, :self.units])  # (rows, units), on x's device
        states = (self._initial_states(zeros, batch) if initial_state is None
                  else self._given_states(initial_state, batch))
        # (steps, rows, 1) of 0.0/1.0: states = keep * new + (1 - keep) * previous.
        keeps = None
        if mask is not None:
            keeps = xp.astype(xp.permute_dims(mask, (1, 0)), xw.dtype)[:, :, None, None]
            keeps = xp.reshape(xp.broadcast_to(keeps, (steps, batch, rows // batch, 1)), (steps, rows, 1))
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs, step_backprops = [], []
        for t in order:
            new_states, step_backprop = self.step(xw[t, ...], states, recurrent_kernel, recurrent_kernel_t,
                                                  recurrent_keep)
            output = new_states[0]
            if keeps is not None:
                keep = keeps[t, ...]
                output = keep * output if self.zero_output_for_mask else None
                new_states = [keep * new + (1.0 - keep) * old for new, old in zip(new_states, states)]
            states = new_states
            outputs.append(states[0] if output is None else output)
            step_backprops.append(step_backprop)
        if self.stateful:
            self._carried = states
        # With go_backwards, Keras returns the outputs in processing order (reversed time).
        if self.return_sequences:
            output = xp.stack([self.state_of_rows(o) for o in outputs], axis=1)
        else:
            output = self.state_of_rows(outputs[-1])

        initial_gradients: list = []  # filled by parameter_gradients, for initial_state

        def parameter_gradients(dy):
            """Store the weight gradients; return ``dxw`` as time-major ``(steps * rows, width)``."""
            if self.return_state:
                dy_output, dy_states = dy[0], list(dy[1:])
            else:
                dy_output, dy_states = dy, [None] * self.state_count
            dstates = [self.state_rows(d) if d is not None else zeros for d in dy_states]
            dxw = xw  # nothing reads xw after the forward: its buffer takes the gradient
            recurrent_grads: dict[str, Any] = {}
            factors: dict[str, tuple[list, list]] = {}
            zero_masked_outputs = keeps is not None and self.zero_output_for_mask
            for k in range(steps - 1, -1, -1):
                dy_k = None  # the gradient of step k's output
                if dy_output is not None and self.return_sequences:
                    dy_k = self.state_rows(dy_output[:, k, ...])
                elif dy_output is not None and k == steps - 1:
                    dy_k = self.state_rows(dy_output)
                if dy_k is not None and not zero_masked_outputs:
                    dstates[0] = dstates[0] + dy_k  # the output is the (carried) first state
                t = order[k]
                if keeps is None:
                    dstates, grads = step_backprops[k](dstates, dxw, t)
                else:  # a masked step passes its gradient straight to the previous states
                    keep = keeps[t, ...]
                    carried = [(1.0 - keep) * d for d in dstates]
                    into_step = [keep * d for d in dstates]
                    if dy_k is not None and zero_masked_outputs:  # the output is keep * the new h
                        into_step[0] = into_step[0] + keep * dy_k
                    dstates, grads = step_backprops[k](into_step, dxw, t)
                    dstates = [d + c for d, c in zip(dstates, carried)]
                for name, value in grads.items():
                    if isinstance(value, tuple):  # (a, b): a.T @ b, summed over steps below
                        lefts, rights = factors.setdefault(name, ([None] * steps, [None] * steps))
                        lefts[t], rights[t] = value
                    else:
                        previous = recurrent_grads.get(name)
                        recurrent_grads[name] = value if previous is None else previous + value
            flat_dxw = xp.reshape(dxw, (steps * rows, width))
            # One (units, steps * rows) @ (steps * rows, width) product instead of one per step;
            # the left factors of dxw sit beside flat_x, so one product also gives the kernel's.
            of_dxw = [name for name, (_, rights) in factors.items() if rights[0] is None]
            for name, (lefts, rights) in factors.items():
                if name not in of_dxw:
                    recurrent_grads[name] = xp.concat(lefts, axis=0).T @ xp.concat(rights, axis=0)
            lefts = [flat_x] + [xp.concat(factors[name][0], axis=0) for name in of_dxw]
            product = xp.concat(lefts, axis=1).T @ flat_dxw
            start = flat_x.shape[1]
            kernel_and_bias_grad = product[:start, :]
            for name, left in zip(of_dxw, lefts[1:]):
                recurrent_grads[name] = product[start:start + left.shape[1], :]
                start += left.shape[1]
            initial_gradients[:] = [self.state_of_rows(d) for d in dstates]  # of the states entering the first step
            self.kernel.grad = xp.reshape(kernel_and_bias_grad[:features, :], self.kernel.shape)
            self.recurrent_kernel.grad = xp.reshape(recurrent_grads["recurrent_kernel"], self.recurrent_kernel.shape)
            if self.bias is not None:
                input_bias_grad = kernel_and_bias_grad[features, :]
                self.bias.grad = (
                    input_bias_grad if self.bias.value.ndim == 1
                    else xp.stack([input_bias_grad, recurrent_grads["recurrent_bias"]])
                )
            return flat_dxw

        def backprop(dy):
            dx = _dropped(inputs_backprop(parameter_gradients(dy) @ kernel.T), input_keep)
            return dx if initial_state is None else [dx, *initial_gradients]

        # For a model's first layer, whose dx nobody reads.
        backprop.parameters_only = parameter_gradients

        if self.return_state:
            return [output, *(self.state_of_rows(state) for state in states)], backprop
        return output, backprop

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "use_bias": self.use_bias,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }


def _unchanged(a):
    return a


def per_sample(size) -> tuple:
    """A `Recurrent.state_sizes` entry as a state's shape per sample: ``(units,)`` or itself."""
    return size if isinstance(size, tuple) else (size,)


def _dropped(a, keep):
    """``a`` times a dropout mask, or ``a`` itself when there is none."""
    return a if keep is None else a * keep


def _default_activations(layer) -> bool:
    """Whether an LSTM's or GRU's gates use Keras's defaults (tanh, recurrent sigmoid), which
    is what a backend's fused cell (`Backend.lstm_cell`, `Backend.gru_cell`) computes."""
    return layer.activation.name == "tanh" and layer.recurrent_activation.name == "sigmoid"


def _gate(z, index: int, units: int):
    """Columns ``[index * units, (index + 1) * units)`` of ``(batch, gates * units)``."""
    return z[:, index * units:(index + 1) * units]


class SimpleRNN(Recurrent):
    """``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``."""

    def step(self, xw_t, states, recurrent_kernel, recurrent_kernel_t, recurrent_keep):
        h = _dropped(states[0], recurrent_keep)
        h_new, activation_backprop = self.activation.forward(xw_t + h @ recurrent_kernel)

        def step_backprop(dstates, dxw, t):
            dxw[t, ...] = activation_backprop(dstates[0])
            return [_dropped(dxw[t, ...] @ recurrent_kernel_t, recurrent_keep)], {"recurrent_kernel": (h, None)}

        return [h_new], step_backprop


class LSTM(Recurrent):
    """Long short-term memory, gates in Keras's order i, f, c, o:

    ``z = x_t @ kernel + h @ recurrent_kernel + bias``; ``i, f, o = recurrent_activation(z_i,
    z_f, z_o)``; ``c_t = f * c + i * activation(z_c)``; ``h_t = o * activation(c_t)``. States
    ``[h, c]``. ``unit_forget_bias=True`` (Keras's default) starts the forget-gate bias at 1.
    """

    gates = 4
    state_count = 2

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias: bool = True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.set_options(recurrent_activation=recurrent_activation)
        self.unit_forget_bias = unit_forget_bias

    def build(self, input_shape):
        super().build(input_shape)
        if self.bias is not None and self.unit_forget_bias:
            xp = array_namespace(self.bias.value)
            bias, u = self.bias.value, self.units
            self.bias.value = xp.concat([bias[:u], xp.ones_like(bias[u:2 * u]), bias[2 * u:]])

    def step(self, xw_t, states, recurrent_kernel, recurrent_kernel_t, recurrent_keep):
        h, c = _dropped(states[0], recurrent_keep), states[1]
        h_rows, h_rows_backprop = self.recurrent_rows(h)
        z = h_rows @ recurrent_kernel  # this step's own new array
        fused = get_backend().lstm_cell(z, xw_t, c) if _default_activations(self) else None
        h_new, c_new, cell_backprop = fused if fused is not None else self._cell(z, xw_t, c)

        def step_backprop(dstates, dxw, t):
            dh, dc_new = dstates
            dc = cell_backprop(dh, dc_new, dxw[t, ...])
            dh_prev = _dropped(h_rows_backprop(dxw[t, ...] @ recurrent_kernel_t), recurrent_keep)
            return [dh_prev, dc], {"recurrent_kernel": (h_rows, None)}

        return [h_new, c_new], step_backprop

    def _cell(self, z, xw, c):
        """`Backend.lstm_cell` for any activations, composed from them: ``(h, c_new, backprop)``."""
        u = self.units
        z += xw
        i, i_backprop = self.recurrent_activation.forward(_gate(z, 0, u))
        f, f_backprop = self.recurrent_activation.forward(_gate(z, 1, u))
        g, g_backprop = self.activation.forward(_gate(z, 2, u))
        o, o_backprop = self.recurrent_activation.forward(_gate(z, 3, u))
        c_new = f * c
        c_new += i * g
        tanh_c, tanh_c_backprop = self.activation.forward(c_new)

        def backprop(dh, dc_new, dz):
            dc = dc_new + tanh_c_backprop(dh * o)
            dz[:, :u] = i_backprop(dc * g)
            dz[:, u:2 * u] = f_backprop(dc * c)
            dz[:, 2 * u:3 * u] = g_backprop(dc * i)
            dz[:, 3 * u:] = o_backprop(dh * tanh_c)
            return dc * f

        return o * tanh_c, c_new, backprop

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(Recurrent):
    """Gated recurrent unit, gates in Keras's order z (update), r (reset), h (candidate):

    ``z, r = recurrent_activation(x_t W_{z,r} + h U_{z,r} + biases)``; with ``reset_after=True``
    (Keras 3's default) ``hh = activation(x_t W_h + b_h + r * (h U_h + b'_h))`` and bias
    ``(2, 3 * units)`` (row 0 input, row 1 recurrent); with ``reset_after=False``
    ``hh = activation(x_t W_h + (r * h) U_h + b_h)`` and bias ``(3 * units,)``.
    ``h_t = z * h + (1 - z) * hh``.
    """

    gates = 3

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid",
                 reset_after: bool = True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.set_options(recurrent_activation=recurrent_activation)
        self.reset_after = reset_after

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def step(self, xw_t, states, recurrent_kernel, recurrent_kernel_t, recurrent_keep):
        xp = array_namespace(xw_t)
        h = states[0]
        h_in = _dropped(h, recurrent_keep)  # what the recurrent matmuls see; the blend uses h
        if not self.reset_after:
            return self._step_reset_before(xw_t, h, h_in, recurrent_kernel, recurrent_kernel_t, recurrent_keep)
        inner = h_in @ recurrent_kernel
        if self.bias is not None:
            inner += self.bias.value[1, :]  # in place: inner is this step's own new array
        fused = get_backend().gru_cell(xw_t, inner, h) if _default_activations(self) else None
        h_new, cell_backprop = fused if fused is not None else self._cell(xw_t, inner, h)

        def step_backprop(dstates, dxw, t):
            dinner, dh_kept = cell_backprop(dstates[0], dxw[t, ...])
            grads = {"recurrent_kernel": (h_in, dinner), "recurrent_bias": xp.sum(dinner, axis=0)}
            return [dh_kept + _dropped(dinner @ recurrent_kernel_t, recurrent_keep)], grads

        return [h_new], step_backprop

    def _cell(self, xw_t, inner, h):
        """`Backend.gru_cell` for any activations, composed from them: ``(h_new, backprop)``."""
        xp = array_namespace(xw_t)
        u = self.units
        z, z_backprop = self.recurrent_activation.forward(_gate(xw_t, 0, u) + _gate(inner, 0, u))
        r, r_backprop = self.recurrent_activation.forward(_gate(xw_t, 1, u) + _gate(inner, 1, u))
        inner_h = _gate(inner, 2, u)
        hh, hh_backprop = self.activation.forward(_gate(xw_t, 2, u) + r * inner_h)

        def backprop(dh, dxw_t):
            da_h = hh_backprop(dh * (1.0 - z))
            da_z = z_backprop(dh * (h - hh))
            da_r = r_backprop(da_h * inner_h)
            dxw_t[:, :u] = da_z
            dxw_t[:, u:2 * u] = da_r
            dxw_t[:, 2 * u:] = da_h
            return xp.concat([da_z, da_r, da_h * r], axis=-1), dh * z

        return z * h + (1.0 - z) * hh, backprop

    def _step_reset_before(self, xw_t, h, h_in, recurrent_kernel, recurrent_kernel_t, recurrent_keep):
        """``reset_after=False``: the reset gate applies to h before its matmul with U_h."""
        xp = array_namespace(xw_t)
        u = self.units
        inner_zr = h_in @ recurrent_kernel[:, :2 * u]
        z, z_backprop = self.recurrent_activation.forward(_gate(xw_t, 0, u) + inner_zr[:, :u])
        r, r_backprop = self.recurrent_activation.forward(_gate(xw_t, 1, u) + inner_zr[:, u:])
        reset_h = r * h_in
        hh, hh_backprop = self.activation.forward(_gate(xw_t, 2, u) + reset_h @ recurrent_kernel[:, 2 * u:])
        h_new = z * h + (1.0 - z) * hh

        def step_backprop(dstates, dxw, t):
            dh = dstates[0]
            da_h = hh_backprop(dh * (1.0 - z))
            da_z = z_backprop(dh * (h - hh))
            dreset_h = da_h @ recurrent_kernel_t[2 * u:, :]
            da_r = r_backprop(dreset_h * h_in)
            da_zr = xp.concat([da_z, da_r], axis=-1)
            grads = {"recurrent_kernel": xp.concat([h_in.T @ da_zr, reset_h.T @ da_h], axis=-1)}
            dh_in = dreset_h * r + da_zr @ recurrent_kernel_t[:2 * u, :]
            dxw[t, :, :u] = da_z
            dxw[t, :, u:2 * u] = da_r
            dxw[t, :, 2 * u:] = da_h
            return [dh * z + _dropped(dh_in, recurrent_keep)], grads

        return [h_new], step_backprop

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
