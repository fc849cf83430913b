"""The host random source.

Initial weights, shuffling and (in deterministic mode) dropout masks are drawn here, on the
host, and only then moved to a device: the same seed gives bit-identical numbers on every
backend.
"""

import numpy as np

_generator = np.random.default_rng()


def set_seed(seed: int) -> None:
    """Reseed the global host generator."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator(seed: int | None = None) -> np.random.Generator:
    """The global generator, or a fresh one for an explicit ``seed``."""
    return _generator if seed is None else np.random.default_rng(seed)


def uniform(shape, low: float, high: float, seed: int | None = None) -> np.ndarray:
    return generator(seed).uniform(low, high, size=shape)


def normal(shape, mean: float, stddev: float, seed: int | None = None) -> np.ndarray:
    return generator(seed).normal(mean, stddev, size=shape)


def eye(rows: int, columns: int) -> np.ndarray:
    """The ``(rows, columns)`` identity (float64): ones on the main diagonal."""
    return np.eye(rows, columns)


def truncated_normal(shape, mean: float, stddev: float, seed: int | None = None) -> np.ndarray:
    """Normal draws, redrawing those further than two standard deviations from zero."""
    rng = generator(seed)
    values = rng.standard_normal(size=shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(size=int(outside.sum()))
        outside = np.abs(values) > 2.0
    return mean + stddev * values


def permutation(n: int) -> np.ndarray:
    return _generator.permutation(n)


def bernoulli(shape, p: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Booleans that are True with probability ``p``, from ``rng`` or the global generator."""
    return (rng or _generator).random(size=shape) < p


def uniform_draws(shape, low: float, high: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Uniform draws in ``[low, high)``, from ``rng`` or the global generator."""
    return (rng or _generator).uniform(low, high, size=shape)


def gaussian(shape, stddev: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Zero-mean normal draws of standard deviation ``stddev``, from ``rng`` or the global generator."""
    return (rng or _generator).normal(0.0, stddev, size=shape)


def orthogonal(shape, gain: float = 1.0, seed: int | None = None) -> np.ndarray:
    """A (semi-)orthogonal matrix from the QR decomposition of a normal draw, as Keras does."""
    rows = int(np.prod(shape[:-1]))
    cols = shape[-1]
    flat = generator(seed).normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    # C order: q.T is a Fortran-ordered view, which in-place optimizer updates would keep (and
    # NumPy's matmuls and the blocked Adam are slower on it).
    return np.ascontiguousarray(gain * q[:rows, :cols]).reshape(shape)
