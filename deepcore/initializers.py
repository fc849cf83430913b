"""Weight initializers with Keras 3 names, defaults and formulas.

Values are drawn on the host from the seed (`deepcore.random`) and only then moved to the
active backend's device, so one seed gives bit-identical weights on every backend.
Calling an initializer: ``init(shape, dtype=None) -> array`` on the active backend.
"""

from __future__ import annotations

import math
from typing import Any

from deepcore import random as host_random
from deepcore.identifiers import resolve
from deepcore.registry import get_backend


class Initializer:
    """Base class: subclasses implement `sample(shape)`, returning a host array of float64."""

    def __call__(self, shape: tuple, dtype: Any = None) -> Any:
        backend = get_backend()
        return backend.asarray(self.sample(tuple(shape)), dtype=dtype or backend.dtype())

    def sample(self, shape: tuple):
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(vars(self))

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)


class Constant(Initializer):
    """Every element equals ``value``; created on the device directly (nothing random)."""

    def __init__(self, value: float = 0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        backend = get_backend()
        return backend.xp.full(tuple(shape), self.value, dtype=dtype or backend.dtype(), device=backend.device)


class Zeros(Constant):
    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


class RandomUniform(Initializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def sample(self, shape):
        return host_random.uniform(shape, self.minval, self.maxval, self.seed)


class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape):
        return host_random.normal(shape, self.mean, self.stddev, self.seed)


class TruncatedNormal(Initializer):
    """Normal draws redrawn when further than two standard deviations from the mean (Keras)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape):
        return host_random.truncated_normal(shape, self.mean, self.stddev, self.seed)


class Identity(Initializer):
    """``gain`` times the identity matrix (ones on the main diagonal of a 2-D ``(rows, columns)``
    shape, as Keras), e.g. an identity recurrent kernel for an IRNN."""

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def sample(self, shape):
        if len(shape) != 2:
            raise ValueError(f"The Identity initializer takes 2-D shapes (rows, columns); received shape {shape}.")
        return self.gain * host_random.eye(*shape)


def compute_fans(shape: tuple, input_axes=None, output_axes=None) -> tuple[int, int]:
    """Keras's fans: a kernel ``(..., in, out)`` has fan_in = in * receptive field, etc.; with
    ``input_axes`` and ``output_axes`` (Keras 3.15, e.g. MultiHeadAttention's ``(dim, heads,
    head_dim)`` kernels: [0] and [1, 2]) the products of those axes."""
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class VarianceScaling(Initializer):
    """Draws with variance ``scale / n`` where n is fan_in, fan_out or their mean.

    ``distribution="truncated_normal"`` uses stddev sqrt(scale / n) / 0.87962566103423978 (the
    stddev of a unit normal truncated at ±2); ``"uniform"`` uses limit sqrt(3 scale / n).
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None, input_axes=None,
                 output_axes=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be fan_in, fan_out or fan_avg; received mode={mode!r}.")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"Unknown distribution={distribution!r}.")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed
        self.input_axes = None if input_axes is None else list(input_axes)
        self.output_axes = None if output_axes is None else list(output_axes)

    def with_axes(self, input_axes: list[int], output_axes: list[int]) -> "VarianceScaling":
        """A copy that counts the fans over these kernel axes (Keras's EinsumDense does this for
        its kernels when the initializer names none)."""
        if self.input_axes is not None and self.output_axes is not None:
            return self
        return type(self).from_config({**self.get_config(), "input_axes": input_axes, "output_axes": output_axes})

    def sample(self, shape):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return host_random.uniform(shape, -limit, limit, self.seed)
        if self.distribution == "untruncated_normal":
            return host_random.normal(shape, 0.0, math.sqrt(variance), self.seed)
        stddev = math.sqrt(variance) / 0.87962566103423978
        return host_random.truncated_normal(shape, 0.0, stddev, self.seed)


def _variance_scaling(name: str, scale: float, mode: str, distribution: str):
    def __init__(self, seed: int | None = None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}

    doc = f"VarianceScaling(scale={scale}, mode={mode!r}, distribution={distribution!r})."
    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """An orthogonal matrix (QR of a normal draw) times ``gain``; Keras's recurrent default."""

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        self.gain, self.seed = gain, seed

    def sample(self, shape):
        return host_random.orthogonal(shape, self.gain, self.seed)


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_uniform": RandomUniform, "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "identity": Identity,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
}
_NAME_OF = {cls: name for name, cls in _BY_NAME.items()}
# Keras's short names (Embedding's default is "uniform"); serialized under the full name.
_BY_NAME.update({"uniform": RandomUniform, "normal": RandomNormal})


def get(identifier: str | Initializer | dict) -> Initializer:
    """Resolve a name, a ``{"class_name", "config"}`` dict or an instance to an initializer."""
    return resolve(identifier, Initializer, _BY_NAME, "initializer", "initializers")


def serialize(initializer: Initializer) -> dict:
    return {"class_name": _NAME_OF[type(initializer)], "config": initializer.get_config()}
