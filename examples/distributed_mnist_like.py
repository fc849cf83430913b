"""Data-parallel training of a digits classifier (scikit-learn's 8x8 digits, MNIST-like) with
1 and with 2 MPI ranks, printing both results side by side.

    python examples/distributed_mnist_like.py              # runs both jobs and compares
    mpiexec -n 2 python -m mpi4py examples/distributed_mnist_like.py --worker   # one job by hand

`batch_size` is the global batch: both jobs take the same steps on the same batches, so their
accuracies agree (up to float32 summation order); the 2-rank job splits each batch in two.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import deepcore as dc
from deepcore import distribution
from deepcore.layers import Dense
from deepcore.models import Sequential


def train(epochs: int) -> dict:
    """One job (of any size): returns rank 0's test accuracy and training time."""
    distribution.set_distribution(distribution.DataParallel())
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.25, random_state=0)
    dc.utils.set_random_seed(0)
    model = Sequential([
        Dense(128, activation="relu", input_shape=(64,)),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    distribution.check_replicas(model)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {"ranks": distribution.world_size(), "test_accuracy": accuracy, "train_seconds": seconds}


def launch(ranks: int, epochs: int) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--epochs", str(epochs)]
    if ranks > 1:
        mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        if mpiexec is None:
            raise SystemExit('mpiexec not found: pip install "deepcore[mpi]"')
        command = [mpiexec, "-n", str(ranks), sys.executable, "-m", "mpi4py", *command[1:]]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env, timeout=600,
                            stdin=subprocess.DEVNULL).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--worker", action="store_true", help="run one job (under mpiexec or not)")
    args = parser.parse_args()
    if args.worker:
        result = train(args.epochs)
        if distribution.is_main():
            print(json.dumps(result))
        return
    results = [launch(ranks, args.epochs) for ranks in (1, 2)]
    for result in results:
        print(f"{result['ranks']} rank(s): test accuracy {result['test_accuracy']:.4f}, "
              f"training {result['train_seconds']:.2f} s")
    difference = abs(results[0]["test_accuracy"] - results[1]["test_accuracy"])
    print(f"accuracy difference between 1 and 2 ranks: {difference:.4f}")


if __name__ == "__main__":
    main()
