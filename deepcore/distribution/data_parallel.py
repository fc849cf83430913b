"""`DataParallel`: every rank holds the whole model and computes the gradient of its shard
of each *global* batch; one allreduce of a flat buffer per step averages the gradients.

The split follows what a single process would do with the same global batch: the loss of a
global batch of B samples is ``sum(per-sample losses) / B``, so rank r, holding b_r samples
and computing ``sum(its losses) / b_r``, contributes its gradient times ``b_r / B``. Uneven
shards and a short last batch are therefore weighted exactly, and a 2-rank run reproduces
the 1-rank run up to summation order.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from deepcore import random as host_random
from deepcore.distribution import launch


class DataParallel:
    """Data parallelism over all ranks of the MPI job (Keras 3's name).

    After ``set_distribution(DataParallel())``, plain ``model.fit`` trains data-parallel;
    ``evaluate`` and ``predict`` compute the full result on every rank.
    """

    def __init__(self):
        launch.initialize()
        self.rank = launch.rank()
        self.world_size = launch.world_size()
        self.collectives: Any = None

    # --- called by Model.fit --------------------------------------------------------------
    def begin_fit(self, model, backend) -> None:
        """Check that all ranks built the same model, then give every rank rank 0's weights,
        optimizer state and host random state (so all draw the same shuffling order)."""
        self.backend = backend
        self.collectives = backend.make_collectives(launch.communicator())
        signature = [(v.name.split("/", 1)[-1], v.shape, str(v.value.dtype)) for v in model.weights]
        signatures = self.collectives.allgather_object(signature)
        for other_rank, other in enumerate(signatures):
            if other != signature:
                raise RuntimeError(
                    f"Ranks disagree on the model architecture: rank {self.rank} has {signature}, "
                    f"rank {other_rank} has {other}. Build the same model on every rank."
                )
        variables = model.weights
        for variable, value in zip(variables, self.collectives.broadcast_arrays([v.value for v in variables])):
            variable.value = value
        trainable = model.trainable_variables
        state = model.optimizer.state(trainable)
        if state:
            model.optimizer.set_state(trainable, self.collectives.broadcast_arrays(state),
                                      model.optimizer.iterations)
        generator = host_random.generator()
        generator.bit_generator.state = self.collectives.broadcast_object(generator.bit_generator.state)

    def shard(self, index: Any, batch_length: int) -> tuple[Any, float]:
        """This rank's part of a global batch index (a slice or a device array of indices),
        and the weight ``b_r / B`` of its gradient."""
        low = self.rank * batch_length // self.world_size
        high = (self.rank + 1) * batch_length // self.world_size
        if isinstance(index, slice):
            local = slice(index.start + low, index.start + high)
        else:
            local = index[low:high]
        return local, (high - low) / batch_length

    def _summed(self, arrays: list, weight: float) -> list:
        """``weight * array`` summed over ranks, for each array, with one allreduce of one flat
        buffer."""
        xp = self.backend.xp
        flat = xp.concat([xp.reshape(a, (-1,)) for a in arrays]) * weight
        flat = self.collectives.allreduce_sum(flat)
        result, offset = [], 0
        for array in arrays:
            size = int(np.prod(array.shape))
            result.append(xp.reshape(flat[offset:offset + size], array.shape))
            offset += size
        return result

    def average_gradients(self, variables: list, weight: float) -> None:
        """Replace each ``variable.grad`` by the batch-size-weighted sum over ranks."""
        for variable, gradient in zip(variables, self._summed([v.grad for v in variables], weight)):
            variable.grad = gradient

    def average_state(self, model) -> None:
        """Average the non-trainable weights (e.g. BatchNormalization's moving statistics, which
        each rank updates from its own shards) so the replicas stay identical (once per epoch)."""
        variables = [v for v in model.weights if not v.trainable]
        if variables:
            for variable, value in zip(variables, self._summed([v.value for v in variables], 1.0 / self.world_size)):
                variable.value = value

    def reduce_metrics(self, metrics: list) -> None:
        """Sum every metric's running sums (`Metric.host_state`) over ranks (once per epoch)."""
        states = [metric.host_state() for metric in metrics]
        summed = self.collectives.allreduce_host_sum(np.array([v for state in states for v in state], dtype=np.float64))
        start = 0
        for metric, state in zip(metrics, states):
            metric.set_host_state([float(v) for v in summed[start:start + len(state)]])
            start += len(state)


_distribution: DataParallel | None = None


def set_distribution(value: DataParallel | None) -> None:
    """Make ``model.fit`` data-parallel (``None`` turns it off)."""
    global _distribution
    _distribution = value


def distribution() -> DataParallel | None:
    return _distribution


def active() -> DataParallel | None:
    """The distribution ``fit`` must honour: set, and spanning more than one rank."""
    return _distribution if _distribution is not None and _distribution.world_size > 1 else None


def check_replicas(model) -> None:
    """Raise if the weights differ between ranks (compares SHA-256 hashes of the bytes)."""
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    comm = launch.communicator()
    hashes = [digest.hexdigest()] if comm is None else comm.allgather(digest.hexdigest())
    if len(set(hashes)) > 1:
        raise AssertionError(f"Replicas differ: weight hashes by rank {hashes}.")
