from __future__ import annotations

import os

from deepcore.callbacks.base import Callback


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]``, ``["val_loss"]``, each metric;
    ``history.epoch`` lists the 0-based epochs run."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def plot(self, path: "str | os.PathLike", title: str | None = None):
        """Write a PNG with one panel per quantity (``loss``, each metric...), side by side,
        each showing the training curve and, when recorded, the ``val_`` curve against the
        1-based epoch. Returns the matplotlib ``Figure``.

        Needs matplotlib: ``pip install "deepcore[plot]"``.
        """
        try:
            from matplotlib.figure import Figure
        except ImportError as error:
            raise ImportError(
                "History.plot needs matplotlib, which is not installed. Install it with "
                "pip install \"deepcore[plot]\" (or pip install matplotlib)."
            ) from error
        quantities = _quantities(self.history)
        if not quantities:
            raise ValueError("History.plot: nothing to plot; the history is empty. Call fit() first.")
        longest = max(len(values) for values in self.history.values())
        epochs = [e + 1 for e in self.epoch] or list(range(1, longest + 1))
        # Figure without pyplot: no global state and no GUI backend, works headless.
        figure = Figure(figsize=(4.5 * len(quantities), 3.6), layout="constrained")
        axes = figure.subplots(1, len(quantities), squeeze=False)[0]
        for ax, name in zip(axes, quantities):
            for key, label, style in ((name, "train", "-"), ("val_" + name, "validation", "--")):
                if key in self.history:
                    values = self.history[key]
                    ax.plot(epochs[:len(values)], values, style, label=label)
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.grid(True, alpha=0.3)
            ax.legend()
        if title:
            figure.suptitle(title)
        figure.savefig(os.fspath(path), format="png", dpi=100)
        return figure


def _quantities(history: dict) -> list[str]:
    """``["loss", "accuracy"]`` from ``loss, accuracy, val_loss, val_accuracy``; a ``val_x``
    without ``x`` gives the quantity ``x`` with only its validation curve."""
    names = [key for key in history if not key.startswith("val_")]
    names += [key[4:] for key in history if key.startswith("val_") and key[4:] not in history]
    return names
