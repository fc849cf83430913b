"""Optimizer steps against a float64 NumPy reference written from the Keras 3 update rules, on
every backend; Keras 3 defaults; state arrays on the backend's device, in the weights' dtype.

Keras 3 (keras/src/optimizers/*.py), at step t = iterations + 1, after clipping the gradients
and decaying the weights (w -= w * weight_decay * lr):
  SGD       m = momentum m - lr g;  w += m  (nesterov: w += momentum m - lr g);  no momentum: w -= lr g
  Adam      m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2);  amsgrad: v = max(v_hat, v)
            w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
  RMSprop   v = rho v + (1 - rho) g^2;  centered: a = rho a + (1 - rho) g, den = v - a^2 + eps
            else den = v + eps;  inc = lr g / sqrt(den);  momentum: m = momentum m + inc, w -= m
            else w -= inc
  Adagrad   acc += g^2 (acc starts at initial_accumulator_value);  w -= lr g / sqrt(acc + eps)
  Adamax    m += (g - m)(1 - b1);  u = max(b2 u, |g|);  w -= lr m / ((1 - b1^t)(u + eps))
  Nadam     mu_t = b1 (1 - 0.5 * 0.96^t);  P = P * mu_t (a running product, 1 at first)
            m, v as Adam;  m_hat = mu_{t+1} m / (1 - P mu_{t+1}) + (1 - mu_t) g / (1 - P)
            w -= lr m_hat / (sqrt(v / (1 - b2^t)) + eps)
  Adadelta  a = rho a + (1 - rho) g^2;  d_w = -sqrt(d + eps) g / sqrt(a + eps)
            d = rho d + (1 - rho) d_w^2;  w += lr d_w
"""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest

import deepcore as dc
from deepcore.layers import Variable
from deepcore.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Lamb, Lion, Nadam, RMSprop

STEPS = 6
SHAPES = [(3, 4), (4,)]


# --- the reference ----------------------------------------------------------------------------

class Reference:
    """Keras 3's update rules in float64 NumPy. ``kind`` picks the rule; ``hyper`` holds every
    hyperparameter explicitly (the Keras defaults are spelled out in the cases below)."""

    def __init__(self, kind: str, **hyper):
        self.kind, self.hyper, self.state = kind, hyper, {}

    def clip(self, grads):
        h = self.hyper
        if h.get("clipvalue"):
            grads = [np.clip(g, -h["clipvalue"], h["clipvalue"]) for g in grads]
        if h.get("clipnorm"):
            grads = [g * h["clipnorm"] / max(np.linalg.norm(g), h["clipnorm"]) for g in grads]
        if h.get("global_clipnorm"):
            norm = np.sqrt(sum(np.sum(g * g) for g in grads))
            grads = [g * h["global_clipnorm"] / max(norm, h["global_clipnorm"]) for g in grads]
        return grads

    def step(self, step: int, weights: list, grads: list) -> None:
        h = self.hyper
        lr = h["learning_rate"](step) if callable(h["learning_rate"]) else h["learning_rate"]
        for i, (w, g) in enumerate(zip(weights, self.clip(grads))):
            if h.get("weight_decay"):
                w -= w * h["weight_decay"] * lr
            s = self.state.setdefault(i, {})
            getattr(self, self.kind)(w, g, lr, step + 1, s)
            if h.get("use_ema"):  # Keras: the average starts as the weights after the first step
                m = h["ema_momentum"] if step else 0.0
                s["average"] = m * s.get("average", 0.0) + (1 - m) * w
                if h.get("ema_overwrite_frequency") and (step + 1) % h["ema_overwrite_frequency"] == 0:
                    w[...] = s["average"]

    def sgd(self, w, g, lr, t, s):
        mu = self.hyper["momentum"]
        if not mu:
            w -= lr * g
            return
        m = s["m"] = mu * s.get("m", 0.0) - lr * g
        w += mu * m - lr * g if self.hyper["nesterov"] else m

    def adam(self, w, g, lr, t, s):
        h = self.hyper
        m = s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - h["beta_1"])
        v = s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - h["beta_2"])
        if h["amsgrad"]:
            v = s["v_hat"] = np.maximum(s.get("v_hat", 0.0), v)
        alpha = lr * np.sqrt(1 - h["beta_2"] ** t) / (1 - h["beta_1"] ** t)
        w -= alpha * m / (np.sqrt(v) + h["epsilon"])

    def rmsprop(self, w, g, lr, t, s):
        h = self.hyper
        v = s["v"] = h["rho"] * s.get("v", 0.0) + (1 - h["rho"]) * g * g
        if h["centered"]:
            a = s["a"] = h["rho"] * s.get("a", 0.0) + (1 - h["rho"]) * g
            denominator = v - a * a + h["epsilon"]
        else:
            denominator = v + h["epsilon"]
        increment = lr * g / np.sqrt(denominator)
        if h["momentum"]:
            m = s["m"] = h["momentum"] * s.get("m", 0.0) + increment
            w -= m
        else:
            w -= increment

    def adagrad(self, w, g, lr, t, s):
        h = self.hyper
        acc = s["acc"] = s.get("acc", h["initial_accumulator_value"]) + g * g
        w -= lr * g / np.sqrt(acc + h["epsilon"])

    def adamax(self, w, g, lr, t, s):
        h = self.hyper
        m = s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - h["beta_1"])
        u = s["u"] = np.maximum(h["beta_2"] * s.get("u", 0.0), np.abs(g))
        w -= lr * m / ((1 - h["beta_1"] ** t) * (u + h["epsilon"]))

    def nadam(self, w, g, lr, t, s):
        h = self.hyper
        mu_t = h["beta_1"] * (1 - 0.5 * 0.96 ** t)
        mu_next = h["beta_1"] * (1 - 0.5 * 0.96 ** (t + 1))
        product = s["P"] = s.get("P", 1.0) * mu_t  # Keras's u_product, kept as state
        m = s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - h["beta_1"])
        v = s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - h["beta_2"])
        m_hat = mu_next * m / (1 - product * mu_next) + (1 - mu_t) * g / (1 - product)
        w -= lr * m_hat / (np.sqrt(v / (1 - h["beta_2"] ** t)) + h["epsilon"])

    def lion(self, w, g, lr, t, s):
        h = self.hyper
        m = s.get("m", 0.0)
        w -= lr * np.sign(m * h["beta_1"] + g * (1 - h["beta_1"]))
        s["m"] = m * h["beta_2"] + g * (1 - h["beta_2"])

    def lamb(self, w, g, lr, t, s):
        h = self.hyper
        m = s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - h["beta_1"])
        v = s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - h["beta_2"])
        update = (m / (1 - h["beta_1"] ** t)) / (np.sqrt(v / (1 - h["beta_2"] ** t)) + h["epsilon"])
        w_norm, u_norm = np.linalg.norm(w), np.linalg.norm(update)  # this variable's own norms
        w -= (w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0) * lr * update

    def adadelta(self, w, g, lr, t, s):
        h = self.hyper
        a = s["a"] = h["rho"] * s.get("a", 0.0) + (1 - h["rho"]) * g * g
        delta = -np.sqrt(s.get("d", 0.0) + h["epsilon"]) * g / np.sqrt(a + h["epsilon"])
        s["d"] = h["rho"] * s.get("d", 0.0) + (1 - h["rho"]) * delta * delta
        w += lr * delta


SGD_DEFAULTS = dict(learning_rate=0.01, momentum=0.0, nesterov=False)
ADAM_DEFAULTS = dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)
RMSPROP_DEFAULTS = dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)
ADAGRAD_DEFAULTS = dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7)
ADAMAX_DEFAULTS = dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
NADAM_DEFAULTS = dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
ADADELTA_DEFAULTS = dict(learning_rate=0.001, rho=0.95, epsilon=1e-7)
LION_DEFAULTS = dict(learning_rate=0.001, beta_1=0.9, beta_2=0.99)
LAMB_DEFAULTS = dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)


def halving(step: int) -> float:
    """A callable learning rate of the step count: 0.1, 0.05, 0.025, ..."""
    return 0.1 * 0.5**step


# (id, optimizer factory, reference rule, reference hyperparameters). The factories use deepcore's
# defaults wherever the reference spells out Keras's, so the defaults are checked by behaviour.
CASES = [
    ("sgd", lambda: SGD(), "sgd", SGD_DEFAULTS),
    ("sgd-momentum", lambda: SGD(0.05, momentum=0.9), "sgd",
     {**SGD_DEFAULTS, "learning_rate": 0.05, "momentum": 0.9}),
    ("sgd-nesterov", lambda: SGD(0.05, momentum=0.8, nesterov=True), "sgd",
     {**SGD_DEFAULTS, "learning_rate": 0.05, "momentum": 0.8, "nesterov": True}),
    ("adam", lambda: Adam(), "adam", ADAM_DEFAULTS),
    ("adam-lr", lambda: Adam(0.05, beta_1=0.8, beta_2=0.99, epsilon=1e-3), "adam",
     {**ADAM_DEFAULTS, "learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3}),
    ("adam-amsgrad", lambda: Adam(0.05, amsgrad=True), "adam",
     {**ADAM_DEFAULTS, "learning_rate": 0.05, "amsgrad": True}),
    ("adamw", lambda: AdamW(), "adam", {**ADAM_DEFAULTS, "weight_decay": 0.004}),
    ("adamw-lr", lambda: AdamW(0.05, weight_decay=0.1, amsgrad=True), "adam",
     {**ADAM_DEFAULTS, "learning_rate": 0.05, "weight_decay": 0.1, "amsgrad": True}),
    ("rmsprop", lambda: RMSprop(), "rmsprop", RMSPROP_DEFAULTS),
    ("rmsprop-momentum", lambda: RMSprop(0.01, momentum=0.9), "rmsprop",
     {**RMSPROP_DEFAULTS, "learning_rate": 0.01, "momentum": 0.9}),
    ("rmsprop-centered", lambda: RMSprop(0.01, centered=True), "rmsprop",
     {**RMSPROP_DEFAULTS, "learning_rate": 0.01, "centered": True}),
    ("rmsprop-centered-momentum", lambda: RMSprop(0.01, rho=0.8, momentum=0.5, centered=True), "rmsprop",
     {**RMSPROP_DEFAULTS, "learning_rate": 0.01, "rho": 0.8, "momentum": 0.5, "centered": True}),
    ("adagrad", lambda: Adagrad(), "adagrad", ADAGRAD_DEFAULTS),
    ("adagrad-lr", lambda: Adagrad(0.1, initial_accumulator_value=0.5), "adagrad",
     {**ADAGRAD_DEFAULTS, "learning_rate": 0.1, "initial_accumulator_value": 0.5}),
    ("sgd-weight_decay", lambda: SGD(0.05, momentum=0.9, weight_decay=0.1), "sgd",
     {**SGD_DEFAULTS, "learning_rate": 0.05, "momentum": 0.9, "weight_decay": 0.1}),
    ("rmsprop-weight_decay", lambda: RMSprop(0.01, weight_decay=0.05), "rmsprop",
     {**RMSPROP_DEFAULTS, "learning_rate": 0.01, "weight_decay": 0.05}),
    ("sgd-clipnorm", lambda: SGD(0.1, clipnorm=1.0), "sgd",
     {**SGD_DEFAULTS, "learning_rate": 0.1, "clipnorm": 1.0}),
    ("adam-clipvalue", lambda: Adam(0.05, clipvalue=0.5), "adam",
     {**ADAM_DEFAULTS, "learning_rate": 0.05, "clipvalue": 0.5}),
    ("rmsprop-global_clipnorm", lambda: RMSprop(0.01, global_clipnorm=1.5), "rmsprop",
     {**RMSPROP_DEFAULTS, "learning_rate": 0.01, "global_clipnorm": 1.5}),
    ("sgd-callable_lr", lambda: SGD(halving, momentum=0.9), "sgd",
     {**SGD_DEFAULTS, "learning_rate": halving, "momentum": 0.9}),
    ("adam-callable_lr", lambda: Adam(halving), "adam", {**ADAM_DEFAULTS, "learning_rate": halving}),
    ("adamax", lambda: Adamax(), "adamax", ADAMAX_DEFAULTS),
    ("adamax-lr", lambda: Adamax(0.05, beta_1=0.8, beta_2=0.9), "adamax",
     {**ADAMAX_DEFAULTS, "learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.9}),
    ("nadam", lambda: Nadam(), "nadam", NADAM_DEFAULTS),
    ("nadam-lr", lambda: Nadam(0.05, beta_1=0.85, epsilon=1e-4), "nadam",
     {**NADAM_DEFAULTS, "learning_rate": 0.05, "beta_1": 0.85, "epsilon": 1e-4}),
    ("adadelta", lambda: Adadelta(), "adadelta", ADADELTA_DEFAULTS),
    ("adadelta-lr", lambda: Adadelta(1.0, rho=0.9), "adadelta", {**ADADELTA_DEFAULTS, "learning_rate": 1.0, "rho": 0.9}),
    ("lion", lambda: Lion(), "lion", LION_DEFAULTS),
    ("lion-betas", lambda: Lion(0.01, beta_1=0.8, beta_2=0.95, weight_decay=0.1), "lion",
     {**LION_DEFAULTS, "learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.95, "weight_decay": 0.1}),
    ("sgd-ema", lambda: SGD(0.1, momentum=0.5, use_ema=True, ema_momentum=0.9), "sgd",
     {**SGD_DEFAULTS, "learning_rate": 0.1, "momentum": 0.5, "use_ema": True, "ema_momentum": 0.9}),
    ("adam-ema-overwrite", lambda: Adam(0.05, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=4), "adam",
     {**ADAM_DEFAULTS, "learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.8, "ema_overwrite_frequency": 4}),
    ("lamb", lambda: Lamb(), "lamb", LAMB_DEFAULTS),
    ("lamb-lr", lambda: Lamb(0.05, beta_1=0.8, epsilon=1e-4, clipnorm=1.0), "lamb",
     {**LAMB_DEFAULTS, "learning_rate": 0.05, "beta_1": 0.8, "epsilon": 1e-4, "clipnorm": 1.0}),
]


def host_problem(dtype_name: str):
    """Initial weights and STEPS gradients per variable, rounded to ``dtype_name``.

    The first variable's gradients have norm ~7 (above clipnorm 1 and clipvalue 0.5), the
    second's ~0.2 (below clipnorm), so clipping is exercised in both directions.
    """
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(shape).astype(dtype_name) for shape in SHAPES]
    grads = [[(rng.standard_normal(shape) * scale).astype(dtype_name)
              for shape, scale in zip(SHAPES, (2.0, 0.1))] for _ in range(STEPS)]
    return weights, grads


def run_optimizer(backend, optimizer, weights, grads, dtype_name):
    dtype = backend.dtype(dtype_name)
    # Copies: on CPU backends asarray shares memory, and the optimizer updates in place.
    variables = [Variable(f"w{i}", backend.asarray(w.copy(), dtype=dtype)) for i, w in enumerate(weights)]
    for step_grads in grads:
        for variable, g in zip(variables, step_grads):
            variable.grad = backend.asarray(g, dtype=dtype)
        optimizer.apply(variables)
    return variables


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_steps_match_keras_reference(backend, case, dtype_name):
    _, factory, kind, hyper = case
    weights, grads = host_problem(dtype_name)
    optimizer = factory()
    variables = run_optimizer(backend, optimizer, weights, grads, dtype_name)

    reference = Reference(kind, **hyper)
    expected = [w.astype(np.float64) for w in weights]
    for step, step_grads in enumerate(grads):
        reference.step(step, expected, [g.astype(np.float64) for g in step_grads])

    assert optimizer.iterations == STEPS
    # Each step rounds every weight a few times (~10 operations, each within eps / 2 of the
    # exact result, relative to |w| ~ 1): about 5 eps per step; 16 eps per step bounds it with a
    # margin of 3 (measured: at most 2 eps after 6 steps, float32 and float64).
    eps = float(np.finfo(dtype_name).eps)
    for variable, want, w0 in zip(variables, expected, weights):
        got = backend.to_numpy(variable.value)
        assert got.dtype == np.dtype(dtype_name)
        scale = max(np.abs(want).max(), 1.0)
        np.testing.assert_allclose(got, want, rtol=0, atol=16 * STEPS * eps * scale, err_msg=variable.name)
        if hyper.get("use_ema"):
            average = backend.to_numpy(optimizer.slots_for(variable)["average"])
            want_average = reference.state[variables.index(variable)]["average"]
            np.testing.assert_allclose(average, want_average, rtol=0, atol=16 * STEPS * eps * scale)
        if dtype_name == "float64":  # (float32's tolerance is coarser than Adagrad's default steps)
            assert np.abs(want - w0).max() > 100 * 16 * STEPS * eps * scale, \
                "the steps must move the weights far more than the tolerance, or the test proves nothing"


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_state_stays_on_the_device_in_the_weights_dtype(backend, case, dtype_name):
    _, factory, _, _ = case
    weights, grads = host_problem(dtype_name)
    optimizer = factory()
    variables = run_optimizer(backend, optimizer, weights, grads[:2], dtype_name)
    dtype = backend.dtype(dtype_name)
    state = optimizer.state(variables)
    assert len(state) == len(variables) * len(optimizer.state_names())
    for array in [v.value for v in variables] + state:
        assert backend.is_native(array), type(array)
        assert array.dtype == dtype, array.dtype
        assert array_api_compat.device(array) == backend.device


def test_keras_default_hyperparameters():
    """Keras 3's defaults, as attributes (the cases above check them by behaviour too)."""
    sgd, adam, adamw, rmsprop, adagrad = SGD(), Adam(), AdamW(), RMSprop(), Adagrad()
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (0.01, 0.0, False)
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == (
        0.001, 0.9, 0.999, 1e-7, False)
    assert (adamw.learning_rate, adamw.weight_decay, adamw.epsilon) == (0.001, 0.004, 1e-7)
    assert (rmsprop.learning_rate, rmsprop.rho, rmsprop.momentum, rmsprop.epsilon, rmsprop.centered) == (
        0.001, 0.9, 0.0, 1e-7, False)
    assert (adagrad.learning_rate, adagrad.initial_accumulator_value, adagrad.epsilon) == (0.001, 0.1, 1e-7)
    for optimizer in (sgd, adam, rmsprop, adagrad):
        assert optimizer.weight_decay is None
        assert optimizer.clipnorm is optimizer.clipvalue is optimizer.global_clipnorm is None
    assert dc.optimizers.get("adam").epsilon == 1e-7
    adamax, nadam, adadelta = Adamax(), Nadam(), Adadelta()
    assert (adamax.learning_rate, adamax.beta_1, adamax.beta_2, adamax.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert (nadam.learning_rate, nadam.beta_1, nadam.beta_2, nadam.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert (adadelta.learning_rate, adadelta.rho, adadelta.epsilon) == (0.001, 0.95, 1e-7)
    lion, lamb = Lion(), Lamb()
    assert (lion.learning_rate, lion.beta_1, lion.beta_2) == (0.001, 0.9, 0.99)
    assert (lamb.learning_rate, lamb.beta_1, lamb.beta_2, lamb.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    with pytest.raises(ValueError, match=r"beta_1 must be in \(0, 1\]"):
        Lion(beta_1=0.0)


def test_callable_learning_rate_is_read_at_each_step(backend):
    seen = []

    def schedule(step):
        seen.append(step)
        return 0.1

    run_optimizer(backend, SGD(schedule), *host_problem("float64"), "float64")
    assert seen == list(range(STEPS))


def test_ema_weights_replace_the_trained_ones_when_fit_ends_and_are_saved(backend, tmp_path):
    """Keras: with use_ema, fit ends by setting the weights to their moving averages; the
    averages are optimizer state, saved and restored with the model."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((32, 3)).astype(np.float32), rng.standard_normal((32, 1)).astype(np.float32)
    model = dc.models.Sequential([dc.layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=SGD(0.1, use_ema=True, ema_momentum=0.5), loss="mse")
    seen = []
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
              callbacks=[dc.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(model.get_weights()))])
    averages = [backend.to_numpy(model.optimizer.slots_for(v)["average"]) for v in model.trainable_variables]
    for final, average, trained in zip(model.get_weights(), averages, seen[-1]):
        np.testing.assert_array_equal(final, average)
        assert not np.array_equal(final, trained)  # the last step's weights differ from their average
    model.save(tmp_path / "ema.deepcore")
    loaded = dc.models.load_model(tmp_path / "ema.deepcore")
    assert loaded.optimizer.use_ema and loaded.optimizer.ema_momentum == 0.5
    for variable, average in zip(loaded.trainable_variables, averages):
        np.testing.assert_array_equal(backend.to_numpy(loaded.optimizer.slots_for(variable)["average"]), average)
    with pytest.raises(ValueError, match="ema_momentum must be in"):
        SGD(use_ema=True, ema_momentum=1.5)
