"""Small variables updated together as one flat group (deepcore.optimizers.flat_group) give the
same weights and state, bit for bit, as updating them one by one, on every backend; the group
follows replaced weights and restored state."""

from __future__ import annotations

import numpy as np
import pytest

from deepcore.layers import Variable
from deepcore.optimizers import Adam, flat_group
from test_optimizers import CASES

# Two small variables and one above flat_group.SMALL, which stays on its own.
SHAPES = [(3, 4), (4,), (130, 130)]
STEPS = 4


def problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(shape).astype("float32") for shape in SHAPES]
    grads = [[rng.standard_normal(shape).astype("float32") for shape in SHAPES] for _ in range(STEPS)]
    return weights, grads


def make_variables(backend, weights):
    return [Variable(f"w{i}", backend.asarray(w.copy(), dtype=backend.dtype("float32")))
            for i, w in enumerate(weights)]


def steps(backend, optimizer, variables, grads):
    for step_grads in grads:
        for variable, g in zip(variables, step_grads):
            variable.grad = backend.asarray(g, dtype=backend.dtype("float32"))
        optimizer.apply(variables)


def host(backend, arrays):
    return [backend.to_numpy(a).copy() for a in arrays]


def assert_same(got: list, want: list):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_grouped_steps_equal_one_by_one(backend, case, monkeypatch):
    factory = case[1]
    weights, grads = problem()
    grouped, grouped_optimizer = make_variables(backend, weights), factory()
    steps(backend, grouped_optimizer, grouped, grads)
    monkeypatch.setattr(flat_group, "SMALL", 0)  # nothing is small: one update per variable
    alone, alone_optimizer = make_variables(backend, weights), factory()
    steps(backend, alone_optimizer, alone, grads)

    assert_same(host(backend, [v.value for v in grouped]), host(backend, [v.value for v in alone]))
    assert_same(host(backend, grouped_optimizer.state(grouped)), host(backend, alone_optimizer.state(alone)))
    assert not np.array_equal(backend.to_numpy(grouped[0].value), weights[0]), "the steps must move the weights"


class CountingAdam(Adam):
    """Adam that counts its update_step calls."""

    calls = 0

    def update_step(self, variable, gradient, learning_rate, slots):
        CountingAdam.calls += 1
        super().update_step(variable, gradient, learning_rate, slots)


def test_small_variables_take_one_update_call(backend):
    weights, grads = problem()
    CountingAdam.calls = 0
    steps(backend, CountingAdam(), make_variables(backend, weights), grads)
    assert CountingAdam.calls == 2 * STEPS  # the flat group of the two small ones, and the big one


def test_mixed_dtypes_are_updated_one_by_one(backend):
    weights, grads = problem()
    variables = make_variables(backend, weights)
    variables[1].value = backend.asarray(weights[1], dtype=backend.dtype("float64"))
    CountingAdam.calls = 0
    optimizer = CountingAdam()
    for step_grads in grads:
        for variable, g in zip(variables, step_grads):
            variable.grad = backend.asarray(g, dtype=variable.value.dtype)
        optimizer.apply(variables)
    assert CountingAdam.calls == 3 * STEPS


def test_replaced_weights_and_restored_state_are_followed(backend, monkeypatch):
    """set_weights replaces values and loading sets state; later steps must use both, exactly
    as an optimizer that never grouped."""
    weights, grads = problem()
    new_weights, _ = problem(seed=1)

    def run(optimizer_factory):
        variables, optimizer = make_variables(backend, weights), optimizer_factory()
        steps(backend, optimizer, variables, grads[:2])
        for variable, w in zip(variables, new_weights):  # as Layer.set_weights does
            variable.value = backend.asarray(w.copy(), dtype=backend.dtype("float32"))
        steps(backend, optimizer, variables, grads[2:3])
        # as loading a saved model does: fresh variables and the state put back
        restored = make_variables(backend, host(backend, [v.value for v in variables]))
        fresh = optimizer_factory()
        fresh.set_state(restored, [backend.asarray(a) for a in host(backend, optimizer.state(variables))],
                        optimizer.iterations)
        steps(backend, fresh, restored, grads[3:])
        return host(backend, [v.value for v in restored]) + host(backend, fresh.state(restored))

    grouped = run(Adam)
    monkeypatch.setattr(flat_group, "SMALL", 0)
    assert_same(grouped, run(Adam))
