"""Finite-difference checks of hand-written backward passes (Chainer's `check_backward` idea).

The check runs on the active backend. It draws a fixed random ``r`` shaped like the output and
compares the analytic gradients of the scalar ``sum(forward(x) * r)`` (``backprop(r)``) with
central differences, element by element, for the input and for every given variable. Use
float64 inputs: central differences have truncation error O(eps^2) and rounding error
O(float64 eps / eps), both near 1e-10 for eps = 1e-6.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from deepcore.registry import get_backend

Forward = Callable[[Any], tuple[Any, Callable[[Any], Any]]]


def numerical_gradient(objective: Callable[[np.ndarray], float], point: np.ndarray,
                       eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``objective`` at ``point``, one element at a time."""
    point = np.array(point, dtype=np.float64, order="C")  # reshape(-1) below must be a view
    grad = np.zeros_like(point)
    flat, flat_grad = point.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        upper = objective(point)
        flat[i] = saved - eps
        lower = objective(point)
        flat[i] = saved
        flat_grad[i] = (upper - lower) / (2.0 * eps)
    return grad


def check_backward(forward: Forward, x: np.ndarray, variables: Sequence = (), *,
                   eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-8, seed: int = 0,
                   check_input: bool = True, label: str = "") -> None:
    """Assert that ``forward``'s backprop matches finite differences.

    ``forward(x) -> (y, backprop)`` with ``backprop(dy) -> dx`` that fills ``variable.grad``
    for each of ``variables`` (objects with ``.value``/``.grad``, e.g. a layer's weights).
    ``x`` is a host array; it and the variables are used in float64 on the active backend.
    Raises AssertionError naming ``label`` and the quantity that disagrees.
    """
    backend = get_backend()
    float64 = backend.dtype("float64")
    x_host = np.asarray(x, dtype=np.float64)
    for variable in variables:
        variable.value = backend.asarray(backend.to_numpy(variable.value), dtype=float64)

    y, backprop = forward(backend.asarray(x_host, dtype=float64))
    r_host = np.random.default_rng(seed).standard_normal(tuple(y.shape))
    dx = backprop(backend.asarray(r_host, dtype=float64))

    def objective_at(x_point: np.ndarray) -> float:
        out, _ = forward(backend.asarray(x_point, dtype=float64))
        return float(np.sum(backend.to_numpy(out) * r_host))

    name = label or getattr(forward, "__qualname__", "forward")
    if check_input:
        np.testing.assert_allclose(
            backend.to_numpy(dx), numerical_gradient(objective_at, x_host, eps),
            rtol=rtol, atol=atol, err_msg=f"{name}: gradient with respect to the input",
        )
    for variable in variables:
        analytic = backend.to_numpy(variable.grad)
        original = variable.value

        def objective_of_variable(value: np.ndarray, variable=variable) -> float:
            variable.value = backend.asarray(value, dtype=float64)
            return objective_at(x_host)

        numeric = numerical_gradient(objective_of_variable, backend.to_numpy(original), eps)
        variable.value = original
        np.testing.assert_allclose(
            analytic, numeric, rtol=rtol, atol=atol,
            err_msg=f"{name}: gradient with respect to {variable.name}",
        )
