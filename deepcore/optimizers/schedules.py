"""Learning-rate schedules with Keras 3 names, arguments and formulas.

A schedule is a callable ``schedule(step) -> float`` of the optimizer's step counter (a host
integer), usable as ``learning_rate=`` of any optimizer::

    lr = dc.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.96)
    dc.optimizers.SGD(learning_rate=lr)

Everything is computed on the host in Python floats, so reading the rate never touches the
device. Schedules round-trip through `get_config` / `from_config` and `serialize` /
`deserialize` (``{"class_name": ..., "config": ...}``), which is how optimizers save them.
"""

from __future__ import annotations

import bisect
import math


class LearningRateSchedule:
    """Base class: implement ``__call__(step) -> float`` and `get_config`."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError(
            f"Learning rate schedule {type(self).__name__!r} must override __call__(self, step)."
        )

    def get_config(self) -> dict:
        raise NotImplementedError(
            f"Learning rate schedule {type(self).__name__!r} must override get_config() to be "
            "serializable."
        )

    @classmethod
    def from_config(cls, config: dict) -> "LearningRateSchedule":
        return cls(**config)


class _Builtin(LearningRateSchedule):
    """The built-in schedules keep exactly their arguments as attributes: that is their config."""

    def get_config(self) -> dict:
        return dict(vars(self))


def _check_positive_steps(name: str, value) -> None:
    if value <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")


class _RateDecay(_Builtin):
    """What ExponentialDecay and InverseTimeDecay share: their arguments (Keras's), and the
    progress ``step / decay_steps``, floored with ``staircase=True``."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str | None = None):
        _check_positive_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name or type(self).__name__

    def _progress(self, step: int) -> float:
        p = step / self.decay_steps
        return math.floor(p) if self.staircase else p


class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase=True``
    the exponent is ``floor(step / decay_steps)``, so the rate drops every ``decay_steps``."""

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class PiecewiseConstantDecay(_Builtin):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, and ``values[-1]`` after ``boundaries[-1]``."""

    def __init__(self, boundaries: list, values: list, name: str = "PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. Received: "
                f"boundaries={boundaries} of length {len(boundaries)}, and values={values} of "
                f"length {len(values)}."
            )
        if any(low >= high for low, high in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing. Received: boundaries={boundaries}")
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name

    def __call__(self, step: int) -> float:
        # bisect_left counts the boundaries strictly below step: the index of step's interval.
        return self.values[bisect.bisect_left(self.boundaries, step)]


class CosineDecay(_Builtin):
    """Cosine decay, after an optional linear warmup (Keras 3 semantics).

    Without ``warmup_target``: ``s = min(step, decay_steps)`` and the rate is
    ``initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)``.

    With ``warmup_target``: for ``step < warmup_steps`` the rate rises linearly from
    ``initial_learning_rate`` to ``warmup_target``
    (``initial + (warmup_target - initial) * step / warmup_steps``); afterwards the cosine decay
    above runs from ``warmup_target`` on ``step - warmup_steps``, clamped at ``decay_steps``.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: float | None = None,
                 warmup_steps: int = 0):
        _check_positive_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step: float, decay_from: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return decay_from * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step: int) -> float:
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return delta * (step / self.warmup_steps) + self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)


class PolynomialDecay(_Builtin):
    """From ``initial_learning_rate`` to ``end_learning_rate`` over ``decay_steps``:
    ``(initial - end) * (1 - step / decay_steps) ** power + end``, held at ``end`` after; with
    ``cycle=True`` the horizon is instead the first multiple of ``decay_steps`` above the step
    (1 at step 0), so the decay restarts."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, end_learning_rate: float = 0.0001,
                 power: float = 1.0, cycle: bool = False, name: str = "PolynomialDecay"):
        _check_positive_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step: int) -> float:
        horizon = self.decay_steps
        if self.cycle:
            horizon *= max(math.ceil(step / self.decay_steps), 1)
        else:
            step = min(step, self.decay_steps)
        end = self.end_learning_rate
        return (self.initial_learning_rate - end) * (1.0 - step / horizon) ** self.power + end


class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``; with ``staircase``
    the ratio is ``floor(step / decay_steps)``."""

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


class CosineDecayRestarts(_Builtin):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter), Keras's formula: cycle
    ``i`` lasts ``first_decay_steps * t_mul ** i`` steps, and at fraction ``f`` of it the rate
    is ``initial_learning_rate * ((1 - alpha) * m_mul ** i * 0.5 * (1 + cos(pi f)) + alpha)``."""

    def __init__(self, initial_learning_rate: float, first_decay_steps: int, t_mul: float = 2.0,
                 m_mul: float = 1.0, alpha: float = 0.0, name: str = "SGDRDecay"):
        _check_positive_steps("first_decay_steps", first_decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step: int) -> float:
        fraction = step / self.first_decay_steps
        if self.t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:  # cycles of geometric lengths: the cycle index from the geometric sum
            restart = math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul))
            fraction = (fraction - (1.0 - self.t_mul**restart) / (1.0 - self.t_mul)) / self.t_mul**restart
        cosine = 0.5 * self.m_mul**restart * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)


_BY_NAME = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay, PolynomialDecay,
                                          InverseTimeDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{"class_name": ..., "config": ...}``, JSON-compatible."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """Rebuild a schedule from `serialize`'s dict; ``custom_objects`` maps names of your own
    `LearningRateSchedule` subclasses to the classes."""
    known = {**_BY_NAME, **(custom_objects or {})}
    name = config.get("class_name")
    if name not in known:
        raise ValueError(
            f"Unknown learning rate schedule {name!r}. Known schedules: {', '.join(sorted(known))}. "
            "Pass your own classes with custom_objects={'MySchedule': MySchedule}."
        )
    return known[name].from_config(config.get("config", {}))


__all__ = [
    "LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay", "PolynomialDecay",
    "InverseTimeDecay", "CosineDecayRestarts", "serialize", "deserialize",
]
