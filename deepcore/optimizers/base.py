"""The optimizer base: learning rate (or schedule), gradient clipping, weight decay, state.

State (moments, accumulators) lives on the backend's device next to the weights and is
updated in place; the step counter and the learning rate are host numbers, so a step never
waits for the device.
"""

from __future__ import annotations

from typing import Any, Callable

from deepcore.backend import array_namespace
from deepcore.optimizers import schedules
from deepcore.optimizers.flat_group import FlatGroup, is_small
from deepcore.registry import get_backend

# Every this many steps, state entries below `denormal_threshold` (9.9e-32 in float32) become
# 0. Moments of weights whose gradient stays 0 (dead ReLU units) decay geometrically into the
# denormal range and, by rounding, stay there for good; arithmetic on denormals is up to ~15x
# slower on x86 CPUs (a NumPy Adam step ~3.5x). The threshold sits 2^23 above the denormal
# range, so between two flushes a decaying Adam moment (x0.9 a step) cannot reach it, nor can
# its products with alpha >= 1e-4 (that takes > 60 steps). Numerical effect: a moment |m| below
# the threshold moves a weight by less than alpha * 9.9e-32 / epsilon (1e-27 with Keras's
# defaults), below half an ulp of any float32 weight larger than ~1e-20 in magnitude, and
# sqrt(v) < 3.2e-16 changes sqrt(v) + epsilon by less than float32's resolution. A flush costs
# two passes over the state (0.6 ms for 1.3M float32 entries): 0.3% of an MLP step every 50.
DENORMAL_FLUSH_INTERVAL = 50


class Optimizer:
    """Base class. Subclasses list their state in `slot_names()` and implement `update_step`.

    Per step, in Keras's order: clip the gradients (``clipvalue``, then ``clipnorm`` per
    tensor, then ``global_clipnorm``), decay the weights (``w -= w * weight_decay * lr``), then
    `update_step` each variable; with ``use_ema``, update each variable's moving average
    (``average = m * average + (1 - m) * w``, m = ``ema_momentum``, 0 at the first step) and,
    every ``ema_overwrite_frequency`` steps, set the weights to it (`finalize_variable_values`
    does so at the end of ``fit``); every `DENORMAL_FLUSH_INTERVAL` steps, flush near-denormal
    state entries to 0. Small variables of one dtype are updated together as one flat
    `FlatGroup` (same values as one by one: the updates are elementwise), unless a subclass
    sets ``elementwise = False`` (its update reads whole tensors, e.g. their norms).
    """

    elementwise = True

    def __init__(self, learning_rate: float | Callable[[int], float] = 0.001,
                 weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None,
                 use_ema: bool = False, ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
                 name: str | None = None):
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError("Only one of clipnorm and global_clipnorm can be set.")
        if not 0.0 <= ema_momentum <= 1.0:
            raise ValueError(f"ema_momentum must be in [0, 1]. Received: ema_momentum={ema_momentum!r}")
        if ema_overwrite_frequency is not None and (not isinstance(ema_overwrite_frequency, int)
                                                    or ema_overwrite_frequency < 1):
            raise ValueError("ema_overwrite_frequency must be None or a positive integer. "
                             f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}")
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = use_ema, ema_momentum, ema_overwrite_frequency
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._slots: dict[int, dict[str, Any]] = {}
        self._group: FlatGroup | None = None

    # --- to be provided by subclasses ---------------------------------------------------
    def slot_names(self) -> tuple[str, ...]:
        """Names of the per-variable state arrays, created as zeros on first use."""
        return ()

    def state_names(self) -> tuple[str, ...]:
        """`slot_names`, then ``"average"`` (the weights' moving average) with ``use_ema``."""
        return self.slot_names() + (("average",) if self.use_ema else ())

    def keras_slot_blocks(self) -> list[tuple[str, ...]]:
        """The order of Keras 3's optimizer variables after ``iterations`` and the learning
        rate, as blocks of slot names: each block's slots variable by variable (``[("m",
        "v")]``: m_0, v_0, m_1, v_1...), block after block. With ``use_ema`` Keras keeps the
        averages first."""
        return ([("average",)] if self.use_ema else []) + [self.slot_names()]

    def keras_extra_variables(self) -> list[float]:
        """Scalars Keras keeps after the slots (Nadam's momentum product)."""
        return []

    def initial_slot_value(self, name: str) -> float:
        return 0.0

    def update_step(self, variable, gradient, learning_rate: float, slots: dict[str, Any]) -> None:
        """Update ``variable.value`` (and ``slots``) in place from ``gradient``."""
        raise NotImplementedError

    # --- the step -------------------------------------------------------------------------
    @property
    def current_learning_rate(self) -> float:
        lr = self.learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    def slots_for(self, variable) -> dict[str, Any]:
        key = id(variable)
        if key not in self._slots:
            xp = array_namespace(variable.value)
            self._slots[key] = {
                name: xp.full_like(variable.value, self.initial_slot_value(name))
                for name in self.state_names()
            }
        return self._slots[key]

    def apply(self, variables: list) -> None:
        """One step over ``variables`` (each with ``.value`` and ``.grad``)."""
        lr = self.current_learning_rate
        gradients = self._clip([v.grad for v in variables])
        for target, gradient in self._targets(variables, gradients):
            if self.weight_decay:
                target.value -= target.value * (self.weight_decay * lr)
            slots = self.slots_for(target)
            self.update_step(target, gradient, lr, slots)
            if self.use_ema:
                self._update_average(target, slots["average"])
        for variable in variables:  # Keras: constraints act on the updated values
            if variable.constraint is not None:
                variable.value[...] = variable.constraint(variable.value)  # in place: it may be a view
        if self.iterations % DENORMAL_FLUSH_INTERVAL == 0:
            get_backend().flush_denormals([a for v in variables for a in self.slots_for(v).values()])
        self.iterations += 1

    def _update_average(self, target, average) -> None:
        momentum = self.ema_momentum if self.iterations else 0.0  # the first average is the weights
        average[...] = momentum * average + (1.0 - momentum) * target.value
        frequency = self.ema_overwrite_frequency
        if frequency and (self.iterations + 1) % frequency == 0:
            target.value[...] = average

    def finalize_variable_values(self, variables: list) -> None:
        """With ``use_ema``, set ``variables`` to their moving averages (``fit`` calls this at
        its end, as Keras)."""
        if self.use_ema and self.iterations:
            for variable in variables:
                variable.value[...] = self.slots_for(variable)["average"]

    def _targets(self, variables: list, gradients: list) -> list[tuple[Any, Any]]:
        """(target, gradient) pairs to update: every variable, except that small ones of one
        dtype are served by one flat group (built, or rebuilt when stale, here)."""
        if not self.elementwise:
            return list(zip(variables, gradients))
        group = self._group
        if group is None or not group.serves(variables):
            self._drop_group()
            small = [i for i, v in enumerate(variables) if is_small(v)]
            if len(small) < 2 or len({variables[i].value.dtype for i in small}) != 1:
                return list(zip(variables, gradients))
            names = self.state_names()
            group = self._group = FlatGroup(
                variables, small, {n: [self.slots_for(variables[i])[n] for i in small] for n in names}
            )
            self._slots[id(group)] = group.slots
            for variable, slots in zip(group.members, group.member_slots()):
                self._slots[id(variable)] = slots
        pairs = [(variables[i], gradients[i]) for i in group.others]
        pairs.append((group, group.gather([gradients[i] for i in group.positions])))
        return pairs

    def _clip(self, gradients: list) -> list:
        if not (self.clipvalue or self.clipnorm or self.global_clipnorm):
            return gradients
        xp = array_namespace(gradients[0])
        if self.clipvalue:
            gradients = [xp.clip(g, -self.clipvalue, self.clipvalue) for g in gradients]
        if self.clipnorm:
            gradients = [
                g * (self.clipnorm / xp.maximum(xp.sqrt(xp.sum(g * g)), self.clipnorm))
                for g in gradients
            ]
        if self.global_clipnorm:
            norm = xp.sqrt(sum(xp.sum(g * g) for g in gradients))
            scale = self.global_clipnorm / xp.maximum(norm, self.global_clipnorm)
            gradients = [g * scale for g in gradients]
        return gradients

    # --- state for saving and resuming -------------------------------------------------
    def state(self, variables: list) -> list[Any]:
        """The state arrays, variable by variable, in `state_names()` order."""
        return [self.slots_for(v)[name] for v in variables for name in self.state_names()]

    def set_state(self, variables: list, arrays: list, iterations: int) -> None:
        names = self.state_names()
        if len(arrays) != len(variables) * len(names):
            raise ValueError(
                f"Optimizer {self.name!r} expects {len(variables) * len(names)} state arrays; "
                f"received {len(arrays)}."
            )
        for i, variable in enumerate(variables):
            self._slots[id(variable)] = dict(zip(names, arrays[i * len(names):(i + 1) * len(names)]))
        self.iterations = iterations
        self._drop_group()  # rebuilt from the new arrays at the next step

    def forget(self, variables: list) -> None:
        """Drop the state of ``variables`` (e.g. after moving them to another backend)."""
        for variable in variables:
            self._slots.pop(id(variable), None)
        self._drop_group()

    def _drop_group(self) -> None:
        if self._group is not None:
            self._slots.pop(id(self._group), None)
            self._group = None

    def get_config(self) -> dict:
        config = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "iterations"}
        if isinstance(self.learning_rate, schedules.LearningRateSchedule):
            config["learning_rate"] = schedules.serialize(self.learning_rate)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        if isinstance(config.get("learning_rate"), dict):
            config = {**config, "learning_rate": schedules.deserialize(config["learning_rate"])}
        return cls(**config)
