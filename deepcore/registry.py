"""Which backends exist, which one is active, and how to switch.

Backends are found through the entry-point group ``deepcore.backends``; the built-in adapters
are registered there by deepcore's own ``pyproject.toml``, so built-ins and plugins take one
path. Selection: an explicit call > ``DEEPCORE_BACKEND`` (with ``DEEPCORE_DEVICE``) >
``"auto"`` (cupy when a CUDA device answers, else numpy). ``DEEPCORE_DEVICE`` applies only to
that default choice: a call that names a backend without a device gets its default device.
`use_backend` scopes a choice with a ``ContextVar``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Iterator

from deepcore.backend import Backend, BackendUnavailableError, Probe

ENTRY_POINT_GROUP = "deepcore.backends"
AUTO_PREFERENCE = ("cupy", "numpy")

_factories: dict[str, type[Backend]] = {}
_entry_points_loaded = False
_instances: dict[tuple[str, str], Backend] = {}
_probe_cache: dict[str, Probe] = {}
_default: Backend | None = None
_scoped: contextvars.ContextVar[Backend | None] = contextvars.ContextVar(
    "deepcore_backend", default=None
)


@dataclass(frozen=True)
class BackendRecord:
    """One row of `list_backends()`."""

    name: str
    available: bool
    reason: str
    devices: tuple


def register_backend(name: str, factory: type[Backend]) -> None:
    """Register a backend class under ``name`` (what an entry point does, done by hand)."""
    _factories[name] = factory
    _probe_cache.pop(name, None)


def _registered() -> dict[str, type[Backend]]:
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name not in _factories:
                _factories[ep.name] = ep.load()
    return _factories



def _probe(name: str) -> Probe:
    if name not in _probe_cache:
        factory = _registered()[name]
        try:
            _probe_cache[name] = factory.probe()
        except Exception as exc:  # a broken plugin must not break list_backends()
            _probe_cache[name] = Probe(False, f"probe failed: {type(exc).__name__}: {exc}")
    return _probe_cache[name]


def list_backends() -> list[BackendRecord]:
    """Every registered backend with its availability, the reason if not, and its devices."""
    records = []
    for name in _by_preference(_registered()):
        probe = _probe(name)
        records.append(BackendRecord(name, probe.available, probe.reason, probe.devices))
    return records


def available_backends() -> list[str]:
    """Names of the usable backends, most preferred first."""
    return [record.name for record in list_backends() if record.available]


def _by_preference(factories: dict[str, type[Backend]]) -> list[str]:
    return sorted(factories, key=lambda name: (-factories[name].priority, name))


def _resolve_name(name: str) -> str:
    if name == "auto":
        for candidate in AUTO_PREFERENCE:
            if candidate in _registered() and _probe(candidate).available:
                return candidate
        return "numpy"
    if name not in _registered():
        known = ", ".join(_by_preference(_registered()))
        raise ValueError(f"Unknown backend {name!r}. Known backends: auto, {known}.")
    return name


def _device_from_env() -> Any:
    """``DEEPCORE_DEVICE``: the device of the default backend (an integer index or a name)."""
    text = os.environ.get("DEEPCORE_DEVICE")
    if not text:
        return None
    return int(text) if text.isdigit() else text


def make_backend(name: str = "auto", device: Any = None) -> Backend:
    """The (cached) backend object for ``name`` on ``device``, or a clear error."""
    name = _resolve_name(name)
    key = (name, str(device))
    if key not in _instances:
        factory = _registered()[name]
        probe = _probe(name)
        if not probe.available:
            raise BackendUnavailableError(
                f"Backend {name!r} is not usable here: {probe.reason}. "
                f"To fix: {factory.install_hint}"
            )
        _instances[key] = factory(device)
    return _instances[key]


def set_backend(name: str = "auto", device: Any = None) -> Backend:
    """Select the process-wide backend (and device) and return it."""
    global _default
    backend = make_backend(name, device)
    backend.activate()
    _default = backend
    return backend


def get_backend() -> Backend:
    """The active backend: the innermost `use_backend`, else the process-wide one."""
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    if _default is None:
        return set_backend(os.environ.get("DEEPCORE_BACKEND") or "auto", _device_from_env())
    return _default


@contextlib.contextmanager
def use_backend(name: str | Backend = "auto", device: Any = None) -> Iterator[Backend]:
    """Use a backend inside a ``with`` block; nestable, restored on exit and on exceptions."""
    backend = name if isinstance(name, Backend) else make_backend(name, device)
    previous = get_backend()
    token = _scoped.set(backend)
    backend.activate()
    try:
        yield backend
    finally:
        _scoped.reset(token)
        previous.activate()
