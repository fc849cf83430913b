"""deepcore check: compare backends layer by layer on a saved model or a built-in example.

    deepcore check mlp --backends numpy,torch --steps 3 --json report.json
    deepcore check model.deepcore --data batch.npz --reference golden

Exit status: 0 when every quantity is within its tolerance, 1 when one is not, 2 on a usage
error (unknown model, backend or data file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from deepcore.backend import BackendUnavailableError
from deepcore.testing.compare import DEFAULT_FACTOR, GOLDEN, compare_backends
from deepcore.testing.examples import EXAMPLES, example

DEFAULT_SAMPLES = 64


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check", help="compare backends layer by layer on one model",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("model", metavar="MODEL_FILE_OR_EXAMPLE",
                        help=f"a file written by model.save(), or an example: {', '.join(EXAMPLES)}")
    parser.add_argument("--backends", type=_names, default=None,
                        help="comma-separated backend names (default: every registered backend; "
                             "those unusable here are skipped with the reason)")
    parser.add_argument("--reference", default="numpy",
                        help=f"the backend compared against, or '{GOLDEN}' for NumPy in float64 "
                             "(default: numpy)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--steps", type=int, default=0,
                        help="training steps (train_on_batch) before the weights are compared")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="rows per training step (default: all)")
    parser.add_argument("--data", type=Path, default=None,
                        help="an .npz file with an array 'x' and optionally 'y' (default: "
                             "random data of the model's input shape, from --seed)")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                        help=f"rows of random data (default {DEFAULT_SAMPLES})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the example and the random data")
    parser.add_argument("--rtol", type=float, default=None,
                        help="one relative tolerance for every quantity (default: derived from the dtype)")
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR,
                        help=f"scale of the derived tolerances (default {DEFAULT_FACTOR})")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the report as Markdown here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from deepcore.registry import list_backends

    try:
        model, x, y = _model_and_data(args)
        backends = args.backends or [record.name for record in list_backends()]
        report = compare_backends(
            model, x, y, backends=backends, reference=args.reference, dtype=args.dtype,
            steps=args.steps, batch_size=args.batch_size, rtol=args.rtol, factor=args.factor,
        )
    except (ValueError, FileNotFoundError, KeyError, BackendUnavailableError, NotImplementedError) as exc:
        print(f"deepcore check: error: {exc}", file=sys.stderr)
        return 2
    print(report)
    if args.json is not None:
        report.to_json(args.json)
    if args.markdown is not None:
        report.write_markdown(args.markdown)
    return 0 if report.passed else 1


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _model_and_data(args: argparse.Namespace):
    """``(model, x, y)``: the example's own data, or --data, or seeded random data."""
    if args.model in EXAMPLES:
        model, x, y = example(args.model, seed=args.seed)
    elif Path(args.model).exists():
        from deepcore.models import load_model

        model, x, y = load_model(args.model), None, None
    else:
        raise ValueError(f"{args.model!r} is neither a file nor a built-in example "
                         f"({', '.join(EXAMPLES)}).")
    if args.data is not None:
        with np.load(args.data) as arrays:
            if "x" not in arrays:
                raise KeyError(f"{args.data} has no array 'x' (it has: {', '.join(arrays.files)}).")
            x = arrays["x"]
            y = arrays["y"] if "y" in arrays else None
    elif x is None:
        x, y = _random_data(model, args.samples, args.seed)
    return model, x, y


def _random_data(model, samples: int, seed: int):
    """Standard-normal inputs of the model's input shape; targets fitting its loss (integer
    classes for sparse losses, one-hot rows for categorical ones, else uniform in [0, 1))."""
    if model.input_shape is None:
        raise ValueError("The model has no known input shape; pass --data with an array 'x'.")
    if isinstance(model.input_shape, list) or isinstance(model.output_shape, list):
        raise NotImplementedError("The model has several inputs or outputs; deepcore check compares models "
                                  "with one input and one output.")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, *model.input_shape[1:]))
    if model.loss is None:
        return x, None
    if not model.built:
        model.build(model.input_shape)
    outputs = model.output_shape[1:]
    classes = outputs[-1]
    if model.loss.sparse:
        return x, rng.integers(0, classes, size=(samples, *outputs[:-1]))
    if "categorical" in model.loss.name:
        return x, np.eye(classes)[rng.integers(0, classes, size=(samples, *outputs[:-1]))]
    return x, rng.uniform(size=(samples, *outputs))
