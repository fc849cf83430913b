"""Attention layers, Keras 3's arguments, weights and formulas, with hand-written backwards:
`MultiHeadAttention`, `Attention` (dot-product) and `AdditiveAttention`; the last two take a
list ``[query, value(, key)]`` as Keras's (see each class).

MultiHeadAttention:

``mha(query, value)`` or ``mha(query, value, key)`` (key defaults to value; self-attention is
``mha(x, x)``): query ``(batch, T, query_dim)``, value ``(batch, S, value_dim_in)``, key
``(batch, S, key_dim_in)`` -> ``(batch, T, query_dim)`` (or ``(batch, T, *output_shape)``).
Inputs of higher rank, ``(batch, *axes, dim)``, attend over all their middle axes at once
(Keras's ``attention_axes=None``), or over the ``attention_axes`` given, the other middle axes
then acting as batch axes; the scores are ``(batch, *other axes, heads, *query's attended
axes, *key's attended axes)``, as Keras's.

Per head ``h`` (scale ``1 / sqrt(key_dim)``)::

    Q_h = query @ Wq_h + bq_h     K_h = key @ Wk_h + bk_h     V_h = value @ Wv_h + bv_h
    P_h = masked_softmax(scale * Q_h @ K_h.T)                 (batch, T, S)
    output = sum_h dropout(P_h) @ V_h @ Wo_h + bo

The weights are Keras's (its EinsumDense sublayers), in its order and shapes: ``query/kernel
(query_dim, heads, key_dim)``, ``query/bias (heads, key_dim)``, ``key/...``, (with
``use_gate``: ``gate/kernel (query_dim, heads, value_dim)``, ``gate/bias``), ``value/kernel
(value_dim_in, heads, value_dim)``, ``value/bias``, ``attention_output/kernel (heads,
value_dim, *output)``, ``attention_output/bias (*output,)``. Keras weights load with
``set_weights`` unchanged.

Masks (Keras's rules): the masks of query, value and key (e.g. from
``Embedding(mask_zero=True)``), ``attention_mask (batch, T, S)`` (True or nonzero: may attend),
``use_causal_mask`` (position i attends to j <= i) and ``sliding_window`` (|i - j| < window)
combine by AND. A masked score is set to -1e9 before the softmax and its probability to 0
after it. A query that may attend to nothing gets, as in Keras, zeros where Keras takes its
softmax path (``dropout`` > 0, ``return_attention_scores``, inputs of rank > 3) and the mean of
all values where it takes its fused path (otherwise). The output carries the query's mask.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

from deepcore import activations
from deepcore import random as host_random
from deepcore.backend import array_device, array_namespace
from deepcore.initializers import VarianceScaling
from deepcore.layers import symbolic
from deepcore.layers.base import Layer, Shape, column_sums
from deepcore.layers.dropout import dropout_mask

_MASKED_SCORE = -1e9  # Keras's large negative number for float32/float64 scores


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention (Vaswani et al., 2017), as Keras 3's layer.

    ``num_heads`` heads of size ``key_dim`` for query and key, ``value_dim`` (default
    ``key_dim``) for value; ``dropout`` on the attention probabilities in training;
    ``output_shape`` (int or tuple) instead of the query's last dimension; ``use_gate``: the
    heads' outputs are multiplied by ``sigmoid(query @ Wg + bg)`` before the output projection.
    ``kernel_*`` and ``bias_*`` initializers, regularizers and constraints apply to every
    projection. ``flash_attention`` is accepted and changes nothing (the same formulas run).
    """

    multiple_inputs = True  # forward takes [query, value, key] (+ [attention_mask])
    uses_mask = True
    supports_masking = True
    call_options = ("use_causal_mask", "return_attention_scores")  # kept per call in a functional model
    constraint_names = ("kernel", "bias")

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None, dropout: float = 0.0,
                 use_bias: bool = True, output_shape=None, attention_axes=None, sliding_window: int | None = None,
                 flash_attention=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, use_gate: bool = False, seed: int | None = None,
                 **kwargs):
        if kwargs.get("activity_regularizer") is not None:
            raise NotImplementedError(
                "MultiHeadAttention: activity_regularizer is not supported (Keras applies it to the output of "
                "each of its four projections, not to the layer's output)."
            )
        super().__init__(**kwargs)
        for label, size in (("num_heads", num_heads), ("key_dim", key_dim), ("value_dim", value_dim)):
            if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
                raise ValueError(f"MultiHeadAttention: {label} must be a positive integer. Received: {label}={size!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1). Received: dropout={dropout!r}")
        if sliding_window is not None and (not isinstance(sliding_window, int) or sliding_window <= 0):
            raise ValueError("MultiHeadAttention: sliding_window must be None or a positive integer. "
                             f"Received: sliding_window={sliding_window!r}")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self.use_gate = use_gate
        self._output_shape = (output_shape,) if isinstance(output_shape, int) else (
            tuple(output_shape) if output_shape else None)
        self.attention_axes = (attention_axes,) if isinstance(attention_axes, int) else (
            tuple(attention_axes) if attention_axes is not None else None)
        self.sliding_window = sliding_window
        self.flash_attention = flash_attention
        self.seed = seed
        self._generator = host_random.generator(seed) if seed is not None else None
        self.set_options(kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer)
        self.input_shapes: list[Shape] | None = None

    # --- shapes and weights -----------------------------------------------------------------
    def _shapes(self, query_shape, value_shape=None, key_shape=None) -> list[tuple]:
        """``[query, value, key]`` shapes, from Keras's ``(query_shape, value_shape, key_shape)``
        or one list of them (the form a functional model passes: ``[query, value, key,
        (attention_mask)]``)."""
        if value_shape is None and isinstance(query_shape, (list, tuple)) and query_shape \
                and isinstance(query_shape[0], (list, tuple)):
            query_shape, value_shape, key_shape = (list(query_shape) + [None, None])[:3]
        if value_shape is None:
            raise ValueError(
                f"MultiHeadAttention layer {self.name!r} takes a query and a value (and optionally a key), "
                f"as mha(query, value) in a functional model; received one input of shape {query_shape}. "
                "It cannot be a layer of a Sequential model."
            )
        shapes = [tuple(query_shape), tuple(value_shape), tuple(value_shape if key_shape is None else key_shape)]
        query, value, key = shapes
        if len(query) < 3 or len(value) != len(query) or len(key) != len(query):
            raise ValueError(f"MultiHeadAttention layer {self.name!r}: query, value and key must have the same "
                             f"rank, at least 3 (batch, positions, features); received {shapes}.")
        if value[1:-1] != key[1:-1]:
            raise ValueError(f"MultiHeadAttention layer {self.name!r}: all dimensions of value and key but the "
                             f"last must be equal; received value {value} and key {key}.")
        return shapes

    def build(self, query_shape, value_shape=None, key_shape=None) -> None:
        query, value, key = self._shapes(query_shape, value_shape, key_shape)
        rank = len(query)
        self._axes(rank)  # checks attention_axes
        heads = self.num_heads
        self.query_kernel, self.query_bias = self._projection("query", query[-1], (heads, self.key_dim))
        self.key_kernel, self.key_bias = self._projection("key", key[-1], (heads, self.key_dim))
        self.gate_kernel, self.gate_bias = (self._projection("gate", query[-1], (heads, self.value_dim))
                                            if self.use_gate else (None, None))
        self.value_kernel, self.value_bias = self._projection("value", value[-1], (heads, self.value_dim))
        self.output_kernel, self.output_bias = self._projection(
            "attention_output", heads * self.value_dim, self._output_shape or (query[-1],),
            kernel_shape=(heads, self.value_dim, *(self._output_shape or (query[-1],))))
        self.input_shapes = [query, value, key]
        self.input_shape = query
        self.built = True

    def _axes(self, rank: int) -> tuple[tuple, tuple]:
        """(the middle axes not attended over, the attended ones) for inputs of ``rank``;
        Keras counts a negative attention axis from the end of the projected query (rank + 1
        axes)."""
        middle = tuple(range(1, rank - 1))
        if self.attention_axes is None:
            return (), middle
        attended = tuple(sorted({rank + a if a < 0 else a for a in self.attention_axes}))
        if not attended or any(a not in middle for a in attended):
            raise ValueError(f"MultiHeadAttention layer {self.name!r}: attention_axes={self.attention_axes} must "
                             f"name axes between batch and features, {middle} for inputs of rank {rank}.")
        return tuple(a for a in middle if a not in attended), attended

    def _projection(self, name: str, fan_in: int, out_shape: tuple, kernel_shape: tuple | None = None) -> tuple:
        # Keras's EinsumDense: kernel (in, *out) unless given; bias (*out,). Its variance-scaling
        # initializers count the fans over the kernel's input and output axes.
        shape = kernel_shape or (fan_in, *out_shape)
        inputs = len(shape) - len(out_shape)
        initializer = self.kernel_initializer
        if isinstance(initializer, VarianceScaling):
            initializer = initializer.with_axes(list(range(inputs)), list(range(inputs, len(shape))))
        kernel = self.add_weight(f"{name}/kernel", shape, initializer, regularizer=self.kernel_regularizer)
        bias = (self.add_weight(f"{name}/bias", out_shape, self.bias_initializer, regularizer=self.bias_regularizer)
                if self.use_bias else None)
        return kernel, bias

    def keras_weight_paths(self) -> list[str]:
        # Keras's sublayers, kernel then bias each (gate's is private: "_gate_dense").
        parts = ["query_dense", "key_dense", *(["_gate_dense"] if self.use_gate else []), "value_dense", "output_dense"]
        per_part = ["vars/0", "vars/1"] if self.use_bias else ["vars/0"]
        return [f"{part}/{path}" for part in parts for path in per_part]

    def check_input_shape(self, shapes) -> None:
        query, value, key = self._shapes(shapes)
        built = self.input_shapes
        if built is None:
            return
        if any(len(s) != len(b) or s[-1] != b[-1] for s, b in zip((query, value, key), built)):
            raise ValueError(
                f"Inputs of MultiHeadAttention layer {self.name!r} are incompatible with the layer: expected "
                f"query, value, key shapes {built} (any positions), received {[query, value, key]}."
            )

    def compute_output_shape(self, shapes, return_attention_scores: bool = False, use_causal_mask: bool = False):
        query, value, _ = self._shapes(shapes)
        output = (*query[:-1], *(self._output_shape or query[-1:]))
        if not return_attention_scores:
            return output
        others, attended = self._axes(len(query))
        return [output, (query[0], *(query[a] for a in others), self.num_heads, *(query[a] for a in attended),
                         *(value[a] for a in attended))]

    def compute_mask(self, inputs, mask=None):
        """The query's mask goes on with the output (Keras)."""
        return None if mask is None else mask[0]

    # --- calling ----------------------------------------------------------------------------
    def __call__(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None,
                 attention_mask=None, return_attention_scores: bool = False, training: bool = False,
                 use_causal_mask: bool = False):
        """Keras's call: ``mha(query, value, key=None, attention_mask=None,
        return_attention_scores=False, training=False, use_causal_mask=False)`` on backend
        arrays, or on symbolic tensors to define a functional model. Returns the output, or
        ``[output, scores (batch, heads, T, S)]`` with ``return_attention_scores``."""
        if value is None:
            self._shapes(getattr(query, "shape", query))  # the error that names what is missing
        inputs = [query, value, value if key is None else key] + ([] if attention_mask is None else [attention_mask])
        options = _call_options(use_causal_mask, return_attention_scores)
        if symbolic.is_symbolic(inputs):
            _refuse_symbolic_masks(self, [query_mask, value_mask, key_mask], "Use attention_mask= for an explicit mask.")
            return symbolic.call(self, inputs, **options)
        shapes = [tuple(x.shape) for x in inputs[:3]]
        if not self.built:
            self.build([(None, *shape[1:]) for shape in shapes])
        self.check_input_shape(shapes)
        masks = [query_mask, value_mask, key_mask]
        y, _ = self.forward(inputs, training, mask=masks if any(m is not None for m in masks) else None, **options)
        return y

    def forward(self, inputs: list, training: bool = False, mask: list | None = None, use_causal_mask: bool = False,
                return_attention_scores: bool = False) -> tuple[Any, Callable]:
        """``[query, value, key]`` (+ ``[attention_mask]``) -> ``(output, backprop)``; ``mask``:
        the query's, value's and key's masks (or None). ``backprop(dy) -> [dquery, dvalue, dkey]``
        (+ ``[None]`` for the attention mask); with ``return_attention_scores`` the output is
        ``[output, scores]`` and ``dy`` a pair (either may be None)."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (3, 4):
            raise ValueError(f"MultiHeadAttention layer {self.name!r}: forward takes [query, value, key] "
                             f"(+ [attention_mask]); received {type(inputs).__name__}.")
        query, value, key = inputs[:3]
        xp = array_namespace(query)
        others, attended = self._axes(query.ndim)
        if others and (len(inputs) == 4 or mask is not None or use_causal_mask or self.sliding_window is not None):
            raise NotImplementedError(f"MultiHeadAttention layer {self.name!r}: masks (attention_mask, input masks, "
                                      "use_causal_mask, sliding_window) with attention over some of the axes are "
                                      "not supported.")
        # The axes not attended over join the batch axis, the attended ones are flattened:
        # (batch * others, T, dim) and (batch * others, S, dim).
        order = (0, *others, *attended, query.ndim - 1)
        lead = tuple(query.shape[a] for a in others)
        batch = query.shape[0] * math.prod(lead)
        query_axes = tuple(query.shape[a] for a in attended)
        value_axes = tuple(value.shape[a] for a in attended)

        def to_rows(x, trailing: int):
            """``(batch, *middle, *trailing)`` -> ``(batch * others, positions, *trailing)``."""
            x = xp.permute_dims(x, (*order[:-1], *range(x.ndim - trailing, x.ndim)))
            return xp.reshape(x, (batch, -1, *x.shape[x.ndim - trailing:]))

        flat = [to_rows(x, 1) for x in (query, value, key)]
        steps, sources = flat[0].shape[1], flat[1].shape[1]
        allowed = self._allowed(inputs[3] if len(inputs) == 4 else None, mask, use_causal_mask, batch, steps,
                                sources, xp, array_device(query))
        q, q_backprop = _heads(flat[0], self.query_kernel, self.query_bias)
        k, k_backprop = _heads(flat[2], self.key_kernel, self.key_bias)
        v, v_backprop = _heads(flat[1], self.value_kernel, self.value_bias)
        scale = 1.0 / math.sqrt(float(self.key_dim))
        q_scaled = q * scale
        scores = q_scaled @ xp.matrix_transpose(k)  # (batch, heads, T, S)
        if allowed is not None:
            scores = xp.where(allowed, scores, _MASKED_SCORE)
        probs, _ = activations.get("softmax").forward(scores)
        nothing = None  # the queries that may attend to nothing, on Keras's fused path
        if allowed is not None:
            probs = xp.where(allowed, probs, 0.0)
            if not self.dropout and not return_attention_scores and query.ndim == 3:
                # Keras's fused path (taken then): a query that may attend to nothing gets
                # the mean of all the values; its softmax path (otherwise) gives zeros.
                nothing = xp.logical_not(xp.any(allowed, axis=-1, keepdims=True))
                probs = xp.where(nothing, 1.0 / sources, probs)
        context, attend_backprop = _attend(probs, v, self.dropout if training else 0.0, self._generator)
        gate = gate_backprop = gate_activation_backprop = None
        if self.use_gate:
            gate_z, gate_backprop = _heads(flat[0], self.gate_kernel, self.gate_bias)
            gate, gate_activation_backprop = activations.get("sigmoid").forward(gate_z)
        combined = context if gate is None else context * gate
        heads_out = xp.reshape(xp.permute_dims(combined, (0, 2, 1, 3)), (batch * steps, -1))  # (batch*T, heads*vd)
        output_width = math.prod(self.output_kernel.shape[2:])
        output_matrix = xp.reshape(self.output_kernel.value, (-1, output_width))
        y = heads_out @ output_matrix
        if self.output_bias is not None:
            y = y + xp.reshape(self.output_bias.value, (output_width,))
        output_dims = tuple(self.output_kernel.shape[2:])
        unflatten = _unflatten(xp, (query.shape[0], *lead, *query_axes), order)
        unflatten_source = _unflatten(xp, (value.shape[0], *lead, *value_axes), order)  # value's and key's
        output = unflatten(xp.reshape(y, (batch, steps, *output_dims)), len(output_dims))

        def backprop(dy):
            d_output, d_scores = (dy[0], dy[1]) if return_attention_scores else (dy, None)
            if d_output is None:  # only the scores have a gradient: the weights get zeros
                d_output = xp.zeros_like(output)
            flat_dy = xp.reshape(to_rows(d_output, len(output_dims)), (batch * steps, output_width))
            self.output_kernel.grad = xp.reshape(xp.matrix_transpose(heads_out) @ flat_dy, self.output_kernel.shape)
            if self.output_bias is not None:
                self.output_bias.grad = xp.reshape(column_sums(flat_dy), self.output_bias.shape)
            d_combined = xp.permute_dims(xp.reshape(flat_dy @ xp.matrix_transpose(output_matrix),
                                                    (batch, steps, self.num_heads, -1)), (0, 2, 1, 3))
            d_context = d_combined if gate is None else d_combined * gate
            d_raw, d_v = attend_backprop(d_context, None if d_scores is None else xp.reshape(d_scores, tuple(probs.shape)))
            if nothing is not None:  # their uniform weights do not depend on the scores
                d_raw = xp.where(nothing, 0.0, d_raw)
            dv = v_backprop(d_v)
            dq = q_backprop((d_raw @ k) * scale)
            if gate is not None:
                dq = dq + gate_backprop(gate_activation_backprop(d_combined * context))
            dk = k_backprop(xp.matrix_transpose(d_raw) @ q_scaled)
            if self.key_bias is not None:
                # The key bias adds q . b to every score of a query's row, which the softmax
                # ignores (each row of d_raw sums to 0): its gradient is exactly zero, where
                # the computed one is rounding noise (as Keras's).
                self.key_bias.grad = xp.zeros_like(self.key_bias.value)
            grads = [unflatten(dq, 1), unflatten_source(dv, 1), unflatten_source(dk, 1)]
            return grads + [None] * (len(inputs) - 3)

        if return_attention_scores:
            scores_out = xp.reshape(probs, (query.shape[0], *lead, self.num_heads, *query_axes, *value_axes))
            return [output, scores_out], backprop
        return output, backprop

    def _allowed(self, attention_mask, masks, use_causal_mask: bool, batch: int, steps: int, sources: int, xp,
                 device) -> Any:
        """Where a query may attend, broadcastable to ``(batch, heads, T, S)`` (bool), or None."""
        parts = []
        if masks is not None:
            query_mask, value_mask, key_mask = masks[:3]  # the attention mask's own mask is not one
            if query_mask is not None:
                parts.append(xp.reshape(_as_bool(query_mask, xp), (batch, 1, steps, 1)))
            for source_mask in (value_mask, key_mask):
                if source_mask is not None:
                    parts.append(xp.reshape(_as_bool(source_mask, xp), (batch, 1, 1, sources)))
        if use_causal_mask:
            parts.append(_causal(steps, sources, xp, device))
        if self.sliding_window is not None:
            offsets = xp.reshape(xp.arange(steps, device=device), (steps, 1)) - xp.arange(sources, device=device)
            parts.append(xp.abs(offsets) < self.sliding_window)
        if attention_mask is not None:
            allowed = _as_bool(attention_mask, xp)
            if allowed.ndim == 2:  # (T, S) for every sample and head
                allowed = xp.reshape(allowed, (1, 1, steps, sources))
            elif allowed.ndim == 4 and allowed.shape[1] == self.num_heads:  # (batch, heads, T, S)
                pass
            else:  # (batch, *query axes, *source axes)
                allowed = xp.reshape(allowed, (allowed.shape[0], 1, steps, sources))
            parts.append(allowed)
        if not parts:
            return None
        return functools.reduce(xp.logical_and, parts)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "output_shape": list(self._output_shape) if self._output_shape else None,
            "attention_axes": list(self.attention_axes) if self.attention_axes is not None else None,
            "sliding_window": self.sliding_window,
            "flash_attention": self.flash_attention,
            "seed": self.seed,
        }


class Attention(Layer):
    """Dot-product attention (Luong), as Keras 3's ``Attention``: ``[query (batch, T, dim),
    value (batch, S, dim_v)]`` or ``[query, value, key (batch, S, dim)]`` -> ``(batch, T, dim_v)``.

    ``scores = query @ key.T`` (times a learned scalar ``scale``, initialized to 1, with
    ``use_scale``); ``score_mode="concat"``: ``concat_score_weight * sum(tanh(scale * (q +
    k)))`` over the features. ``softmax(scores)`` (``dropout`` on it in training) weights the
    values. Masks (Keras's rules for this layer): the value's mask and ``use_causal_mask``
    subtract 1e9 from the scores they exclude; the query's mask sets masked output rows to 0
    and goes on with the output.
    """

    multiple_inputs = True
    uses_mask = True
    supports_masking = True
    call_options = ("use_causal_mask", "return_attention_scores")

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"{type(self).__name__}: score_mode must be 'dot' or 'concat'. "
                             f"Received: score_mode={score_mode!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1). Received: dropout={dropout!r}")
        self.use_scale = use_scale
        self.score_mode = score_mode
        self.dropout = dropout
        self.seed = seed
        self._generator = host_random.generator(seed) if seed is not None else None
        self.scale = self.concat_score_weight = None
        self.input_shapes: list[Shape] | None = None

    def _shapes(self, shapes) -> list[tuple]:
        """``[query, value, key]`` shapes from a list of two or three, or a clear error."""
        if not isinstance(shapes, (list, tuple)) or len(shapes) not in (2, 3) \
                or not all(isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError(f"{type(self).__name__} layer {self.name!r} takes a list [query, value] or "
                             f"[query, value, key]; received {shapes!r}.")
        query, value, key = [tuple(s) for s in shapes] + ([tuple(shapes[1])] if len(shapes) == 2 else [])
        if query[-1] != key[-1] or value[:-1] != key[:-1] or len(query) != len(value):
            raise ValueError(f"{type(self).__name__} layer {self.name!r}: query and key need the same last "
                             f"dimension, value and key the same dimensions but the last, all the same rank; "
                             f"received query {query}, value {value}, key {key}.")
        return [query, value, key]

    def build(self, input_shape) -> None:
        shapes = self._shapes(input_shape)
        self._make_weights(shapes[0][-1])
        self.input_shapes = shapes
        self.built = True

    def _make_weights(self, dim: int) -> None:
        if self.use_scale:
            self.scale = self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones")

    def check_input_shape(self, shapes) -> None:
        shapes = self._shapes(shapes)
        if self.input_shapes is not None and any(s[-1] != b[-1] for s, b in zip(shapes, self.input_shapes)):
            raise ValueError(f"Inputs of {type(self).__name__} layer {self.name!r} are incompatible with the layer: "
                             f"expected [query, value, key] shapes {self.input_shapes} (any positions), "
                             f"received {shapes}.")

    def compute_output_shape(self, shapes, return_attention_scores: bool = False, use_causal_mask: bool = False):
        query, value, key = self._shapes(shapes)
        output = (*query[:-1], value[-1])
        return [output, (*query[:-1], key[-2])] if return_attention_scores else output

    def compute_mask(self, inputs, mask=None):
        """The query's mask goes on with the output (Keras)."""
        return None if mask is None else mask[0]

    def __call__(self, inputs, mask=None, training: bool = False, return_attention_scores: bool = False,
                 use_causal_mask: bool = False):
        """Keras's call on a list ``[query, value(, key)]`` of backend arrays (``mask``: a list of
        their masks) or of symbolic tensors; with ``return_attention_scores`` ``[output, scores
        (batch, T, S)]``."""
        options = _call_options(use_causal_mask, return_attention_scores)
        if symbolic.is_symbolic(inputs):
            _refuse_symbolic_masks(self, [mask])
            return symbolic.call(self, inputs, **options)
        shapes = self._shapes([tuple(getattr(x, "shape", ())) for x in inputs]
                              if isinstance(inputs, (list, tuple)) else inputs)
        if not self.built:
            self.build([(None, *shape[1:]) for shape in shapes])
        self.check_input_shape(shapes)
        return self.forward(list(inputs), training, mask=mask, **options)[0]

    def forward(self, inputs: list, training: bool = False, mask: list | None = None, use_causal_mask: bool = False,
                return_attention_scores: bool = False) -> tuple[Any, Callable]:
        """``[query, value(, key)] -> (output, backprop)``; ``backprop(dy)`` gives one gradient
        per input; with ``return_attention_scores`` the output is ``[output, scores]`` and ``dy``
        a pair (either may be None)."""
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        xp = array_namespace(query)
        query_mask, value_mask = (mask[0], mask[1]) if mask is not None else (None, None)
        scores, scores_backprop = self._scores(query, key)
        excluded = None  # where the scores are lowered by 1e9: (..., 1 or T, S)
        if value_mask is not None:
            excluded = xp.logical_not(_as_bool(value_mask, xp))[..., None, :]
        if use_causal_mask:
            future = xp.logical_not(_causal(scores.shape[-2], scores.shape[-1], xp, array_device(query)))
            excluded = future if excluded is None else xp.logical_or(excluded, future)
        if excluded is not None:
            scores = xp.where(excluded, scores - 1e9, scores)  # Keras subtracts: the gradient passes
        probs, _ = activations.get("softmax").forward(scores)
        context, attend_backprop = _attend(probs, value, self.dropout if training else 0.0, self._generator)
        kept_rows = None if query_mask is None else _as_bool(query_mask, xp)[..., None]
        output = context if kept_rows is None else xp.where(kept_rows, context, 0.0)

        def backprop(dy):
            d_output, d_scores = (dy[0], dy[1]) if return_attention_scores else (dy, None)
            if d_output is None:
                d_output = xp.zeros_like(output)
            d_context = d_output if kept_rows is None else xp.where(kept_rows, d_output, 0.0)
            d_raw, d_value = attend_backprop(d_context, d_scores)
            d_query, d_key = scores_backprop(d_raw)
            if len(inputs) == 2:  # the value is also the key
                return [d_query, d_value + d_key]
            return [d_query, d_value, d_key]

        return ([output, probs] if return_attention_scores else output), backprop

    def _scores(self, query, key) -> tuple[Any, Callable]:
        """``(..., T, dim), (..., S, dim) -> (..., T, S)`` and ``backprop(d_scores) -> (d_query,
        d_key)``, which stores the weights' gradients."""
        xp = array_namespace(query)
        if self.score_mode == "dot":
            products = query @ xp.matrix_transpose(key)
            scale = None if self.scale is None else self.scale.value

            def dot_backprop(d_scores):
                if scale is not None:
                    self.scale.grad = xp.sum(d_scores * products)
                    d_scores = d_scores * scale
                return d_scores @ key, xp.matrix_transpose(d_scores) @ query

            return (products if scale is None else products * scale), dot_backprop
        sums = query[..., :, None, :] + key[..., None, :, :]  # (..., T, S, dim)
        scale = None if self.scale is None else self.scale.value
        t = xp.tanh(sums if scale is None else sums * scale)
        weight = self.concat_score_weight.value

        def concat_backprop(d_scores):
            self.concat_score_weight.grad = xp.sum(d_scores * xp.sum(t, axis=-1))
            d_inner = (d_scores * weight)[..., None] * (1.0 - t * t)  # (..., T, S, dim)
            if scale is not None:
                self.scale.grad = xp.sum(d_inner * sums)
                d_inner = d_inner * scale
            return xp.sum(d_inner, axis=-2), xp.sum(d_inner, axis=-3)

        return weight * xp.sum(t, axis=-1), concat_backprop

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Additive attention (Bahdanau), as Keras 3's: ``scores = sum(scale * tanh(query + key))``
    over the features, with a learned ``scale (dim,)`` (``use_scale=True``, Keras's default,
    glorot_uniform) or 1. The rest as `Attention`."""

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def _make_weights(self, dim: int) -> None:
        if self.use_scale:
            self.scale = self.add_weight("scale", (dim,), "glorot_uniform")

    def _scores(self, query, key) -> tuple[Any, Callable]:
        xp = array_namespace(query)
        t = xp.tanh(query[..., :, None, :] + key[..., None, :, :])  # (..., T, S, dim)
        scale = None if self.scale is None else self.scale.value

        def backprop(d_scores):
            d_t = d_scores[..., None] if scale is None else d_scores[..., None] * scale
            if scale is not None:
                self.scale.grad = xp.reshape(xp.sum(d_scores[..., None] * t, axis=tuple(range(t.ndim - 1))),
                                             tuple(scale.shape))
            d_inner = d_t * (1.0 - t * t)
            return xp.sum(d_inner, axis=-2), xp.sum(d_inner, axis=-3)

        return xp.sum(t if scale is None else t * scale, axis=-1), backprop

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config


def _unflatten(xp, shape: tuple, order: tuple) -> Callable:
    """The inverse of MultiHeadAttention's flattening of an input's positions: ``(batch *
    others, positions, *trailing)`` -> ``shape`` (batch, others, attended axes) plus the
    trailing axes, in the input's own axis order again (``order`` took it to that one)."""
    inverse = [order.index(a) for a in range(len(order) - 1)]

    def apply(x, trailing: int):
        x = xp.reshape(x, (*shape, *x.shape[2:]))
        return xp.permute_dims(x, (*inverse, *range(len(inverse), len(inverse) + trailing)))

    return apply


def _attend(probs, value, rate: float, generator) -> tuple[Any, Callable]:
    """``probs (..., T, S)`` (after the softmax and any masking), with dropout of ``rate`` (0:
    none), times ``value (..., S, dv)`` -> ``(..., T, dv)``; ``backprop(d_context, d_probs)``
    (``d_probs``: a gradient reaching the probabilities directly, or None) -> ``(d_scores,
    d_value)``, the softmax's backward included. A probability that masking set to 0 passes
    no gradient to its score (the formula multiplies by it)."""
    xp = array_namespace(probs)
    keep = dropout_mask(tuple(probs.shape), rate, probs.dtype, generator) if rate else None
    dropped = probs if keep is None else probs * keep

    def backprop(d_context, d_probs):
        d_dropped = d_context @ xp.matrix_transpose(value)
        d_all = d_dropped if keep is None else d_dropped * keep
        if d_probs is not None:
            d_all = d_all + d_probs
        d_scores = probs * (d_all - xp.sum(d_all * probs, axis=-1, keepdims=True))
        return d_scores, xp.matrix_transpose(dropped) @ d_context

    return dropped @ value, backprop


def _call_options(use_causal_mask: bool, return_attention_scores: bool) -> dict:
    """The options a functional model keeps per call (only those set)."""
    return {name: True for name, given in (("use_causal_mask", use_causal_mask),
                                           ("return_attention_scores", return_attention_scores)) if given}


def _causal(steps: int, sources: int, xp, device) -> Any:
    """``(T, S)`` bool: query i may attend to key j when j <= i."""
    return xp.reshape(xp.arange(steps, device=device), (steps, 1)) >= xp.reshape(xp.arange(sources, device=device),
                                                                                  (1, sources))


def _refuse_symbolic_masks(layer, masks: list, hint: str = "") -> None:
    if any(m is not None for m in masks):
        raise NotImplementedError(
            f"{type(layer).__name__} layer {layer.name!r}: in a functional model the masks flow from the layers "
            "that make them (e.g. Embedding(mask_zero=True)); explicit masks are for calls on arrays. " + hint
        )


def _as_bool(mask, xp):
    """A mask as booleans: True (or nonzero) keeps."""
    return mask if mask.dtype == xp.bool else mask != 0


def _heads(x, kernel, bias) -> tuple[Any, Callable]:
    """A projection into heads, Keras's EinsumDense ``abc,cde->abde``: ``x (batch, T, dim)`` ->
    ``(batch, heads, T, head_dim)`` with ``kernel (dim, heads, head_dim)``, ``bias (heads,
    head_dim)`` or None; ``backprop(dy (batch, heads, T, head_dim)) -> dx (batch, T, dim)``
    stores the weights' gradients."""
    xp = array_namespace(x)
    batch, steps, dim = x.shape
    heads, head_dim = kernel.shape[1], kernel.shape[2]
    matrix = xp.reshape(kernel.value, (dim, heads * head_dim))
    rows = xp.reshape(x, (batch * steps, dim))
    y = rows @ matrix
    if bias is not None:
        y = y + xp.reshape(bias.value, (heads * head_dim,))
    y = xp.permute_dims(xp.reshape(y, (batch, steps, heads, head_dim)), (0, 2, 1, 3))

    def backprop(dy):
        dy_rows = xp.reshape(xp.permute_dims(dy, (0, 2, 1, 3)), (batch * steps, heads * head_dim))
        kernel.grad = xp.reshape(xp.matrix_transpose(rows) @ dy_rows, kernel.shape)
        if bias is not None:
            bias.grad = xp.reshape(column_sums(dy_rows), bias.shape)
        return xp.reshape(dy_rows @ xp.matrix_transpose(matrix), (batch, steps, dim))

    return y, backprop
