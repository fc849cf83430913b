"""Fast paths agree with their portable reference, on every backend.

`deepcore.backend.Backend` holds the reference (array-API code); adapters override it (NumPy:
in-place with reused buffers, CuPy: one fused kernel). Here each override is run next to the
reference on the same inputs.
"""

import array_api_compat
import numpy as np
import pytest

import deepcore as dc
from deepcore.backend import Backend, array_device, denormal_threshold

# A fused GPU kernel may contract a * b + c into one FMA (one rounding instead of two) in each
# of Adam's three updates, compounded over 3 steps: allow 16 float32 eps, relative.
ADAM_RTOL = 16 * float(np.finfo(np.float32).eps)
ADAM_SCALARS = dict(alpha=3e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-7)


def _adam_state(backend, amsgrad: bool, shape: tuple = (7, 5), dtype: str = "float32"):
    """value, gradient, m, v (and v_hat) as two identical sets of backend arrays."""
    rng = np.random.default_rng(0)
    # Weights as small as the updates, so a rounding difference in an update shows in the weights.
    host = [1e-6 * rng.standard_normal(shape), rng.standard_normal(shape), 0.1 * rng.standard_normal(shape),
            0.01 * rng.random(shape)] + ([0.02 * rng.random(shape)] if amsgrad else [])
    host = [a.astype(dtype) for a in host]
    # Copies: NumPy's asarray would share memory with `host` and between the two sets.
    return [[backend.asarray(a.copy(), dtype=backend.dtype(dtype)) for a in host] for _ in range(2)], host


def _adam(update, arrays, amsgrad: bool) -> None:
    for _ in range(3):
        update(*arrays[:4], **ADAM_SCALARS, v_hat=arrays[4] if amsgrad else None)


@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
def test_adam_update_matches_the_reference(backend, amsgrad):
    (fast, reference), host = _adam_state(backend, amsgrad)
    _adam(backend.adam_update, fast, amsgrad)
    _adam(lambda *a, **k: Backend.adam_update(backend, *a, **k), reference, amsgrad)
    for name, f, r, before in zip(["value", "gradient", "m", "v", "v_hat"], fast, reference, host):
        f_host, r_host = backend.to_numpy(f), backend.to_numpy(r)
        assert f_host.dtype == np.float32, name
        assert array_api_compat.device(f) == backend.device, name
        np.testing.assert_allclose(f_host, r_host, rtol=ADAM_RTOL, atol=0, err_msg=name)
        if name != "gradient":
            assert not np.array_equal(f_host, before), f"{name} was not updated in place"


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
@pytest.mark.parametrize("shape", [(7, 5), (600, 400)], ids=["small", "in-blocks"])
def test_numpy_adam_is_bit_identical_to_the_reference(deepcore_backend, amsgrad, shape, without_compiled_kernels):
    from deepcore.backends.numpy_backend import ADAM_BLOCK

    assert (shape[0] * shape[1] > ADAM_BLOCK) == (shape[0] > 7), "the large case must span several blocks"
    (fast, reference), _ = _adam_state(deepcore_backend, amsgrad, shape)
    _adam(deepcore_backend.adam_update, fast, amsgrad)
    _adam(lambda *a, **k: Backend.adam_update(deepcore_backend, *a, **k), reference, amsgrad)
    for f, r in zip(fast, reference):
        np.testing.assert_array_equal(f, r)


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_adam_is_bit_identical_to_the_reference(deepcore_backend, amsgrad, dtype, compiled_kernels):
    from deepcore.backends.numpy_backend import KERNEL_MIN_SIZE

    calls = compiled_kernels
    shape = (KERNEL_MIN_SIZE // 16, 16)
    (fast, reference), _ = _adam_state(deepcore_backend, amsgrad, shape, dtype)
    _adam(deepcore_backend.adam_update, fast, amsgrad)
    _adam(lambda *a, **k: Backend.adam_update(deepcore_backend, *a, **k), reference, amsgrad)
    assert calls == {"adam": 3}
    for f, r in zip(fast, reference):
        assert f.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(f, r)


def test_array_device_is_array_api_compats_answer(backend):
    """The NumPy shortcut in `array_device` gives what array-api-compat gives, on every backend
    (array_api_strict runs on its second device, where a wrong answer would show)."""
    array = backend.zeros((3, 2))
    assert array_device(array) == array_api_compat.device(array) == backend.device
    assert array_device(array[:, 0]) == backend.device


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_flush_denormals_zeroes_only_tiny_entries(backend, dtype):
    finfo = np.finfo(dtype)
    threshold = denormal_threshold(finfo)
    host = np.array([0.0, 0.5 * threshold, -0.5 * threshold, threshold, -threshold, 4.0 * threshold,
                     float(finfo.smallest_normal) / 4, 1e-3, -2.0], dtype=dtype)
    array = backend.asarray(host, dtype=backend.dtype(dtype))
    backend.flush_denormals([array])
    expected = np.where(np.abs(host) < threshold, 0.0, host).astype(dtype)
    np.testing.assert_array_equal(backend.to_numpy(array), expected)
    assert array_api_compat.device(array) == backend.device


def test_parameters_only_fills_the_same_gradients(backend):
    rng = np.random.default_rng(1)
    model = dc.models.Sequential([dc.layers.Dense(4, activation="relu", input_shape=(3,)),
                                  dc.layers.Dense(2, activation="sigmoid")])
    x = backend.asarray(rng.standard_normal((6, 3)), dtype=backend.dtype())
    dy = backend.asarray(rng.standard_normal((6, 2)), dtype=backend.dtype())
    _, backprop = model.forward(x, training=True)
    dx = backprop(dy)
    assert tuple(dx.shape) == (6, 3)
    full = [backend.to_numpy(v.grad) for v in model.trainable_variables]
    for v in model.trainable_variables:
        v.grad = None
    _, backprop = model.forward(x, training=True)
    assert backprop.parameters_only(dy) is None
    for v, expected in zip(model.trainable_variables, full):
        np.testing.assert_array_equal(backend.to_numpy(v.grad), expected, err_msg=v.name)


class NoBackward(dc.layers.Layer):
    """A weightless layer (like Rescaling or an augmentation) whose backward must not run."""

    def forward(self, x, training=False):
        def backprop(dy):
            raise AssertionError("the backward of a leading weightless layer ran")

        return x * 2.0, backprop


def test_parameters_only_stops_at_the_first_layer_with_weights(backend):
    """Weightless layers in front (Rescaling, augmentations) get no backward in training; the
    weights get the same gradients as through the full backward."""
    rng = np.random.default_rng(2)
    x = backend.asarray(rng.standard_normal((6, 3)), dtype=backend.dtype())
    dy = backend.asarray(rng.standard_normal((6, 2)), dtype=backend.dtype())
    dense = dc.layers.Dense(2, input_shape=(3,))
    model = dc.models.Sequential([NoBackward(), dc.layers.Dropout(0.0), dense])
    model.build((None, 3))
    model.forward(x, training=True)[1].parameters_only(dy)
    grads = [backend.to_numpy(v.grad) for v in dense.trainable_weights]
    doubled = backend.to_numpy(x) * 2.0
    np.testing.assert_allclose(grads[0], doubled.T @ backend.to_numpy(dy), rtol=1e-5, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(backend.to_numpy(x), rng.standard_normal((6, 2)), verbose=0)  # trains without it


def test_take_rows_matches_the_reference(backend):
    host = np.random.default_rng(3).standard_normal((7, 2, 3)).astype(np.float32)
    array = backend.asarray(host, dtype=backend.dtype("float32"))
    index = backend.asarray(np.array([6, 0, 3, 3]), dtype=backend.xp.int64)
    fast, reference = backend.take_rows(array, index), Backend.take_rows(backend, array, index)
    np.testing.assert_array_equal(backend.to_numpy(fast), host[[6, 0, 3, 3]])
    np.testing.assert_array_equal(backend.to_numpy(fast), backend.to_numpy(reference))


def test_flat_concat_matches_the_reference(backend):
    rng = np.random.default_rng(1)
    host = [rng.standard_normal(shape).astype(np.float32) for shape in [(3, 4), (5,), (2, 1, 3), (1,)]]
    arrays = [backend.asarray(a, dtype=backend.dtype("float32")) for a in host]
    fast, reference = backend.flat_concat(arrays), Backend.flat_concat(backend, arrays)
    assert tuple(fast.shape) == (12 + 5 + 6 + 1,)
    assert array_api_compat.device(fast) == backend.device
    np.testing.assert_array_equal(backend.to_numpy(fast), np.concatenate([a.reshape(-1) for a in host]))
    np.testing.assert_array_equal(backend.to_numpy(fast), backend.to_numpy(reference))


def _lstm_cell_inputs(dtype: str, batch: int = 6, units: int = 5):
    """The two parts ``z, xw (batch, 4 * units)`` of gate pre-activations reaching far below
    the sigmoid's floor, a cell state, and the gradients of h and c_new."""
    rng = np.random.default_rng(3)
    z, xw = 4.0 * rng.standard_normal((batch, 4 * units)), rng.standard_normal((batch, 4 * units))
    z[0, :] = -800.0  # below -87 (float32) and -708 (float64): the sigmoid's floor applies
    return [a.astype(dtype) for a in (z, xw, rng.standard_normal((batch, units)),
                                      rng.standard_normal((batch, units)), rng.standard_normal((batch, units)))]


def _run_cell(cell, z, xw, c, dh, dc_new):
    h, c_new, backprop = cell(z.copy(), xw, c)
    dz = np.empty_like(z)
    dc = backprop(dh, dc_new, dz)
    return h, c_new, dz, dc


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
def test_compiled_float64_lstm_cell_is_bit_identical_to_the_composed_one(deepcore_backend, compiled_kernels):
    calls = compiled_kernels
    layer = dc.layers.LSTM(5)
    z, xw, c, dh, dc_new = _lstm_cell_inputs("float64")
    fused = _run_cell(deepcore_backend.lstm_cell, z, xw, c, dh, dc_new)
    composed = _run_cell(layer._cell, z, xw, c, dh, dc_new)
    assert calls == {"lstm_gate_inputs": 1, "lstm_cell_forward": 1, "lstm_cell_backward": 1}
    for name, f, r in zip(["h", "c_new", "dz", "dc"], fused, composed):
        assert f.dtype == np.float64, name
        np.testing.assert_array_equal(f, r, err_msg=name)


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
def test_compiled_float32_lstm_cell_is_as_close_to_the_exact_values_as_the_composed_one(
        deepcore_backend, compiled_kernels):
    """The float32 cell computes its own exp and tanh (numba_float32), so it is compared with
    the exact values (the composed cell in float64 on the same inputs), as the composed
    float32 cell is."""
    layer = dc.layers.LSTM(5)
    inputs = _lstm_cell_inputs("float32")
    exact = _run_cell(layer._cell, *(a.astype(np.float64) for a in inputs))
    fused = _run_cell(deepcore_backend.lstm_cell, *inputs)
    composed = _run_cell(layer._cell, *inputs)
    assert compiled_kernels == {"lstm_cell_forward_float32": 1, "lstm_cell_backward": 1}
    # exp and tanh are within 2.4 ulp (NumPy's; numba_float32's within 1.3), each further
    # operation adds half an ulp, and the longest chain (dz) has under 10 of them: 16 eps32
    # of the largest magnitude that meets in an entry, (1 + |c|) (1 + |dh| + |dc_new|).
    c, dh, dc_new = (np.abs(a).max() for a in inputs[2:])
    tolerance = 16 * np.finfo(np.float32).eps * (1 + c) * (1 + dh + dc_new)
    _assert_float32_within(tolerance, ["h", "c_new", "dz", "dc"], fused, composed, exact)


def _assert_float32_within(tolerance: float, names: list, fused, composed, exact) -> None:
    """Both cells' float32 outputs within ``tolerance`` of the exact values, entry by entry."""
    for name, f, r, e in zip(names, fused, composed, exact):
        assert f.dtype == np.float32, name
        np.testing.assert_allclose(f, e, rtol=0, atol=tolerance, err_msg=f"compiled {name}")
        np.testing.assert_allclose(r, e, rtol=0, atol=tolerance, err_msg=f"composed {name}")


def test_lstm_cell_has_no_portable_fusion(backend):
    """Without a fused cell the layer composes its activations (the tested reference)."""
    z, xw, c, _, _ = _lstm_cell_inputs("float32")
    assert Backend.lstm_cell(backend, *(backend.asarray(a) for a in (z, xw, c))) is None


def _gru_cell_inputs(dtype: str) -> list:
    """``xw, inner (batch, 3 * units)`` reaching far below the sigmoid's floor, ``h`` and its
    gradient ``dh (batch, units)``."""
    rng = np.random.default_rng(9)
    xw, inner = 4.0 * rng.standard_normal((6, 15)), rng.standard_normal((6, 15))
    xw[0, :] = -800.0  # below the sigmoid's floor in both dtypes
    return [a.astype(dtype) for a in (xw, inner, rng.standard_normal((6, 5)), rng.standard_normal((6, 5)))]


def _run_gru_cell(cell, xw, inner, h, dh):
    h_new, backprop = cell(xw, inner.copy(), h)
    dxw = np.empty_like(xw)
    return (h_new, dxw, *backprop(dh, dxw))


GRU_CELL_OUTPUTS = ["h_new", "dxw", "dinner", "dh * z"]


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
def test_compiled_float64_gru_cell_is_bit_identical_to_the_composed_one(deepcore_backend, compiled_kernels):
    inputs = _gru_cell_inputs("float64")
    fused, composed = _run_gru_cell(deepcore_backend.gru_cell, *inputs), _run_gru_cell(dc.layers.GRU(5)._cell, *inputs)
    assert compiled_kernels == {"gru_gate_inputs": 1, "gru_cell_forward": 1, "gru_cell_output": 1,
                                "gru_cell_backward": 1}
    for name, f, r in zip(GRU_CELL_OUTPUTS, fused, composed):
        assert f.dtype == np.float64, name
        np.testing.assert_array_equal(f, r, err_msg=name)


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
def test_compiled_float32_gru_cell_is_as_close_to_the_exact_values_as_the_composed_one(
        deepcore_backend, compiled_kernels):
    """As the LSTM cell's test: the composed cell in float64 gives the exact values."""
    layer = dc.layers.GRU(5)
    inputs = _gru_cell_inputs("float32")
    exact = _run_gru_cell(layer._cell, *(a.astype(np.float64) for a in inputs))
    fused = _run_gru_cell(deepcore_backend.gru_cell, *inputs)
    composed = _run_gru_cell(layer._cell, *inputs)
    assert compiled_kernels == {"gru_cell_forward_float32": 1, "gru_cell_backward": 1}
    # exp and tanh within 2.4 ulp, fewer than 10 further roundings on the longest chain
    # (dinner): 16 eps32 of the largest magnitude meeting in an entry, (1 + |inner|) (1 + |h|) |dh|.
    inner, h, dh = (np.abs(a).max() for a in inputs[1:])
    tolerance = 16 * np.finfo(np.float32).eps * (1 + inner) * (1 + h) * dh
    _assert_float32_within(tolerance, GRU_CELL_OUTPUTS, fused, composed, exact)


def test_gru_cell_has_no_portable_fusion(backend):
    xw, h = backend.asarray(np.zeros((2, 6))), backend.asarray(np.zeros((2, 2)))
    assert Backend.gru_cell(backend, xw, xw, h) is None


CELL_KERNELS = {
    "LSTM": ("lstm_gate_inputs", "lstm_cell_forward", "lstm_cell_backward"),
    "GRU": ("gru_gate_inputs", "gru_cell_forward", "gru_cell_output", "gru_cell_backward"),
}


def _recurrent_gradients(layer_name: str, dtype: str) -> tuple:
    """A function running a recurrent layer forward and back on fixed masked data, giving
    ``[y, dx, *weight gradients]`` in ``dtype``; and the layer."""
    dc.set_floatx(dtype)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 7, 3)).astype(dtype)
    mask = np.ones((8, 7), dtype=bool)
    mask[:3, 5:] = False  # masked steps go around the cell
    layer = getattr(dc.layers, layer_name)(6, return_sequences=True)
    layer.build(x.shape)

    def gradients():
        y, backprop = layer.forward(x, training=True, mask=mask)
        dx = backprop(np.ones_like(y))
        return [y, dx] + [v.grad for v in layer.trainable_weights]

    return gradients, layer


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
@pytest.mark.parametrize("layer_name", sorted(CELL_KERNELS))
def test_recurrent_layer_trains_the_same_with_and_without_its_compiled_cell(
        deepcore_backend, layer_name, compiled_kernels, monkeypatch):
    """Bit for bit in float64 (the compiled cells do the composed cells' operations)."""
    from deepcore.backends import numba_kernels

    gradients, _ = _recurrent_gradients(layer_name, "float64")
    fused = gradients()
    assert compiled_kernels == {name: 7 for name in CELL_KERNELS[layer_name]}
    monkeypatch.setattr(numba_kernels, "load", lambda: None)
    for f, r in zip(fused, gradients()):
        np.testing.assert_array_equal(f, r)


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
@pytest.mark.parametrize("layer_name", sorted(CELL_KERNELS))
def test_float32_recurrent_layer_with_its_compiled_cell_is_as_accurate_as_without(
        deepcore_backend, layer_name, compiled_kernels, monkeypatch):
    """The float32 cells have their own exp and tanh: over 7 steps, forward and back, the
    error from the float64 values is at most twice the composed cell's, plus one eps32 of the
    quantity's magnitude (for entries the composed cell happens to get exact)."""
    from deepcore.backends import numba_kernels

    gradients, layer = _recurrent_gradients(layer_name, "float32")
    fused = gradients()
    forward = f"{layer_name.lower()}_cell_forward_float32"
    assert compiled_kernels == {forward: 7, f"{layer_name.lower()}_cell_backward": 7}
    monkeypatch.setattr(numba_kernels, "load", lambda: None)
    composed = gradients()
    weights = layer.get_weights()
    exact_gradients, exact_layer = _recurrent_gradients(layer_name, "float64")
    exact_layer.set_weights([w.astype(np.float64) for w in weights])
    eps = np.finfo(np.float32).eps
    for f, r, e in zip(fused, composed, exact_gradients()):
        fused_error, composed_error = np.abs(f - e).max(), np.abs(r - e).max()
        assert fused_error <= 2 * composed_error + eps * np.abs(e).max(), (fused_error, composed_error)


MAX_POOLS = [  # (layer, input shape)
    (lambda: dc.layers.MaxPooling2D(2), (3, 6, 6, 4)),  # tiling windows
    (lambda: dc.layers.MaxPooling2D(2), (3, 7, 5, 4)),  # a remainder row and column get no gradient
    (lambda: dc.layers.MaxPooling2D(3, strides=1), (2, 6, 7, 3)),  # overlapping windows add up
    (lambda: dc.layers.MaxPooling2D((2, 3), strides=(3, 2), padding="same"), (2, 7, 8, 3)),
    (lambda: dc.layers.MaxPooling1D(3, strides=2, padding="same"), (2, 9, 3)),
]


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make, shape", MAX_POOLS)
def test_compiled_max_pooling_is_bit_identical_to_the_reference(deepcore_backend, dtype, make, shape,
                                                                compiled_kernels, monkeypatch):
    from deepcore.backends import numba_kernels

    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, size=shape).astype(dtype)  # few distinct values: many tied maxima
    x.reshape(-1)[::11] = np.nan  # NaN windows: NaN out, the gradient to their last element
    layer = make()

    def pooled():
        y, backprop = layer.forward(x)
        dy = np.random.default_rng(6).standard_normal(y.shape).astype(dtype)
        return y, backprop(dy)

    fused = pooled()
    assert compiled_kernels == {"max_pool_forward": 1, "max_pool_backward": 1}
    monkeypatch.setattr(numba_kernels, "load", lambda: None)
    reference = pooled()
    assert np.isnan(reference[0]).any() and not np.isnan(reference[0]).all()
    for name, f, r in zip(["y", "dx"], fused, reference):
        assert f.dtype == np.dtype(dtype) and f.shape == r.shape, name
        np.testing.assert_array_equal(f, r, err_msg=name)


def test_max_pool_has_no_portable_fusion(backend):
    """Without a fused max pooling the layer reduces strided slices (the tested reference)."""
    x = backend.asarray(np.zeros((1, 4, 4, 1)), dtype=backend.dtype())
    assert Backend.max_pool(backend, x, (2, 2), (2, 2)) is None


@pytest.mark.parametrize("size", [5, 1 << 15], ids=["small", "large"])
def test_relu_gradient_matches_the_reference(backend, size):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(size)
    x[:4] = [0.0, -0.0, np.nan, np.inf]
    dy = rng.standard_normal(size)
    dy[1:5] = [-1.0, 2.0, np.nan, -3.0]
    x, dy = (backend.asarray(a, dtype=backend.dtype()) for a in (x, dy))
    with np.errstate(invalid="ignore"):  # NumPy warns for inf * 0 (masked inf: NaN, as the reference)
        fast, reference = backend.relu_gradient(dy, x), Backend.relu_gradient(backend, dy, x)
    f_host, r_host = backend.to_numpy(fast), backend.to_numpy(reference)
    np.testing.assert_array_equal(f_host, r_host)
    np.testing.assert_array_equal(np.signbit(f_host), np.signbit(r_host))  # -0.0 where a negative dy is masked


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_relu_gradient_is_bit_identical_to_the_reference(deepcore_backend, dtype, compiled_kernels):
    from deepcore.backends.numpy_backend import KERNEL_MIN_SIZE

    rng = np.random.default_rng(8)
    x, dy = (rng.standard_normal((KERNEL_MIN_SIZE // 8, 8)).astype(dtype) for _ in range(2))
    x[0, :3], dy[0, 3:6] = [0.0, -0.0, np.nan], [np.nan, np.inf, -np.inf]
    fast = deepcore_backend.relu_gradient(dy, x)
    assert compiled_kernels == {"relu_gradient": 1}
    with np.errstate(invalid="ignore"):  # inf * 0 in the reference
        reference = Backend.relu_gradient(deepcore_backend, dy, x)
    assert fast.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(fast, reference)
    np.testing.assert_array_equal(np.signbit(fast), np.signbit(reference))


def _bias_relu_inputs(dtype: str, rows: int = 6, units: int = 5):
    """z (rows, units) and bias (units,) with NaN, infinities and sums of exactly 0 and -0."""
    rng = np.random.default_rng(10)
    z, bias = rng.standard_normal((rows, units)).astype(dtype), rng.standard_normal(units).astype(dtype)
    z[0, :3] = [np.nan, np.inf, -np.inf]
    z[1, :] = -bias  # z + bias == 0.0 exactly
    z[2, 0], bias[0] = -0.0, -0.0  # -0.0 + -0.0 == -0.0, whose maximum with 0 is 0.0
    return z, bias


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
def test_bias_relu_matches_the_reference(backend, with_bias):
    z, bias = _bias_relu_inputs("float32")
    bias = backend.asarray(bias) if with_bias else None
    fast = backend.bias_relu(backend.asarray(z.copy()), bias)
    reference = Backend.bias_relu(backend, backend.asarray(z.copy()), bias)
    np.testing.assert_array_equal(backend.to_numpy(fast), backend.to_numpy(reference))
    expected = np.maximum(z + (backend.to_numpy(bias) if with_bias else 0.0), 0.0)
    np.testing.assert_array_equal(backend.to_numpy(fast), expected)
    assert tuple(fast.shape) == z.shape and array_api_compat.device(fast) == backend.device


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_bias_relu_is_bit_identical_to_the_reference(deepcore_backend, dtype, compiled_kernels):
    from deepcore.backends.numpy_backend import KERNEL_MIN_SIZE

    z, bias = _bias_relu_inputs(dtype, rows=KERNEL_MIN_SIZE // 5 + 1)
    fast = deepcore_backend.bias_relu(z.copy(), bias)
    assert compiled_kernels == {"bias_relu": 1}
    reference = Backend.bias_relu(deepcore_backend, z.copy(), bias)
    assert fast.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(fast, reference)
    np.testing.assert_array_equal(np.signbit(fast), np.signbit(reference))


def test_a_layer_with_relu_gives_the_same_as_its_parts(backend):
    """Dense(relu) fuses the bias into the ReLU: the same outputs and gradients as Dense
    followed by a separate ReLU."""
    rng = np.random.default_rng(11)
    x = backend.asarray(rng.standard_normal((64, 70)), dtype=backend.dtype())
    dy = backend.asarray(rng.standard_normal((64, 90)), dtype=backend.dtype())
    fused = dc.layers.Dense(90, activation="relu", bias_initializer="random_normal")
    fused.build((None, 70))
    plain = dc.layers.Dense(90)
    plain.build((None, 70))
    plain.set_weights(fused.get_weights())
    y, backprop = fused.forward(x)
    dx = backprop(dy)
    z, plain_backprop = plain.forward(x)
    y_parts, relu_backprop = dc.activations.get("relu").forward(z)
    dx_parts = plain_backprop(relu_backprop(dy))
    for name, a, b in [("y", y, y_parts), ("dx", dx, dx_parts), ("kernel grad", fused.kernel.grad, plain.kernel.grad),
                       ("bias grad", fused.bias.grad, plain.bias.grad)]:
        np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b), err_msg=name)


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
def test_a_numba_that_cannot_be_imported_leaves_the_numpy_code_with_a_warning(deepcore_backend, monkeypatch):
    """A Numba that does not import (say it does not support this NumPy yet) costs speed only."""
    import sys

    from deepcore.backends import numba_kernels
    from deepcore.backends.numpy_backend import KERNEL_MIN_SIZE

    monkeypatch.delenv("DEEPCORE_NUMBA", raising=False)
    monkeypatch.setattr(numba_kernels.importlib.util, "find_spec", lambda name: object())  # "installed"
    monkeypatch.setitem(sys.modules, "numba", None)  # ... but `import numba` fails
    numba_kernels.load.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="numba is installed but cannot be imported"):
            assert numba_kernels.load() is None
        assert numba_kernels.status() == "off (numba cannot be imported; see the warning)"
        (fast, reference), _ = _adam_state(deepcore_backend, False, (KERNEL_MIN_SIZE, 2))
        _adam(deepcore_backend.adam_update, fast, False)
        _adam(lambda *a, **k: Backend.adam_update(deepcore_backend, *a, **k), reference, False)
        for f, r in zip(fast, reference):
            np.testing.assert_array_equal(f, r)
    finally:
        numba_kernels.load.cache_clear()  # the real kernels again for later tests


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
@pytest.mark.parametrize("layer_name", sorted(CELL_KERNELS))
def test_other_activations_keep_the_composed_cell(deepcore_backend, layer_name, compiled_kernels):
    """A fused cell computes tanh and sigmoid only: other activations must not reach it."""
    x = np.random.default_rng(12).standard_normal((4, 3, 2)).astype(np.float32)
    layer = getattr(dc.layers, layer_name)(5, activation="softsign", recurrent_activation="hard_sigmoid")
    layer.build(x.shape)
    y, backprop = layer.forward(x, training=True)
    backprop(np.ones_like(y))
    assert not set(compiled_kernels) & set(CELL_KERNELS[layer_name])
