"""Run one model on several backends from the same weights and compare, layer by layer.

`compare_backends` builds (or takes) a `Sequential` or a functional model with one input and
one output, takes its weights once, and for each backend: puts those weights on the backend,
runs every layer's ``forward`` (a functional model: every node of its graph, a layer called
twice compared per call) in training mode, the loss and the backprops, and optionally
``steps`` optimizer steps
with `train_on_batch`. Each layer output, loss, parameter gradient and (after training) each
weight is compared on the host with the reference run: another backend, or ``"golden"``, NumPy
in float64 from the same (``dtype``-rounded) inputs and weights, i.e. the exact answer to
within ~1e-15, which shows which backend is closer to the truth, not only that two differ.

Random numbers cannot make runs differ: deepcore draws dropout masks and shuffling orders on
the host (`deepcore.random`), and the generators' states are restored before every run.

Tolerance of a quantity (override with ``rtol``/``atol``)::

    rtol = factor * finfo(dtype).eps * n

where ``n`` is the reduction length behind the quantity -- the number of rounded terms that can
accumulate into one entry: for the output of layer i, the sum of the fan-ins of layers 1..i (in
a graph: of the layers on the longest path to it; of every kernel, i.e. weight of 2 or more
dimensions; for a layer with only 1-D weights, a normalization, the input values per weight
entry; 1 for a layer without weights); for the
loss, that of the last layer plus the number of values averaged; for gradients, the whole
forward plus the kernels' fan-outs crossed going back plus the batch size; after ``k``
training steps, ``k`` times the gradients' ``n``. The worst-case
rounding bound of a length-``n`` sum is ``n * eps / 2`` times the summed magnitudes, so two
correct backends differ by at most about ``n * eps`` of them; errors are measured relative to
the largest magnitude of the quantity (see `deepcore.testing.report`), and ``factor`` (default
`DEFAULT_FACTOR` = 2) absorbs the amplification by nonlinear layers. Measured on the ``mlp``
example (docs/consistency.md): honest CPU backends use under 5% of this tolerance.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from deepcore import config
from deepcore import random as host_random
from deepcore.backend import BackendUnavailableError
from deepcore.models import Functional, Sequential
from deepcore.registry import list_backends, make_backend, use_backend
from deepcore.testing.report import Comparison, Report, compare_arrays

GOLDEN = "golden"
DEFAULT_FACTOR = 2.0
Key = tuple[str, str]  # (layer, quantity)


def default_rtol(dtype: str, reduction_length: int, factor: float = DEFAULT_FACTOR) -> float:
    """``factor * finfo(dtype).eps * reduction_length`` (see the module docstring)."""
    return factor * float(np.finfo(dtype).eps) * max(int(reduction_length), 1)


def compare_backends(model_or_builder: Any, x: Any, y: Any = None,
                     backends: Sequence[str] = ("numpy", "cupy"), reference: str = "numpy",
                     dtype: str | None = None, steps: int = 0, *, batch_size: int | None = None,
                     rtol: float | None = None, atol: float = 0.0,
                     factor: float = DEFAULT_FACTOR) -> Report:
    """Compare ``backends`` with ``reference`` on one model and return a `Report`.

    model_or_builder: a `Sequential` (compiled when ``y`` is given; it is left as it was), or
        a function returning one.
    x: inputs ``(batch, ...)``; y: targets (enables the loss and gradient rows, and training).
    backends: names; those unusable here are listed in ``report.skipped`` with the reason.
    reference: a backend name (not compared with itself) or ``"golden"`` (NumPy, float64).
    dtype: ``"float32"`` or ``"float64"`` (default `deepcore.floatx()`).
    steps: `train_on_batch` steps after which the weights are compared; the batches are
        ``x``/``y`` in order, ``batch_size`` rows at a time (default: all rows), cycling.
    rtol, atol: fixed tolerances instead of the derived ones; ``factor`` scales those.
    """
    dtype = dtype or config.floatx()
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; received {dtype!r}.")
    if steps and y is None:
        raise ValueError(f"steps={steps} needs targets y to train on; received y=None.")
    x_host = np.asarray(x, dtype=dtype)
    y_host = None if y is None else np.asarray(y, dtype=dtype)
    usable = {record.name: record for record in list_backends()}
    for name in (*backends, reference):
        if name != GOLDEN and name not in usable:
            raise ValueError(f"Unknown backend {name!r}. Known backends: {', '.join(usable)}.")
    if reference != GOLDEN and not usable[reference].available:
        raise BackendUnavailableError(
            f"The reference backend {reference!r} is not usable here: {usable[reference].reason}. "
            f"Choose another reference, e.g. reference='numpy' or reference='{GOLDEN}'."
        )
    skipped = {name: usable[name].reason for name in backends if not usable[name].available}
    compared = [name for name in backends if name not in skipped and name != reference]

    with _floatx(dtype), use_backend("numpy"):
        model = model_or_builder() if _is_builder(model_or_builder) else model_or_builder
        if isinstance(model, Functional) and (len(model.inputs) > 1 or len(model.outputs) > 1):
            raise NotImplementedError(
                f"compare_backends compares models with one input and one output; {model.name!r} has "
                f"{len(model.inputs)} and {len(model.outputs)}."
            )
        if not model.built:
            model.build((None, *x_host.shape[1:]))
    if y is not None and model.loss is None:
        raise ValueError("Comparing gradients needs a compiled model: call model.compile(...) "
                         "first, or pass y=None to compare forward outputs only.")
    lengths = _reduction_lengths(model, x_host, steps)

    def tolerance(key: Key) -> float:
        return rtol if rtol is not None else default_rtol(dtype, lengths[key], factor)

    with _preserved(model) as rewind:
        weights = [np.asarray(w, dtype=dtype) for w in model.get_weights()]
        reference_run = ("numpy", "float64") if reference == GOLDEN else (reference, dtype)
        expected = _run(model, *reference_run, x_host, y_host, weights, steps, batch_size)
        rows = []
        for name in compared:
            rewind()
            results = _run(model, name, dtype, x_host, y_host, weights, steps, batch_size)
            for key, value in results.items():
                errors = compare_arrays(value, expected[key], dtype, tolerance(key), atol)
                rows.append(Comparison(backend=name, layer=key[0], quantity=key[1], **errors))
    run_backends = ["numpy" if reference == GOLDEN else reference, *compared]
    environment = {name: make_backend(name).describe() for name in run_backends}
    return Report(reference, dtype, compared, rows, skipped, steps, environment)


def assert_backends_close(model_or_builder: Any, x: Any, y: Any = None, *, show: int = 10,
                          **options: Any) -> Report:
    """`compare_backends`, raising AssertionError (its message: the worst ``show`` rows) when
    a quantity is beyond its tolerance. Returns the report when everything agrees."""
    report = compare_backends(model_or_builder, x, y, **options)
    if not report.passed:
        raise AssertionError(f"{report.summary()}\nWorst offenders:\n{report.table(report.worst(show))}")
    return report


# --- one run on one backend -------------------------------------------------------------------
def _run(model, name: str, dtype: str, x: np.ndarray, y: np.ndarray | None, weights: list,
         steps: int, batch_size: int | None) -> dict[Key, np.ndarray]:
    """Every compared quantity of one run, as host arrays keyed by (layer, quantity)."""
    backend = make_backend(name)
    results: dict[Key, np.ndarray] = {}
    with _floatx(dtype), use_backend(backend):
        _place(model, backend, weights, dtype)
        xb, backprop = _forward(model, backend.asarray(x, dtype=backend.dtype(dtype)), backend, results)
        if y is None:
            return results
        yb = backend.asarray(y, dtype=backend.dtype(dtype))
        loss, loss_backprop = model.loss.forward(yb, xb)
        results[("(loss)", "loss")] = backend.to_numpy(loss)
        backprop(loss_backprop())
        for layer in model.layers:
            for variable in layer.trainable_weights:
                results[(layer.name, f"grad {_short(variable, layer)}")] = backend.to_numpy(variable.grad)
        if steps:
            model.optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
            losses = [
                model.train_on_batch(xs, ys, return_dict=True)["loss"]
                for xs, ys in _batches(x, y, steps, batch_size)
            ]
            results[("(training)", "loss per step")] = np.asarray(losses)
            for layer in model.layers:
                for variable in layer.weights:
                    key = (layer.name, f"{_short(variable, layer)} after {steps} step(s)")
                    results[key] = backend.to_numpy(variable.value)
    return results


def _forward(model, x, backend, results: dict) -> tuple[Any, Callable]:
    """The model's output in training mode and its backprop, storing each layer's (node's)
    output in ``results`` under (its label, "output")."""
    if isinstance(model, Sequential):
        backprops = []
        for layer in model.layers:
            x, backprop = layer.forward(x, training=True)
            backprops.append(backprop)
            results[(layer.name, "output")] = backend.to_numpy(x)

        def chain(dy):
            for layer_backprop in reversed(backprops):
                dy = layer_backprop(dy)

        return x, chain
    trace: list = []
    y, _, backprop = model.forward_with_mask(x, training=True, trace=trace)
    labels = _node_labels(model)
    for node, values in trace:
        for tensor, value in zip(node.outputs, values):
            results[(labels[id(tensor)], "output")] = backend.to_numpy(value)
    return y, backprop


def _node_labels(model) -> dict[int, str]:
    """A name per tensor a functional model's nodes make: the layer's (with the output's index
    for several, and ``#k`` for the k-th call of a layer called more than once)."""
    calls: dict[int, int] = {}
    labels = {}
    for node in model._nodes:
        count = sum(other.layer is node.layer for other in model._nodes)
        calls[id(node.layer)] = calls.get(id(node.layer), 0) + 1
        for tensor in node.outputs:
            labels[id(tensor)] = tensor.name + (f"#{calls[id(node.layer)]}" if count > 1 else "")
    return labels


def _place(model, backend, weights: list, dtype: str) -> None:
    """Put fresh copies of ``weights`` on ``backend`` in ``dtype``."""
    variables = [v for layer in model.layers for v in layer.weights]
    for variable, value in zip(variables, weights, strict=True):
        # A copy: optimizers update in place, and NumPy's asarray may return its argument.
        variable.value = backend.asarray(np.array(value, dtype=dtype), dtype=backend.dtype(dtype))
        variable.grad = None
    for layer in model.layers:
        if layer.weights:
            layer.backend = backend
    model.backend = backend


def _batches(x: np.ndarray, y: np.ndarray, steps: int, batch_size: int | None) -> Iterator:
    size = batch_size or len(x)
    starts = range(0, len(x), size)
    for step in range(steps):
        start = starts[step % len(starts)]
        yield x[start:start + size], y[start:start + size]


def _short(variable, layer) -> str:
    """The variable's name within its layer: ``kernel``, ``query/kernel`` for a sublayer's,
    or the wrapped layer's whole name (``forward_lstm/kernel``, ``lstm_cell/kernel``), so the
    two directions of a Bidirectional or the cells of an RNN keep apart."""
    prefix = f"{layer.name}/"
    return variable.name[len(prefix):] if variable.name.startswith(prefix) else variable.name


# --- tolerances ---------------------------------------------------------------------------------
def _reduction_lengths(model, x: np.ndarray, steps: int) -> dict[Key, int]:
    """The ``n`` of each quantity (module docstring): how many rounded terms can meet in one entry."""
    lengths: dict[Key, int] = {}
    backward = sum(_fan_out(layer) for layer in model.layers)
    if isinstance(model, Sequential):
        forward = 0
        shape = tuple(x.shape)
        for layer in model.layers:
            forward += _fan_in(layer, shape)
            lengths[(layer.name, "output")] = forward
            shape = layer.compute_output_shape(shape)
    else:
        paths = {id(model.inputs[0]): 0}  # per tensor: the longest path's summed fan-ins
        labels = _node_labels(model)
        for node in model._nodes:
            reached = max(paths[id(tensor)] for tensor in node.inputs) + _fan_in(
                node.layer, (len(x), *node.inputs[0].shape[1:]))
            for tensor in node.outputs:
                paths[id(tensor)] = reached
                lengths[(labels[id(tensor)], "output")] = reached
        forward, shape = paths[id(model.outputs[0])], (len(x), *model.output_shape[1:])
    lengths[("(loss)", "loss")] = forward + math.prod(shape)
    gradients = forward + backward + len(x)
    for layer in model.layers:
        for variable in layer.weights:
            lengths[(layer.name, f"grad {_short(variable, layer)}")] = gradients
            lengths[(layer.name, f"{_short(variable, layer)} after {steps} step(s)")] = steps * gradients
    lengths[("(training)", "loss per step")] = steps * gradients
    return lengths


def _fan_in(layer, input_shape: tuple) -> int:
    """Terms summed per output entry: a kernel's fan-in; for a layer with only 1-D weights (a
    normalization), the input values per weight entry (what a per-channel statistic averages)."""
    shapes = [v.shape for v in layer.weights]
    kernels = [s for s in shapes if len(s) >= 2]
    if kernels:
        return sum(math.prod(s[:-1]) for s in kernels)
    if shapes:
        return max(math.prod(input_shape) // max(math.prod(s) for s in shapes), 1)
    return 1


def _fan_out(layer) -> int:
    """Terms summed per input-gradient entry: the kernels' output widths (1 without a kernel)."""
    return sum(v.shape[-1] for v in layer.weights if len(v.shape) >= 2) or 1


# --- leaving the model and the generators as they were ------------------------------------------
@contextlib.contextmanager
def _floatx(dtype: str) -> Iterator[None]:
    previous = config.floatx()
    config.set_floatx(dtype)
    try:
        yield
    finally:
        config.set_floatx(previous)


@contextlib.contextmanager
def _preserved(model) -> Iterator[Callable[[], None]]:
    """Restore the model's weights, placement and optimizer afterwards; yields ``rewind()``,
    which resets every host generator (the global one, layers' own) to its state on entry."""
    variables = [v for layer in model.layers for v in layer.weights]
    saved_values = [(v, v.value, v.grad) for v in variables]
    saved_backends = [(layer, layer.backend) for layer in model.layers]
    saved_model = (model.backend, model.optimizer)
    generators = [host_random.generator()] + [
        value for layer in model.layers for value in vars(layer).values()
        if isinstance(value, np.random.Generator)
    ]
    states = [g.bit_generator.state for g in generators]

    def rewind() -> None:
        for generator, state in zip(generators, states):
            generator.bit_generator.state = state

    try:
        yield rewind
    finally:
        rewind()
        for variable, value, grad in saved_values:
            variable.value, variable.grad = value, grad
        for layer, backend in saved_backends:
            layer.backend = backend
        model.backend, model.optimizer = saved_model


def _is_builder(candidate: Any) -> bool:
    return callable(candidate) and not hasattr(candidate, "layers")
