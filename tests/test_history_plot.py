"""History.plot writes a PNG of the training curves; the overfitting example stops early."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from deepcore.callbacks import History
from deepcore.layers import Dense
from deepcore.models import Sequential

pytest.importorskip("matplotlib", reason="History.plot needs matplotlib (the 'plot' extra)")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def recorded(history_dict: dict) -> History:
    history = History()
    history.history = history_dict
    history.epoch = list(range(len(next(iter(history_dict.values())))))
    return history


def png_size(path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk that follows the signature."""
    with open(path, "rb") as file:
        head = file.read(24)
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_plot_draws_train_and_validation_curves_per_quantity(tmp_path):
    history = recorded({
        "loss": [1.0, 0.5, 0.3], "accuracy": [0.5, 0.7, 0.9], "learning_rate": [0.1, 0.1, 0.05],
        "val_loss": [1.1, 0.7, 0.8], "val_accuracy": [0.4, 0.6, 0.6],
    })
    path = tmp_path / "curves.png"
    figure = history.plot(path)
    width, height = png_size(path)
    assert width > height > 0  # panels side by side
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy", "learning_rate"]
    assert [len(ax.lines) for ax in axes] == [2, 2, 1]
    assert [line.get_label() for line in axes[0].lines] == ["train", "validation"]
    np.testing.assert_array_equal(axes[0].lines[1].get_xdata(), [1, 2, 3])  # 1-based epochs
    np.testing.assert_array_equal(axes[0].lines[1].get_ydata(), [1.1, 0.7, 0.8])


def test_plot_validation_only_quantity_and_title(tmp_path):
    figure = recorded({"loss": [1.0, 0.5], "val_auc": [0.6, 0.7]}).plot(tmp_path / "p.png", title="run")
    assert [ax.get_title() for ax in figure.axes] == ["loss", "auc"]
    assert [line.get_label() for line in figure.axes[1].lines] == ["validation"]
    assert figure.get_suptitle() == "run"


def test_plot_after_fit(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3))
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    history = model.fit(x, x.sum(axis=1), epochs=4, validation_split=0.25, verbose=0)
    figure = history.plot(tmp_path / "fit.png")
    png_size(tmp_path / "fit.png")
    assert [len(ax.lines) for ax in figure.axes] == [2, 2]
    assert list(figure.axes[1].lines[0].get_ydata()) == history.history["mae"]


def test_plot_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="history is empty"):
        History().plot(tmp_path / "empty.png")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if absent
    with pytest.raises(ImportError, match=r'pip install "deepcore\[plot\]"'):
        recorded({"loss": [1.0]}).plot(tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


@pytest.mark.slow
def test_overfitting_example_stops_early_and_writes_the_plot(tmp_path):
    path = tmp_path / "overfitting.png"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "overfitting_early_stopping.py"),
         "--epochs", "60", "--plot", str(path)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "DEEPCORE_BACKEND": "numpy"},
    )
    assert result.returncode == 0, result.stderr
    stopped = re.search(r"stopped at epoch (\d+) of 60", result.stdout)
    assert stopped, result.stdout
    best, best_loss, last_loss = re.search(
        r"best epoch: (\d+), val_loss (\d+\.\d+) \(last epoch: (\d+\.\d+)", result.stdout).groups()
    restored_loss = re.search(r"restored weights: val_loss (\d+\.\d+)", result.stdout).group(1)
    assert int(stopped.group(1)) == int(best) + 10  # default patience 10
    assert float(last_loss) > float(best_loss)  # overfitting: validation loss went back up
    assert restored_loss == best_loss  # the restore brought back the best epoch's weights
    assert png_size(path)[0] > 0
