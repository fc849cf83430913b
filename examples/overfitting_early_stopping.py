"""Overfitting, caught by EarlyStopping: a wide MLP on a small slice of scikit-learn's breast
cancer data set, with a validation split.

    python examples/overfitting_early_stopping.py                  # plot in a temp folder
    python examples/overfitting_early_stopping.py --plot curves.png --epochs 300

With 100 training samples (30 features) and two 512-unit layers the model fits the
training set almost perfectly within a few epochs; from then on the training loss keeps
falling while the validation loss turns back up, as the model grows overconfident on the
validation samples it gets wrong. `EarlyStopping(monitor="val_loss", patience=...)` stops training that many
epochs after the best validation loss and puts back the weights of that best epoch
(`restore_best_weights=True`). The script prints the epoch it stopped at, the best epoch,
the validation loss of the restored model (evaluated again, so it shows the restore worked)
and writes the loss and accuracy curves (`History.plot`) as a PNG.
"""

import argparse
import os
import tempfile

import numpy as np
from sklearn.datasets import load_breast_cancer

import deepcore as dc
from deepcore.callbacks import EarlyStopping
from deepcore.layers import Dense
from deepcore.models import Sequential

VALIDATION_SPLIT = 0.5


def train_size(samples: int) -> int:
    """How many leading rows `fit(validation_split=VALIDATION_SPLIT)` trains on (its formula)."""
    return int(samples * (1.0 - VALIDATION_SPLIT))


def load_slice(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` rows in a shuffled order, standardized with the statistics of the first
    half (the training part; `fit`'s validation_split takes the last half)."""
    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(x))[:samples]
    x, y = x[order], y[order]
    train = x[:train_size(samples)]
    x = (x - train.mean(axis=0)) / train.std(axis=0)
    return x.astype("float32"), y.astype("float32")


def main(epochs: int = 200, patience: int = 10, samples: int = 200, plot: str | None = None,
         seed: int = 0) -> dict:
    """Train until EarlyStopping ends it, print what happened, write the curves to ``plot``
    (default: a new temp folder); returns the numbers printed."""
    dc.utils.set_random_seed(seed)
    x, y = load_slice(samples, seed)

    model = Sequential([
        Dense(512, activation="relu", input_shape=(x.shape[1],)),
        Dense(512, activation="relu"),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=dc.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    stopper = EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    history = model.fit(x, y, epochs=epochs, batch_size=32, validation_split=VALIDATION_SPLIT,
                        callbacks=[stopper], verbose=0)

    val_loss = history.history["val_loss"]
    best = int(np.argmin(val_loss))
    split = train_size(len(x))
    restored_loss, restored_accuracy = model.evaluate(x[split:], y[split:], verbose=0)

    print(f"backend: {dc.get_backend().name}, train/val samples: {split}/{len(x) - split}")
    if stopper.stopped_epoch:
        print(f"early stopping: stopped at epoch {stopper.stopped_epoch + 1} of {epochs} "
              f"(val_loss had not improved for {patience} epochs)")
    else:
        print(f"early stopping: did not trigger within {epochs} epochs")
    print(f"best epoch: {best + 1}, val_loss {val_loss[best]:.4f} "
          f"(last epoch: {val_loss[-1]:.4f}, train loss {history.history['loss'][-1]:.4f})")
    print(f"restored weights: val_loss {restored_loss:.4f}, val_accuracy {restored_accuracy:.4f}")

    path = plot or os.path.join(tempfile.mkdtemp(prefix="deepcore-"), "overfitting.png")
    history.plot(path, title=f"Breast cancer, wide MLP: stopped after {len(val_loss)} epochs, "
                             f"best epoch {best + 1}")
    print(f"plot: {path}")
    return {"epochs_run": len(val_loss), "best_epoch": best + 1, "best_val_loss": val_loss[best],
            "restored_val_loss": restored_loss, "restored_val_accuracy": restored_accuracy, "plot": path}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200, help="upper bound; EarlyStopping usually ends sooner")
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--samples", type=int, default=200, help="rows used, before the validation split")
    parser.add_argument("--plot", default=None, help="PNG path for the curves (default: a temp folder)")
    parser.add_argument("--seed", type=int, default=0)
    main(**vars(parser.parse_args()))
