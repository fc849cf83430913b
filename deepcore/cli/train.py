"""``deepcore train CONFIG``: train a model described by a TOML or JSON file, report its held-out
metrics and save it.

    deepcore train examples/configs/breast_cancer.toml [--output model.deepcore] [--backend numpy]
    deepcore train --np 2 examples/configs/digits.toml     # data-parallel on 2 MPI ranks

The config, every key with its default (``[data]``'s source, ``layers`` and ``loss`` are required)::

    seed = 0                        # seeds weights, the test split, shuffling and dropout
    backend = "auto"                # numpy, torch, cupy, ... (default: DEEPCORE_BACKEND, else auto)
    device = 0                      # a device of that backend (default: DEEPCORE_DEVICE, else its first)
    output = "<config name>.deepcore"   # relative to the current directory

    [data]                          # one of dataset or csv:
    dataset = "breast_cancer"       # scikit-learn's breast_cancer, digits, diabetes, iris or wine
    csv = "data.csv"                # a CSV with a header, relative to the config file ...
    target = "label"                # ... and the name of its target column
    standardize = false             # true: a Normalization layer, adapted on the training rows, first
    test_split = 0.2                # the held-out fraction (a seeded random split)

    [model]
    layers = [{ type = "Dense", units = 16, activation = "relu" }, ...]

    [compile]
    loss = "binary_crossentropy"    # a name or { class_name = "BinaryCrossentropy", config = {...} }
    optimizer = "rmsprop"           # a name or { class_name = "Adam", config = { learning_rate = 0.01 } }
    metrics = []                    # names (e.g. "accuracy") or { class_name = ..., config = {...} }

    [fit]
    epochs = 1
    batch_size = 32
    validation_split = 0.0
    shuffle = true

Standardization lives inside the saved model, so ``deepcore predict`` takes raw features.
Exit status: 0 on success, 2 when the config or its data cannot be used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

SKLEARN_DATASETS = ("breast_cancer", "digits", "diabetes", "iris", "wine")
SECTIONS = {
    "": {"seed", "backend", "device", "output", "data", "model", "compile", "fit"},
    "data": {"dataset", "csv", "target", "standardize", "test_split"},
    "model": {"layers"},
    "compile": {"loss", "optimizer", "metrics"},
    "fit": {"epochs", "batch_size", "validation_split", "shuffle"},
}


class ConfigError(ValueError):
    """The training config is malformed or asks for something impossible."""


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a model described by a TOML or JSON config",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path, help="the job: a .toml or .json file")
    parser.add_argument("--output", type=Path, default=None, help="where to save the model (overrides 'output')")
    parser.add_argument("--backend", default=None, help="the backend to train on (overrides 'backend')")
    parser.add_argument("--np", type=int, default=1, metavar="N",
                        help="train data-parallel on N MPI ranks of this machine (runs mpiexec)")
    parser.set_defaults(func=run)


def launch_ranks(args: argparse.Namespace) -> int:
    """Run this same command under ``mpiexec -n N`` (one BLAS thread per rank by default)."""
    search_path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    mpiexec = shutil.which("mpiexec", path=search_path)
    if mpiexec is None:
        print('deepcore train: error: --np needs mpiexec: pip install "deepcore[mpi]"', file=sys.stderr)
        return 2
    command = [mpiexec, "-n", str(args.np), sys.executable, "-m", "mpi4py", "-m", "deepcore", "train",
               str(args.config)]
    for option in ("output", "backend"):
        if getattr(args, option) is not None:
            command += [f"--{option}", str(getattr(args, option))]
    env = {"OMP_NUM_THREADS": "1", **os.environ}
    return subprocess.call(command, env=env, stdin=subprocess.DEVNULL)


def run(args: argparse.Namespace) -> int:
    if args.np > 1:
        return launch_ranks(args)
    import deepcore as dc
    from deepcore import distribution
    from deepcore.backend import BackendUnavailableError

    if distribution.launch.launcher_size() > 1:  # one rank of `deepcore train --np N`
        distribution.set_distribution(distribution.DataParallel())
    show = print if distribution.is_main() else _quiet
    try:
        config = load_config(args.config)
        name = args.backend or config.get("backend") or os.environ.get("DEEPCORE_BACKEND") or "auto"
        backend = dc.set_backend(name, config.get("device"))
        dc.utils.set_random_seed(config.get("seed", 0))
        x_train, y_train, x_test, y_test, source = load_data(config["data"], args.config, config.get("seed", 0))
        model = build_model(config, x_train)
        fit_options = config.get("fit", {})
    except (ValueError, TypeError, FileNotFoundError, ImportError, BackendUnavailableError) as exc:
        print(f"deepcore train: error: {args.config}: {exc}", file=sys.stderr)
        return 2

    show(f"Data: {source}: {len(x_train)} training and {len(x_test)} test rows, {x_train.shape[1]} features")
    show(f"Backend: {backend.name} ({backend.device}), {distribution.world_size()} rank(s)")
    model.summary(print_fn=show)
    model.fit(x_train, y_train, **fit_options)
    if len(x_test):
        from deepcore.callbacks.progbar import format_logs

        show(f"Test: {format_logs(model.evaluate(x_test, y_test, verbose=0, return_dict=True))}")
    if distribution.is_main():
        output = args.output or Path(config.get("output", args.config.with_suffix(".deepcore").name))
        model.save(output)
        show(f"Saved the model to {output}")
    return 0


def _quiet(*args, **kwargs) -> None:
    """Ranks other than 0 print nothing."""


def load_config(path: Path) -> dict:
    """Parse and check the config's structure (unknown keys are errors, to catch typos)."""
    try:
        if path.suffix == ".json":
            config = json.loads(path.read_text())
        elif path.suffix == ".toml":
            config = _toml().loads(path.read_text())
        else:
            raise ConfigError(f"expected a .toml or .json file; received {path.suffix or 'no extension'!r}.")
    except FileNotFoundError:
        raise FileNotFoundError("no such config file.") from None
    except ValueError as exc:  # json.JSONDecodeError and tomllib.TOMLDecodeError
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"cannot parse the file: {exc}") from None
    _check_keys(config, "")
    for section in ("data", "model", "compile"):
        if section not in config:
            raise ConfigError(f"missing the [{section}] section.")
    for section in ("data", "model", "compile", "fit"):
        if section in config:
            _check_keys(config[section], section)
    if "layers" not in config["model"] or not config["model"]["layers"]:
        raise ConfigError("[model] needs layers = [{ type = \"Dense\", units = ... }, ...].")
    if "loss" not in config["compile"]:
        raise ConfigError("[compile] needs a loss, e.g. loss = \"binary_crossentropy\".")
    for key in ("epochs", "batch_size"):
        value = config.get("fit", {}).get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"[fit] {key} must be a positive integer; received {value!r}.")
    return config


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli
    except ImportError:
        raise ConfigError(
            "reading TOML needs Python 3.11+ or `pip install tomli`; or write the config as JSON."
        ) from None
    return tomli


def _check_keys(table: Any, section: str) -> None:
    where = f"[{section}]" if section else "the top level"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table; received {table!r}.")
    unknown = sorted(set(table) - SECTIONS[section])
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; expected some of {sorted(SECTIONS[section])}.")


def load_data(data: dict, config_path: Path, seed: int):
    """``(x_train, y_train, x_test, y_test, description)`` from a scikit-learn dataset or a CSV."""
    if ("dataset" in data) == ("csv" in data):
        raise ConfigError("[data] needs exactly one of dataset = \"...\" or csv = \"...\".")
    if "dataset" in data:
        x, y = _sklearn_dataset(data["dataset"])
        source = f"scikit-learn {data['dataset']}"
    else:
        if "target" not in data:
            raise ConfigError("[data] with csv needs target = \"<name of the target column>\".")
        x, y = _csv_dataset(config_path.parent / data["csv"], data["target"])
        source = data["csv"]
    test_split = data.get("test_split", 0.2)
    if not 0.0 <= test_split < 1.0:
        raise ConfigError(f"[data] test_split must be in [0, 1); received {test_split!r}.")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_split))
    test, train = order[:n_test], order[n_test:]
    if len(train) == 0:
        raise ConfigError(f"test_split={test_split} leaves no training rows out of {len(x)}.")
    return x[train], y[train], x[test], y[test], source


def _sklearn_dataset(name: str):
    if name not in SKLEARN_DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; expected one of {', '.join(SKLEARN_DATASETS)}.")
    try:
        from sklearn import datasets
    except ImportError:
        raise ConfigError(f"dataset {name!r} comes from scikit-learn: pip install scikit-learn.") from None
    return getattr(datasets, f"load_{name}")(return_X_y=True)


def _csv_dataset(path: Path, target: str):
    from deepcore.cli.tables import read_csv

    header, values = read_csv(path)
    if header is None:
        raise ConfigError(f"'{path}' has no header row, so the target column {target!r} cannot be found.")
    if target not in header:
        raise ConfigError(f"'{path}' has no column {target!r}; its columns are {header}.")
    column = header.index(target)
    return np.delete(values, column, axis=1), values[:, column]


def build_model(config: dict, x_train: np.ndarray):
    """The compiled `Sequential` model of the config, built for ``x_train``'s features."""
    from deepcore import layers
    from deepcore.models import Sequential
    from deepcore.saving import deserialize_object

    model = Sequential()
    if config["data"].get("standardize", False):
        normalization = layers.Normalization()
        normalization.adapt(x_train)
        model.add(normalization)
    for position, spec in enumerate(config["model"]["layers"], start=1):
        if not isinstance(spec, dict) or "type" not in spec:
            raise ConfigError(
                f"layer {position} must be a table with a type, e.g. {{ type = \"Dense\", units = 8 }}."
            )
        options = {key: value for key, value in spec.items() if key != "type"}
        try:
            model.add(deserialize_object({"class_name": spec["type"], "config": options}, "layer"))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"layer {position} ({spec['type']}): {exc}") from None
    if not model.built:
        model.build((None, *x_train.shape[1:]))

    compile_config = config["compile"]
    model.compile(
        optimizer=_named_or_spec(compile_config.get("optimizer", "rmsprop"), "optimizer"),
        loss=_named_or_spec(compile_config["loss"], "loss"),
        metrics=[_named_or_spec(metric, "metric") for metric in compile_config.get("metrics", [])],
    )
    return model


def _named_or_spec(value, kind: str):
    """A name is left to `compile` to resolve; a ``{class_name, config}`` table is rebuilt here."""
    from deepcore.saving import deserialize_object

    return deserialize_object(value, kind) if isinstance(value, dict) else value
