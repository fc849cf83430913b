"""``deepcore predict MODEL CSV``: run a saved model on the rows of a CSV file of features.

    deepcore predict breast_cancer.deepcore features.csv --output predictions.csv

The CSV holds one row per sample and one numeric column per feature, with or without a header
row, in the order the model was trained on (preprocessing saved in the model, such as the
``Normalization`` layer ``deepcore train`` adds, is applied by the model itself). The
predictions go to ``--output`` or to standard output as CSV: a ``prediction`` column for one
output, ``prediction_0``, ``prediction_1``, ... for several.
Exit status: 0 on success, 2 when the model or the CSV cannot be used.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np


def register(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="predict the rows of a CSV file with a saved model",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a file written by model.save() or deepcore train")
    parser.add_argument("csv", type=Path, help="the features, one row per sample (header optional)")
    parser.add_argument("--output", type=Path, default=None, help="write the predictions here (default: stdout)")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per forward pass (default 256)")
    parser.add_argument("--backend", default=None,
                        help="the backend to run on (default: DEEPCORE_BACKEND, else auto)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import deepcore as dc
    from deepcore.backend import BackendUnavailableError
    from deepcore.cli.tables import read_csv
    from deepcore.models import load_model

    try:
        if args.backend:
            dc.set_backend(args.backend)
        model = load_model(args.model, compile=False)
        _, features = read_csv(args.csv)
        _check_width(model, features, args)
    except (ValueError, FileNotFoundError, IsADirectoryError, BackendUnavailableError) as exc:
        print(f"deepcore predict: error: {exc}", file=sys.stderr)
        return 2
    predictions = model.predict(features, batch_size=args.batch_size, verbose=0)
    text = format_predictions(predictions.reshape(len(predictions), -1))
    if args.output is None:
        sys.stdout.write(text)
    else:
        from deepcore.saving import write_atomically

        write_atomically(str(args.output), text.encode())
        print(f"Wrote {len(predictions)} predictions to {args.output}", file=sys.stderr)
    return 0


def _check_width(model, features: np.ndarray, args: argparse.Namespace) -> None:
    if isinstance(model.input_shape, list) or isinstance(getattr(model, "output_shape", None), list):
        raise ValueError(
            f"the model '{args.model}' has several inputs or outputs; deepcore predict feeds one CSV table "
            "to a model with one input and one output (use model.predict in Python)."
        )
    expected = model.input_shape[1:] if model.input_shape is not None else None
    if expected is not None and len(expected) == 1 and expected[0] != features.shape[1]:
        raise ValueError(
            f"the model '{args.model}' expects {expected[0]} features per row; '{args.csv}' has "
            f"{features.shape[1]} columns. Drop the target and any other extra column."
        )


def format_predictions(predictions: np.ndarray) -> str:
    """``(rows, outputs)`` -> CSV text with a header; 9 significant digits keep float32 exact."""
    outputs = predictions.shape[1]
    header = "prediction" if outputs == 1 else ",".join(f"prediction_{i}" for i in range(outputs))
    buffer = io.StringIO()
    np.savetxt(buffer, predictions, fmt="%.9g", delimiter=",", header=header, comments="")
    return buffer.getvalue()
