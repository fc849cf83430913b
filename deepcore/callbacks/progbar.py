"""Progress display: a live tqdm bar per epoch (verbose=1) or one line per epoch (verbose=2)."""

from __future__ import annotations

import sys
import time

from deepcore.callbacks.base import Callback

REFRESH_SECONDS = 0.5  # reading the loss waits for the device: do it at most this often


def format_value(value) -> str:
    """Keras's rule: 4 decimals, or scientific notation for magnitudes up to 1e-3 (so a
    learning rate of 1e-5 does not show as 0.0000); a list (e.g. a metric at several
    thresholds) element by element."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def format_logs(logs: dict) -> str:
    return " - ".join(f"{key}: {format_value(value)}" for key, value in logs.items())


class ProgbarLogger(Callback):
    """Shows training progress.

    ``verbose=1``: "Epoch i/n", then a bar with the steps done, elapsed time, ETA and the
    running mean of the batch losses, refreshed at most every `REFRESH_SECONDS` (each read
    waits for the device); the epoch's logs replace it at the end. Only when stdout is a
    terminal: elsewhere (CI logs, files) it falls back to ``verbose=2`` so logs get no bar
    redraws. ``verbose=2``: "Epoch i/n" and one summary line per epoch. ``verbose=0``: nothing.
    """

    main_rank_only = True

    def __init__(self, verbose: int = 1):
        super().__init__()
        self.verbose = 2 if verbose == 1 and not sys.stdout.isatty() else verbose
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        if not self.verbose:
            return
        self._epoch_start = time.perf_counter()
        print(f"Epoch {epoch + 1}/{self.params['epochs']}", flush=True)
        if self.verbose == 1:
            from tqdm import tqdm

            self._bar = tqdm(total=self.params["steps"], file=sys.stdout, leave=True, dynamic_ncols=True,
                             bar_format="{n_fmt}/{total_fmt} {bar} {elapsed}<{remaining} {desc}")
            self._loss_sum = 0.0
            self._batches = 0
            self._last_refresh = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is None:
            return
        self._bar.update(1)
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        self._loss_sum = self._loss_sum + loss  # stays on the device until the next refresh
        self._batches += 1
        now = time.perf_counter()
        if now - self._last_refresh > REFRESH_SECONDS:
            self._last_refresh = now
            mean = float(self._loss_sum) / self._batches
            self._bar.set_description_str(f"- loss: {format_value(mean)}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if not self.verbose:
            return
        elapsed = time.perf_counter() - self._epoch_start
        steps = self.params["steps"]
        summary = format_logs(logs or {})
        if self._bar is not None:
            self._bar.set_description_str(f"- {summary}", refresh=True)
            self._bar.close()
            self._bar = None
        else:
            print(f"{steps}/{steps} - {elapsed:.0f}s - {1000 * elapsed / max(steps, 1):.0f}ms/step - {summary}",
                  flush=True)
