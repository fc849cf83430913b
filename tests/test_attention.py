"""MultiHeadAttention: Keras-layout weights vs a NumPy reference written here independently
(einsums), backward vs finite differences in float64, masks, dropout, the functional call path
(options per call, saving), and clear errors; on every backend."""

import numpy as np
import pytest

import deepcore as dc
from deepcore.layers import MultiHeadAttention
from deepcore.models import Model, Sequential, load_model
from deepcore.testing.gradients import check_backward
from multi_input_checks import check_each_input

# A few float64 matmuls, a softmax and a sigmoid: 1000 eps covers their rounding.
RTOL64 = 1000 * np.finfo(np.float64).eps
BATCH, T, S = 2, 4, 5


@pytest.fixture
def float64():
    dc.set_floatx("float64")  # the autouse fixture in conftest.py restores float32


def on(backend, host):
    if host.dtype == bool:
        return backend.asarray(host)
    return backend.asarray(host, dtype=backend.dtype("float64"))


def reference(q, v, k, weights, heads_scale, use_gate=False, use_bias=True, allowed=None):
    """Keras's formulas with einsums; ``allowed (batch or 1, 1, T, S)`` bool or None."""
    if use_bias:
        weights = list(weights)
    else:  # no biases in the list: put zeros where they would be
        kernels = list(weights)
        weights = []
        for kernel in kernels[:-1]:
            weights += [kernel, np.zeros(kernel.shape[1:])]
        weights += [kernels[-1], np.zeros(kernels[-1].shape[2:])]
    wq, bq, wk, bk = weights[:4]
    if use_gate:
        wg, bg, wv, bv, wo, bo = weights[4:]
    else:
        wv, bv, wo, bo = weights[4:]
    query = np.einsum("btd,dhk->bhtk", q, wq) + bq[None, :, None, :]
    key = np.einsum("bsd,dhk->bhsk", k, wk) + bk[None, :, None, :]
    value = np.einsum("bsd,dhv->bhsv", v, wv) + bv[None, :, None, :]
    scores = np.einsum("bhtk,bhsk->bhts", query, key) * heads_scale
    if allowed is not None:
        scores = np.where(allowed, scores, -1e9)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = e / e.sum(axis=-1, keepdims=True)
    if allowed is not None:
        probs = np.where(allowed, probs, 0.0)
    context = np.einsum("bhts,bhsv->bhtv", probs, value)
    if use_gate:
        context = context / (1.0 + np.exp(-(np.einsum("btd,dhv->bhtv", q, wg) + bg[None, :, None, :])))
    out = np.einsum("bhtv,hv...->bt...", context, wo) + bo
    return out, probs


def draw(seed=0, query_dim=6, value_dim_in=7, key_dim_in=3):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((BATCH, T, query_dim)), rng.standard_normal((BATCH, S, value_dim_in)),
            rng.standard_normal((BATCH, S, key_dim_in)))


def built(q, v, k, weights_seed=1, **kwargs) -> MultiHeadAttention:
    """A layer built for these inputs, with random (not zero) biases so that they are checked."""
    layer = MultiHeadAttention(**kwargs)
    layer.build(q.shape, v.shape, k.shape)
    rng = np.random.default_rng(weights_seed)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    return layer


CONFIGS = [
    dict(num_heads=2, key_dim=3),
    dict(num_heads=3, key_dim=2, value_dim=4),
    dict(num_heads=2, key_dim=3, output_shape=(2, 3)),
    dict(num_heads=2, key_dim=3, use_gate=True),
    dict(num_heads=1, key_dim=4, use_bias=False),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_forward_matches_the_reference_with_keras_weight_shapes(backend, float64, config):
    q, v, k = draw()
    layer = built(q, v, k, **config)
    heads, key_dim = config["num_heads"], config["key_dim"]
    value_dim = config.get("value_dim", key_dim)
    output = config.get("output_shape", (q.shape[-1],))
    expected_shapes = [(6, heads, key_dim), (heads, key_dim), (3, heads, key_dim), (heads, key_dim)]
    if config.get("use_gate"):
        expected_shapes += [(6, heads, value_dim), (heads, value_dim)]
    expected_shapes += [(7, heads, value_dim), (heads, value_dim), (heads, value_dim, *output), tuple(output)]
    if not config.get("use_bias", True):
        expected_shapes = [shape for shape in expected_shapes if len(shape) == 3]
    assert [w.shape for w in layer.get_weights()] == expected_shapes  # Keras's order and shapes
    y = layer(on(backend, q), on(backend, v), on(backend, k))
    expected, _ = reference(q, v, k, layer.get_weights(), 1 / np.sqrt(key_dim), config.get("use_gate", False),
                            config.get("use_bias", True))
    assert tuple(y.shape) == layer.compute_output_shape([q.shape, v.shape, k.shape]) == expected.shape
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=RTOL64, atol=1e-12)


def test_key_defaults_to_value_and_weight_names_follow_keras(backend, float64):
    q, v, _ = draw(value_dim_in=3)
    layer = built(q, v, v, num_heads=2, key_dim=3, name="mha")
    with_key = layer(on(backend, q), on(backend, v), on(backend, v))
    np.testing.assert_array_equal(backend.to_numpy(layer(on(backend, q), on(backend, v))), backend.to_numpy(with_key))
    assert [w.name for w in layer.weights] == [
        "mha/query/kernel", "mha/query/bias", "mha/key/kernel", "mha/key/bias", "mha/value/kernel", "mha/value/bias",
        "mha/attention_output/kernel", "mha/attention_output/bias"]


def masks_case(rng):
    query_mask = np.ones((BATCH, T), bool)
    query_mask[1, -1] = False
    value_mask = np.ones((BATCH, S), bool)
    value_mask[0, -2:] = False
    attention_mask = rng.random((BATCH, T, S)) > 0.3
    attention_mask[0, 1, :] = False  # a query that may attend to nothing
    return query_mask, value_mask, attention_mask


def test_masks_combine_by_and_and_a_fully_masked_query_gets_zeros(backend, float64):
    q, v, k = draw()
    layer = built(q, v, k, num_heads=2, key_dim=3, sliding_window=2)
    query_mask, value_mask, attention_mask = masks_case(np.random.default_rng(3))
    rows, columns = np.arange(T)[:, None], np.arange(S)[None, :]
    allowed = (query_mask[:, :, None] & value_mask[:, None, :] & attention_mask & (rows >= columns)
               & (np.abs(rows - columns) < 2))[:, None]
    y, scores = layer(on(backend, q), on(backend, v), on(backend, k), query_mask=on(backend, query_mask),
                      value_mask=on(backend, value_mask), attention_mask=on(backend, attention_mask.astype(float)),
                      use_causal_mask=True, return_attention_scores=True)
    expected, probs = reference(q, v, k, layer.get_weights(), 1 / np.sqrt(3), allowed=allowed)
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=RTOL64, atol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(scores), probs, rtol=RTOL64, atol=1e-12)
    assert np.all(backend.to_numpy(scores)[0, :, 1, :] == 0.0)  # attends to nothing: zeros, not uniform
    assert np.all(backend.to_numpy(scores)[~np.broadcast_to(allowed, probs.shape)] == 0.0)
    np.testing.assert_allclose(backend.to_numpy(scores).sum(-1)[np.broadcast_to(allowed, probs.shape).any(-1)], 1.0)


def test_a_query_that_may_attend_to_nothing_follows_kerass_two_paths(backend, float64):
    """Keras's fused path (no dropout, no scores returned) averages all the values for such a
    query; its softmax path (dropout or scores) gives zeros. Either way the probabilities of
    the other queries are the masked softmax."""
    q, v, k = draw()
    allowed = np.ones((BATCH, T, S), bool)
    allowed[0, 2, :] = False
    inputs = [on(backend, a) for a in (q, v, k)]
    for dropout, scores_too in [(0.0, False), (0.0, True), (0.3, False)]:
        layer = built(q, v, k, num_heads=2, key_dim=3, dropout=dropout)
        got = layer(*inputs, attention_mask=on(backend, allowed), return_attention_scores=scores_too)
        got = got[0] if scores_too else got
        expected, _ = reference(q, v, k, layer.get_weights(), 1 / np.sqrt(3), allowed=allowed[:, None])
        fused = dropout == 0.0 and not scores_too
        if fused:  # the query's heads take the mean of the values, then the output projection
            wv, bv, wo, bo = layer.get_weights()[4:]
            mean_values = np.einsum("sd,dhv->hv", v[0], wv) / S + bv  # (heads, value_dim)
            expected[0, 2] = np.einsum("hv,hvo->o", mean_values, wo) + bo
        np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=RTOL64, atol=1e-12,
                                   err_msg=f"dropout={dropout}, scores={scores_too}")


@pytest.mark.parametrize("shape", [(T, S), (BATCH, T, S), (BATCH, 2, T, S)], ids=["2d", "3d", "per-head"])
def test_attention_mask_broadcasts_over_batch_and_heads(backend, float64, shape):
    q, v, k = draw()
    layer = built(q, v, k, num_heads=2, key_dim=3)
    mask = np.random.default_rng(4).random(shape) > 0.4
    mask[..., 0] = True
    full = mask.reshape((1, 1, T, S)) if len(shape) == 2 else mask.reshape((BATCH, -1, T, S))
    y = layer(on(backend, q), on(backend, v), on(backend, k), attention_mask=on(backend, mask))
    expected, _ = reference(q, v, k, layer.get_weights(), 1 / np.sqrt(3), allowed=full)
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=RTOL64, atol=1e-12)


def test_inputs_of_higher_rank_attend_over_all_middle_axes(backend, float64):
    rng = np.random.default_rng(5)
    q, v = rng.standard_normal((2, 2, 3, 4)), rng.standard_normal((2, 3, 2, 5))
    layer = built(q, v, v, num_heads=2, key_dim=2)
    y, scores = layer(on(backend, q), on(backend, v), return_attention_scores=True)
    flat_q, flat_v = q.reshape(2, 6, 4), v.reshape(2, 6, 5)
    expected, probs = reference(flat_q, flat_v, flat_v, layer.get_weights(), 1 / np.sqrt(2))
    assert tuple(y.shape) == (2, 2, 3, 4) and tuple(scores.shape) == (2, 2, 2, 3, 3, 2)
    assert [tuple(s) for s in layer.compute_output_shape([q.shape, v.shape, v.shape], return_attention_scores=True)] \
        == [tuple(y.shape), tuple(scores.shape)]
    np.testing.assert_allclose(backend.to_numpy(y), expected.reshape(2, 2, 3, 4), rtol=RTOL64, atol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(scores), probs.reshape(2, 2, 2, 3, 3, 2), rtol=RTOL64, atol=1e-12)


def test_attention_over_some_axes_treats_the_others_as_batch(backend, float64):
    """(batch, 3, 4, dim) attending over axis 2 only: each of the 3 rows attends within itself;
    over (2, 3) of a rank-5 input likewise per index of axis 1 (Keras's attention_axes)."""
    rng = np.random.default_rng(9)
    for shape, axes in [((2, 3, 4, 5), (2,)), ((2, 3, 2, 2, 5), (2, 3)), ((2, 3, 4, 5), (1,))]:
        q, v = rng.standard_normal(shape), rng.standard_normal(shape[:-1] + (6,))
        layer = MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=axes)
        layer.build(q.shape, v.shape)
        layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])
        y, scores = layer(on(backend, q), on(backend, v), return_attention_scores=True)
        others = [a for a in range(1, len(shape) - 1) if a not in axes]
        order = (0, *others, *axes, len(shape) - 1)
        lead = int(np.prod([shape[a] for a in others]))
        flat_q = np.transpose(q, order).reshape(shape[0] * lead, -1, shape[-1])
        flat_v = np.transpose(v, order).reshape(shape[0] * lead, -1, 6)
        expected, probs = reference(flat_q, flat_v, flat_v, layer.get_weights(), 1 / np.sqrt(3))
        permuted = [shape[a] for a in order[:-1]]
        expected = np.transpose(expected.reshape(*permuted, shape[-1]), np.argsort(order))
        np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=RTOL64, atol=1e-12, err_msg=str(axes))
        attended = [shape[a] for a in axes]
        expected_scores = probs.reshape(shape[0], *[shape[a] for a in others], 2, *attended, *attended)
        assert tuple(scores.shape) == expected_scores.shape == tuple(
            layer.compute_output_shape([q.shape, v.shape, v.shape], return_attention_scores=True)[1])
        np.testing.assert_allclose(backend.to_numpy(scores), expected_scores, rtol=RTOL64, atol=1e-12)
        check_each_input(backend, layer, [q, v, v], f"attention_axes={axes}", layer.weights)


def test_masks_with_attention_over_some_axes_are_refused(backend):
    layer = MultiHeadAttention(num_heads=1, key_dim=2, attention_axes=(2,))
    x = backend.asarray(np.zeros((1, 2, 3, 4), "float32"))
    with pytest.raises(NotImplementedError, match="masks .* with attention over some of the axes"):
        layer(x, x, use_causal_mask=True)


GRADIENT_CASES = [
    (dict(num_heads=2, key_dim=3), {}),
    (dict(num_heads=2, key_dim=3, value_dim=2, use_gate=True, output_shape=4), dict(use_causal_mask=True)),
    (dict(num_heads=1, key_dim=2, use_bias=False, sliding_window=2), {}),
]


@pytest.mark.parametrize("config, options", GRADIENT_CASES, ids=["plain", "gate-causal", "no-bias-window"])
def test_backward_matches_finite_differences(backend, float64, config, options):
    q, v, k = draw()
    layer = built(q, v, k, **config)
    masks = [np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool), np.array([[1, 1, 1, 1, 0], [1, 0, 1, 1, 1]], bool), None]
    backend_masks = [None if m is None else on(backend, m) for m in masks]
    check_each_input(backend, layer, [q, v, k], str(config), layer.weights, mask=backend_masks, **options)


def test_the_key_bias_gradient_is_exactly_zero(backend, float64):
    """Adding q . b_k to a whole row of scores leaves the softmax unchanged."""
    q, v, k = draw()
    layer = built(q, v, k, num_heads=2, key_dim=3)
    _, backprop = layer.forward([on(backend, a) for a in (q, v, k)])
    backprop(on(backend, np.random.default_rng(2).standard_normal((BATCH, T, 6))))
    assert np.all(backend.to_numpy(layer.key_bias.grad) == 0.0)
    assert np.all(backend.to_numpy(layer.query_bias.grad) != 0.0)


def test_backward_with_the_scores_as_a_second_output(backend, float64):
    """Gradients reaching the scores add to those through the output; either alone works too."""
    q, v, k = draw()
    layer = built(q, v, k, num_heads=2, key_dim=3)
    r = np.random.default_rng(7)
    d_output, d_scores = r.standard_normal((BATCH, T, 6)), r.standard_normal((BATCH, 2, T, S))
    for use_output, use_scores in [(True, True), (False, True), (True, False)]:
        def forward(x):
            (y, scores), backprop = layer.forward([x, on(backend, v), on(backend, k)], return_attention_scores=True)
            xp = dc.get_backend().xp
            total = (xp.sum(y * on(backend, d_output)) * float(use_output)
                     + xp.sum(scores * on(backend, d_scores)) * float(use_scores))
            return xp.reshape(total, (1,)), lambda dy: backprop(
                [on(backend, d_output) * float(dy[0]) if use_output else None,
                 on(backend, d_scores) * float(dy[0]) if use_scores else None])[0]

        check_backward(forward, q, layer.weights, label=f"output={use_output}, scores={use_scores}")


def test_backward_through_dropout_uses_the_same_mask(backend, float64, monkeypatch):
    """Finite differences need the same dropped probabilities in every forward: one fixed mask."""
    from deepcore.layers import attention

    q, v, k = draw()
    layer = built(q, v, k, num_heads=2, key_dim=3, dropout=0.5)
    keep = (np.random.default_rng(8).random((BATCH, 2, T, S)) > 0.5) * 2.0
    monkeypatch.setattr(attention, "dropout_mask", lambda shape, rate, dtype, generator: on(backend, keep))

    def forward(x):
        y, backprop = layer.forward([x, on(backend, v), on(backend, k)], training=True)
        return y, lambda dy: backprop(dy)[0]

    check_backward(forward, q, layer.weights, label="dropout")


def test_dropout_drops_probabilities_in_training_only(backend, float64):
    q, v, k = draw()
    layer = built(q, v, k, num_heads=2, key_dim=3, dropout=0.5, seed=3)
    inputs = [on(backend, a) for a in (q, v, k)]
    inference = backend.to_numpy(layer(*inputs))
    expected, _ = reference(q, v, k, layer.get_weights(), 1 / np.sqrt(3))
    np.testing.assert_allclose(inference, expected, rtol=RTOL64, atol=1e-12)
    trained = [backend.to_numpy(layer(*inputs, training=True)) for _ in range(2)]
    assert not np.allclose(trained[0], inference) and not np.allclose(trained[0], trained[1])
    again = built(q, v, k, num_heads=2, key_dim=3, dropout=0.5, seed=3)
    np.testing.assert_array_equal(backend.to_numpy(again(*inputs, training=True)), trained[0])  # seeded


def trains_and_round_trips(model, x, y, loss: str, learning_rate: float, epochs: int, batch_size: int, path):
    """Adam halves the loss at least; the saved and loaded model predicts the same. The loaded one."""
    model.compile(optimizer=dc.optimizers.Adam(learning_rate), loss=loss)
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    return loaded


def self_attention_model(causal: bool = True) -> Model:
    tokens = dc.layers.Input((6,), dtype="int32")
    x = dc.layers.Embedding(10, 8, mask_zero=True)(tokens)
    x = dc.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attention")(x, x, use_causal_mask=causal)
    x = dc.layers.GlobalAveragePooling1D()(x)
    return Model(tokens, dc.layers.Dense(1, activation="sigmoid")(x))


def test_a_functional_model_trains_keeps_its_options_and_saves(backend, tmp_path):
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 10, (64, 6))
    tokens[::3, 4:] = 0  # padding, masked by the embedding
    labels = (np.sum(tokens == 3, axis=1) > 0).astype("float32")  # is there a 3 anywhere?
    model = self_attention_model()
    assert model.get_layer("attention").inbound_nodes[0].options == {"use_causal_mask": True}
    trains_and_round_trips(model, tokens, labels, "binary_crossentropy", 0.01, epochs=30, batch_size=16,
                           path=tmp_path / "attention.deepcore")
    # The causal option is kept: without it the same weights give other predictions.
    acausal = self_attention_model(causal=False)
    acausal.set_weights(model.get_weights())
    assert not np.allclose(acausal.predict(tokens, verbose=0), model.predict(tokens, verbose=0))


def test_a_model_called_as_a_layer_repeats_the_options_and_masks_flow(backend):
    inner = self_attention_model()
    tokens = dc.layers.Input((6,), dtype="int32")
    outer = Model(tokens, inner(tokens))
    data = np.random.default_rng(1).integers(0, 10, (5, 6))
    np.testing.assert_array_equal(outer.predict(data, verbose=0), inner.predict(data, verbose=0))
    attention = inner.get_layer("attention")
    mask = attention.compute_mask(None, [backend.asarray(data != 0), None, None])
    np.testing.assert_array_equal(backend.to_numpy(mask), data != 0)  # the query's mask goes on


def test_an_attention_mask_input_gets_no_gradient_from_the_attention(backend):
    """The mask's gradient is None from the attention; here it also feeds a Dense, whose
    gradient alone reaches it."""
    query = dc.layers.Input((3, 4))
    allowed = dc.layers.Input((3, 3))
    attended = dc.layers.MultiHeadAttention(num_heads=1, key_dim=2)(query, query, attention_mask=allowed)
    dense = dc.layers.Dense(4)
    model = Model([query, allowed], dc.layers.Add()([attended, dense(allowed)]))
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype("float32")
    mask = np.tril(np.ones((2, 3, 3), "float32"))
    dy = np.random.default_rng(1).standard_normal((2, 3, 4)).astype("float32")
    _, _, backprop = model.forward_with_mask((backend.asarray(x), backend.asarray(mask)), training=True)
    dx, dmask = backprop(backend.asarray(dy))
    assert tuple(dx.shape) == (2, 3, 4)
    np.testing.assert_allclose(backend.to_numpy(dmask), dy @ dense.get_weights()[0].T, rtol=1e-6, atol=1e-6)


def test_kernel_constraint_applies_to_every_projection(backend):
    q, v, k = draw()
    layer = MultiHeadAttention(num_heads=2, key_dim=3, kernel_constraint="non_neg", bias_constraint="non_neg")
    layer.build(q.shape, v.shape, k.shape)
    assert {variable.name.split("/", 1)[1]: type(variable.constraint).__name__ for variable in layer.weights} == {
        f"{part}/{kind}": "NonNeg" for part in ("query", "key", "value", "attention_output")
        for kind in ("kernel", "bias")}


@pytest.mark.parametrize("make, message", [
    (lambda: Sequential([dc.layers.Input((4, 3)), MultiHeadAttention(num_heads=1, key_dim=2)]),
     "takes a query and a value"),
    (lambda: MultiHeadAttention(num_heads=1, key_dim=2)(dc.layers.Input((4, 3)), dc.layers.Input((4, 3, 2))),
     "same rank"),
    (lambda: MultiHeadAttention(num_heads=1, key_dim=2)(dc.layers.Input((4, 3)), dc.layers.Input((5, 3)),
                                                        dc.layers.Input((6, 3))),
     "all dimensions of value and key but the last"),
    (lambda: MultiHeadAttention(num_heads=1, key_dim=2, attention_axes=3)(dc.layers.Input((4, 3, 2)),
                                                                          dc.layers.Input((4, 3, 2))),
     r"attention_axes=\(3,\) must name axes between batch and features"),
    (lambda: MultiHeadAttention(num_heads=0, key_dim=2), "num_heads must be a positive integer"),
    (lambda: MultiHeadAttention(num_heads=1, key_dim=2, dropout=1.0), "dropout must be in"),
    (lambda: MultiHeadAttention(num_heads=1, key_dim=2, activity_regularizer="l2"), "activity_regularizer"),
])
def test_bad_arguments_are_refused_by_name(make, message):
    with pytest.raises((ValueError, NotImplementedError), match=message):
        make()


@pytest.mark.parametrize("axes", [None, 1, (1,), -2], ids=["none", "1", "tuple", "negative"])
def test_attention_axes_that_name_the_positions_are_accepted(backend, axes):
    """As Keras, a negative axis counts from the end of the projected query (batch, T, heads, size)."""
    layer = MultiHeadAttention(num_heads=1, key_dim=2, attention_axes=axes)
    layer.build((None, 4, 3), (None, 5, 3))
    assert layer.built


def test_a_built_layer_refuses_other_feature_sizes(backend, float64):
    q, v, k = draw()
    layer = built(q, v, k, num_heads=1, key_dim=2)
    with pytest.raises(ValueError, match="incompatible with the layer"):
        layer(on(backend, q[..., :5]), on(backend, v), on(backend, k))
    y = layer(on(backend, q[:, :2]), on(backend, v[:, :3]), on(backend, k[:, :3]))  # other lengths are fine
    assert tuple(y.shape) == (BATCH, 2, 6)


# --- Attention and AdditiveAttention ------------------------------------------------------------

def reference_dot_or_additive(q, v, k, score, query_mask=None, value_mask=None, causal=False):
    """Keras's Attention/AdditiveAttention: excluded scores lowered by 1e9, masked queries' rows 0."""
    scores = score(q[:, :, None, :], k[:, None, :, :], q @ k.transpose(0, 2, 1))
    excluded = np.zeros(scores.shape, bool)
    if value_mask is not None:
        excluded |= ~value_mask[:, None, :]
    if causal:
        excluded |= np.arange(T)[:, None] < np.arange(S)[None, :]
    scores = np.where(excluded, scores - 1e9, scores)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = e / e.sum(axis=-1, keepdims=True)
    out = probs @ v
    return (out if query_mask is None else np.where(query_mask[..., None], out, 0.0)), probs


SCORES = {  # name: (make, score(q (b,T,1,d), k (b,1,S,d), q @ k.T) with the layer's weights)
    "dot": (lambda: dc.layers.Attention(), lambda w: lambda q, k, qk: qk),
    "dot-scaled": (lambda: dc.layers.Attention(use_scale=True), lambda w: lambda q, k, qk: qk * w[0]),
    "concat": (lambda: dc.layers.Attention(score_mode="concat"),
               lambda w: lambda q, k, qk: w[0] * np.tanh(q + k).sum(-1)),
    "concat-scaled": (lambda: dc.layers.Attention(score_mode="concat", use_scale=True),
                      lambda w: lambda q, k, qk: w[1] * np.tanh(w[0] * (q + k)).sum(-1)),
    "additive": (lambda: dc.layers.AdditiveAttention(), lambda w: lambda q, k, qk: (w[0] * np.tanh(q + k)).sum(-1)),
    "additive-unscaled": (lambda: dc.layers.AdditiveAttention(use_scale=False),
                          lambda w: lambda q, k, qk: np.tanh(q + k).sum(-1)),
}


def attention_inputs():
    rng = np.random.default_rng(11)
    q, v, k = rng.standard_normal((BATCH, T, 3)), rng.standard_normal((BATCH, S, 4)), rng.standard_normal((BATCH, S, 3))
    query_mask = np.array([[1, 1, 0, 1], [1, 1, 1, 1]], bool)
    value_mask = np.array([[1, 1, 1, 1, 0], [1, 0, 1, 1, 1]], bool)
    return q, v, k, query_mask, value_mask


def built_attention(name, shapes):
    layer = SCORES[name][0]()
    layer.build(shapes)
    layer.set_weights([w + 0.5 for w in layer.get_weights()])  # away from the initial 1s
    return layer


@pytest.mark.parametrize("name", SCORES)
@pytest.mark.parametrize("causal", [False, True], ids=["", "causal"])
def test_attention_layers_match_the_reference(backend, float64, name, causal):
    q, v, k, query_mask, value_mask = attention_inputs()
    value_mask[0, 0] = False  # with the causal mask, query 0 of sample 0 may attend to nothing:
    # Keras lowers its scores by 1e9 (the softmax of the rest is unchanged), not to -1e9.
    layer = built_attention(name, [q.shape, v.shape, k.shape])
    inputs = [on(backend, a) for a in (q, v, k)]
    y, scores = layer(inputs, mask=[on(backend, query_mask), on(backend, value_mask), None],
                      return_attention_scores=True, use_causal_mask=causal)
    expected, probs = reference_dot_or_additive(q, v, k, SCORES[name][1](layer.get_weights()), query_mask,
                                                value_mask, causal)
    assert tuple(y.shape) == layer.compute_output_shape([q.shape, v.shape, k.shape]) == expected.shape
    np.testing.assert_allclose(backend.to_numpy(y), expected, rtol=RTOL64, atol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(scores), probs, rtol=RTOL64, atol=1e-12)


@pytest.mark.parametrize("name", SCORES)
@pytest.mark.parametrize("with_key", [True, False], ids=["key", "value-as-key"])
def test_attention_layers_backward_matches_finite_differences(backend, float64, name, with_key):
    q, v, k, query_mask, value_mask = attention_inputs()
    if not with_key:
        v = v[..., :3]  # the value is also the key: the query's size
    hosts = [q, v, k] if with_key else [q, v]
    layer = built_attention(name, [h.shape for h in hosts])
    masks = [on(backend, query_mask), on(backend, value_mask)]
    check_each_input(backend, layer, hosts, name, layer.weights, mask=masks, use_causal_mask=True)


def test_attention_models_train_and_save_with_their_scalar_weights(backend, tmp_path):
    query, value = dc.layers.Input((4, 3)), dc.layers.Input((5, 3))
    attended = dc.layers.Attention(use_scale=True, score_mode="concat")([query, value], use_causal_mask=True)
    additive = dc.layers.AdditiveAttention()([query, value])
    joined = dc.layers.Concatenate()([attended, additive])
    model = Model([query, value], dc.layers.Dense(1)(dc.layers.GlobalAveragePooling1D()(joined)))
    assert [w.shape for w in model.get_layer(index=2).get_weights()] == [(), ()]
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((32, 4, 3)).astype("float32"), rng.standard_normal((32, 5, 3)).astype("float32")]
    target = x[1][:, :, :1].mean(axis=1)
    loaded = trains_and_round_trips(model, x, target, "mse", 0.02, epochs=40, batch_size=8,
                                    path=tmp_path / "attention_layers.deepcore")
    assert loaded.get_layer(index=2).get_config()["score_mode"] == "concat"


@pytest.mark.parametrize("make, call, message", [
    (lambda: dc.layers.Attention(score_mode="general"), None, "score_mode must be 'dot' or 'concat'"),
    (lambda: dc.layers.AdditiveAttention(dropout=-0.1), None, "dropout must be in"),
    (dc.layers.Attention, lambda layer: layer(dc.layers.Input((4, 3))), "takes a list"),
    (dc.layers.Attention, lambda layer: layer([dc.layers.Input((4, 3))] * 4), "takes a list"),
    (dc.layers.Attention, lambda layer: layer([dc.layers.Input((4, 3)), dc.layers.Input((5, 2))]),
     "query and key need the same last dimension"),
])
def test_attention_layers_refuse_bad_arguments_by_name(make, call, message):
    with pytest.raises(ValueError, match=message):
        layer = make()
        call(layer)


def test_projection_kernels_are_initialized_with_kerass_einsum_fans(backend):
    """Keras 3.15's EinsumDense counts the fans over the kernel's input and output axes: a
    query kernel (32, 4, 8) has fan_in 32 and fan_out 32, so glorot_uniform's limit is
    sqrt(6 / 64) (a convolution-style count would give sqrt(6 / 384))."""
    layer = MultiHeadAttention(num_heads=4, key_dim=8)
    layer.build((None, 5, 32), (None, 5, 32))
    limit = np.sqrt(6.0 / (32 + 32))
    for kernel in (layer.query_kernel, layer.key_kernel, layer.value_kernel, layer.output_kernel):
        values = np.abs(backend.to_numpy(kernel.value))
        assert values.max() <= limit and values.max() > 0.95 * limit, kernel.name
