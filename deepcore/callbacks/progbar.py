"""Progress display: a live tqdm bar per epoch (verbose=1) or one line per epoch (verbose=2)."""

from __future__ import annotations

import sys
import time

from deepcore.callbacks.base import Callback

REFRESH_SECONDS = 0.5  # reading the loss waits for the device: do it at most this often


def format_logs(logs: dict) -> str:
    return " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())


class ProgbarLogger(Callback):
    """Shows training progress. ``verbose=1``: a bar with loss and ETA when stdout is a
    terminal (else falls back to one line per epoch, so CI logs are not spammed);
    ``verbose=2``: one line per epoch."""

    def __init__(self, verbose: int = 1):
        super().__init__()
        self.verbose = verbose if sys.stdout.isatty() else 2
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        print(f"Epoch {epoch + 1}/{self.params['epochs']}", flush=True)
        if self.verbose == 1:
            from tqdm import tqdm

            self._bar = tqdm(total=self.params["steps"], file=sys.stdout, leave=True,
                             bar_format="{n_fmt}/{total_fmt} {bar} {elapsed}<{remaining} {postfix}")
            self._last_refresh = 0.0

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.perf_counter()
        if logs and now - self._last_refresh > REFRESH_SECONDS:
            self._last_refresh = now
            self._bar.set_postfix_str(f"loss: {float(logs['loss']):.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._epoch_start
        steps = self.params["steps"]
        summary = format_logs(logs or {})
        if self._bar is not None:
            self._bar.set_postfix_str(summary, refresh=True)
            self._bar.close()
            self._bar = None
        else:
            print(f"{steps}/{steps} - {elapsed:.0f}s - {1000 * elapsed / max(steps, 1):.0f}ms/step - {summary}",
                  flush=True)
