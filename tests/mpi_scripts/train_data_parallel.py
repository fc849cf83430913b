"""Trains a seeded MLP data-parallel and writes rank 0's weights and History to a .npz file.

Run as ``mpiexec -n N python -m mpi4py train_data_parallel.py OUT.npz [--samples S]
[--batch-size B] [--epochs E] [--fail-on-rank R]`` or as a plain single process.
"""

import argparse
import json

import numpy as np

import deepcore as dc
from deepcore import distribution
from deepcore.layers import Dense
from deepcore.models import Sequential


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--samples", type=int, default=203)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--fail-on-rank", type=int, default=-1)
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--csv-prefix", default=None, help="log epochs to PREFIX.rank<r>.csv")
    parser.add_argument("--batchnorm", action="store_true", help="add a BatchNormalization layer")
    parser.add_argument("--wider-on-rank", type=int, default=-1, help="build a different model there")
    args = parser.parse_args()

    dc.set_backend(args.backend, device=distribution.local_rank() if args.backend == "cupy" else None)
    distribution.set_distribution(distribution.DataParallel())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, 6))
    y = (x[:, 0] - x[:, 1] + 0.1 * rng.normal(size=args.samples) > 0).astype(int)

    dc.utils.set_random_seed(7)
    hidden = 17 if distribution.rank() == args.wider_on_rank else 16
    layers = [Dense(hidden, activation="tanh", input_shape=(6,)), Dense(1, activation="sigmoid")]
    if args.batchnorm:
        layers.insert(1, dc.layers.BatchNormalization())
    model = Sequential(layers)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy", "AUC", "precision"])
    if distribution.rank() == args.fail_on_rank:
        raise RuntimeError(f"deliberate failure on rank {args.fail_on_rank}")
    callbacks = []
    if args.csv_prefix:
        callbacks.append(dc.callbacks.CSVLogger(f"{args.csv_prefix}.rank{distribution.rank()}.csv"))
    history = model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                        validation_split=0.2, callbacks=callbacks)
    distribution.check_replicas(model)
    if distribution.is_main():
        arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
        np.savez(args.out, history=json.dumps(history.history), world_size=distribution.world_size(), **arrays)


if __name__ == "__main__":
    main()
