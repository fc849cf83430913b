"""Learning-rate schedules: Keras 3 formulas at several steps, configs, and use by optimizers."""

import json
import math

import numpy as np
import pytest

import deepcore as dc
from deepcore.layers import Dense
from deepcore.models import Sequential
from deepcore.optimizers import SGD, schedules

F64_EPS = float(np.finfo(np.float64).eps)
STEPS = [0, 1, 7, 50, 99, 100, 101, 150, 1000]


def assert_close_f64(got, want):
    """Host float64 arithmetic against the same formula written with NumPy: a few roundings
    apart, so 8 eps relative (and absolute, for values near 0)."""
    np.testing.assert_allclose(got, want, rtol=8 * F64_EPS, atol=8 * F64_EPS)


# --- formulas, written out from Keras 3's docstrings with NumPy ------------------------------

@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay_matches_keras_formula(staircase):
    schedule = schedules.ExponentialDecay(0.1, decay_steps=40, decay_rate=0.5, staircase=staircase)
    for step in STEPS:
        p = np.floor(step / 40) if staircase else step / 40
        assert_close_f64(schedule(step), 0.1 * np.power(0.5, p))


def test_exponential_decay_known_values():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert [schedule(s) for s in (0, 9, 10, 19, 20)] == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_piecewise_constant_decay_intervals_are_closed_on_the_right():
    # Keras: values[0] for step <= 100, values[1] for 100 < step <= 110, values[2] after.
    schedule = schedules.PiecewiseConstantDecay([100, 110], [1.0, 0.5, 0.1])
    got = [schedule(s) for s in (0, 99, 100, 101, 110, 111, 10_000)]
    assert got == [1.0, 1.0, 1.0, 0.5, 0.5, 0.1, 0.1]


@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_cosine_decay_without_warmup_matches_keras_formula(alpha):
    schedule = schedules.CosineDecay(0.1, decay_steps=100, alpha=alpha)
    for step in STEPS:
        s = min(step, 100)
        decayed = (1 - alpha) * 0.5 * (1 + np.cos(np.pi * s / 100)) + alpha
        assert_close_f64(schedule(step), 0.1 * decayed)
    assert_close_f64(schedule(0), 0.1)
    assert_close_f64(schedule(100), 0.1 * alpha)
    assert_close_f64(schedule(50), 0.1 * (1 + alpha) / 2)


def test_cosine_decay_with_warmup_matches_keras_formula():
    # Keras 3: linear from initial_learning_rate to warmup_target over warmup_steps, then the
    # cosine decay from warmup_target over decay_steps, clamped after warmup + decay steps.
    initial, target, warmup, decay, alpha = 0.01, 0.1, 20, 100, 0.1
    schedule = schedules.CosineDecay(initial, decay, alpha=alpha, warmup_target=target,
                                     warmup_steps=warmup)
    for step in [0, 1, 10, 19, 20, 21, 70, 119, 120, 121, 500]:
        s = min(step, warmup + decay)
        if s < warmup:
            want = (target - initial) * (s / warmup) + initial
        else:
            want = target * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * (s - warmup) / decay)) + alpha)
        assert_close_f64(schedule(step), want)
    assert_close_f64(schedule(10), (initial + target) / 2)
    assert_close_f64(schedule(warmup), target)
    assert_close_f64(schedule(10_000), target * alpha)


@pytest.mark.parametrize("power, cycle", [(1.0, False), (2.0, False), (0.5, True)])
def test_polynomial_decay_matches_keras_formula(power, cycle):
    schedule = schedules.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.01, power=power, cycle=cycle)
    for step in (0, 3, 10, 14, 25):
        horizon = 10 * max(math.ceil(step / 10), 1) if cycle else 10
        p = (step if cycle else min(step, 10)) / horizon
        assert schedule(step) == pytest.approx(0.09 * (1 - p) ** power + 0.01, rel=1e-12)
    assert schedules.PolynomialDecay(0.1, 10)(10) == pytest.approx(0.0001)  # Keras's end_learning_rate default


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay_matches_keras_formula(staircase):
    schedule = schedules.InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=staircase)
    for step in (0, 5, 10, 27):
        p = math.floor(step / 10) if staircase else step / 10
        assert schedule(step) == pytest.approx(0.1 / (1 + 0.5 * p), rel=1e-12)


def test_cosine_decay_restarts_follows_the_cycles():
    """Cycles of 4, 8, 16 steps (t_mul=2), each restarting at m_mul^i of the rate, the rate
    never below alpha * initial; with t_mul=1 every cycle is first_decay_steps long."""
    schedule = schedules.CosineDecayRestarts(1.0, first_decay_steps=4, t_mul=2.0, m_mul=0.5, alpha=0.1)
    def expected(cycle, fraction):
        return (1 - 0.1) * 0.5**cycle * 0.5 * (1 + math.cos(math.pi * fraction)) + 0.1
    for step, cycle, fraction in [(0, 0, 0.0), (2, 0, 0.5), (4, 1, 0.0), (8, 1, 0.5), (12, 2, 0.0), (20, 2, 0.5)]:
        assert schedule(step) == pytest.approx(expected(cycle, fraction), rel=1e-12, abs=1e-15), step
    even = schedules.CosineDecayRestarts(1.0, first_decay_steps=4, t_mul=1.0)
    assert [even(s) for s in (0, 2, 4, 6)] == pytest.approx([1.0, 0.5, 1.0, 0.5])
    assert schedules.CosineDecayRestarts(1.0, 4).name == "SGDRDecay"  # Keras's default name


@pytest.mark.parametrize("make", [
    lambda: schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5),
    lambda: schedules.CosineDecay(0.1, decay_steps=-1),
    lambda: schedules.PolynomialDecay(0.1, decay_steps=0),
    lambda: schedules.InverseTimeDecay(0.1, decay_steps=0, decay_rate=0.5),
    lambda: schedules.CosineDecayRestarts(0.1, first_decay_steps=0),
])
def test_non_positive_decay_steps_are_refused(make):
    with pytest.raises(ValueError, match="decay_steps"):
        make()


def test_piecewise_argument_errors():
    with pytest.raises(ValueError, match="1 less than the length of values"):
        schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5])
    with pytest.raises(ValueError, match="strictly increasing"):
        schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1])


# --- configs ---------------------------------------------------------------------------------

ALL = [
    schedules.ExponentialDecay(0.1, 40, 0.5, staircase=True),
    schedules.PiecewiseConstantDecay([100, 110], [1.0, 0.5, 0.1]),
    schedules.CosineDecay(0.0, 100, alpha=0.1, warmup_target=0.1, warmup_steps=20),
    schedules.PolynomialDecay(0.1, 40, end_learning_rate=0.01, power=2.0, cycle=True),
    schedules.InverseTimeDecay(0.1, 40, 0.5, staircase=True),
    schedules.CosineDecayRestarts(0.1, 30, t_mul=1.5, m_mul=0.9, alpha=0.05),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_config_round_trips_through_json(schedule):
    restored = schedules.deserialize(json.loads(json.dumps(schedules.serialize(schedule))))
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    assert [restored(s) for s in STEPS] == [schedule(s) for s in STEPS]
    assert type(schedule).from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_namespace_matches_keras():
    assert dc.optimizers.schedules.ExponentialDecay is schedules.ExponentialDecay
    assert issubclass(dc.optimizers.schedules.CosineDecay, dc.optimizers.schedules.LearningRateSchedule)


def test_deserialize_unknown_and_custom_schedules():
    class Halving(schedules.LearningRateSchedule):
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, step):
            return self.rate / 2 ** step

        def get_config(self):
            return {"rate": self.rate}

    spec = {"class_name": "Halving", "config": {"rate": 1.0}}
    with pytest.raises(ValueError, match="Unknown learning rate schedule 'Halving'"):
        schedules.deserialize(spec)
    assert schedules.deserialize(spec, custom_objects={"Halving": Halving})(3) == 0.125


def test_optimizer_config_with_a_schedule_round_trips_through_json():
    optimizer = SGD(learning_rate=ALL[2], momentum=0.9)
    spec = json.loads(json.dumps(dc.optimizers.serialize(optimizer)))
    restored = dc.optimizers.get(spec)
    assert isinstance(restored.learning_rate, schedules.CosineDecay)
    assert restored.learning_rate.get_config() == ALL[2].get_config()
    assert restored.momentum == 0.9


# --- used by an optimizer during fit ------------------------------------------------------

def test_sgd_follows_the_schedule_step_by_step(backend):
    """One weight w, loss (w*x - y)^2 on one sample: gradient 2x(wx - y); each SGD step must
    use the schedule's rate at the step counter 0, 1, 2, ..."""
    schedule = schedules.PiecewiseConstantDecay([0, 1], [0.1, 0.05, 0.01])  # rates 0.1, 0.05, 0.01...
    model = Sequential([Dense(1, use_bias=False, kernel_initializer="zeros", input_shape=(1,))])
    model.compile(optimizer=SGD(learning_rate=schedule), loss="mse")
    x, y = np.array([[1.0]]), np.array([[2.0]])
    w, expected = 0.0, []
    for step in range(3):
        w -= schedule(step) * 2 * 1.0 * (w * 1.0 - 2.0)
        expected.append(w)
    got = []
    for _ in range(3):
        model.fit(x, y, epochs=1, batch_size=1, verbose=0)
        got.append(float(model.get_weights()[0][0, 0]))
    # float32 weights against float64 arithmetic: a few float32 roundings per step.
    np.testing.assert_allclose(got, expected, rtol=8 * float(np.finfo(np.float32).eps))
    assert model.optimizer.iterations == 3
    assert math.isclose(model.optimizer.current_learning_rate, schedule(3))
