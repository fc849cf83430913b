import math

from deepcore.callbacks.base import Callback


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite.

    ``raise_error=False`` (default) sets ``model.stop_training``: the epoch ends after this
    batch and ``on_train_end`` still runs for every callback. ``raise_error=True`` raises a
    ``RuntimeError`` at once instead.

    Cost: the batch loss is a device scalar, and checking it waits for the device after every
    batch, which removes the overlap between host and device that training otherwise has (a
    noticeable slowdown on a GPU with small batches; nothing measurable on a CPU). Without this
    callback, `fit` still stops after an epoch whose mean loss is not finite.
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                "Terminating training immediately."
            )
        print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
        self.model.stop_training = True
