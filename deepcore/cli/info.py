"""``deepcore info``: the deepcore version and every backend, usable or not, and why.

    deepcore info           # a readable summary
    deepcore info --json    # the same facts as JSON

For each usable backend it shows its devices and what ``backend.describe()`` reports (the BLAS
library and its threads for numpy, the GPU and CUDA runtime for cupy, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import platform


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="show the version and every backend's availability",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    facts = collect()
    print(json.dumps(facts, indent=2, default=str) if args.json else format_facts(facts))
    return 0


def collect() -> dict:
    """The version, the platform, the settings and one record per registered backend."""
    import deepcore
    from deepcore import keras_weights
    from deepcore.registry import get_backend, list_backends, make_backend

    backends = []
    for record in list_backends():
        entry = {
            "name": record.name,
            "available": record.available,
            "reason": record.reason,
            "devices": [str(device) for device in record.devices],
        }
        if record.available:
            try:
                entry["details"] = make_backend(record.name).describe()
            except Exception as exc:  # a usable backend whose description fails is still listed
                entry["details"] = {"error": f"{type(exc).__name__}: {exc}"}
        backends.append(entry)
    return {
        "deepcore": deepcore.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "floatx": deepcore.floatx(),
        "DEEPCORE_BACKEND": os.environ.get("DEEPCORE_BACKEND"),
        "DEEPCORE_DEVICE": os.environ.get("DEEPCORE_DEVICE"),
        "default_backend": _default_backend(get_backend),
        "keras_files": keras_weights.status(),
        "backends": backends,
    }


def _default_backend(get_backend) -> str:
    """The backend a script would use here (``DEEPCORE_BACKEND``, else ``auto``), or why none."""
    try:
        return get_backend().name
    except Exception as exc:  # e.g. DEEPCORE_BACKEND names a backend that is unusable here
        return f"none ({type(exc).__name__}: {exc})"


def format_facts(facts: dict) -> str:
    lines = [
        f"deepcore {facts['deepcore']} (Python {facts['python']}, {facts['platform']})",
        f"floatx: {facts['floatx']}",
        f"default backend: {facts['default_backend']}",
        f"Keras files (.keras, .weights.h5): {facts['keras_files']}",
    ]
    for variable in ("DEEPCORE_BACKEND", "DEEPCORE_DEVICE"):
        if facts[variable]:
            lines.append(f"{variable}={facts[variable]}")
    lines.append("backends (in order of preference):")
    width = max(len(entry["name"]) for entry in facts["backends"])
    for entry in facts["backends"]:
        if not entry["available"]:
            lines.append(f"  {entry['name']:<{width}}  unavailable: {entry['reason']}")
            continue
        lines.append(f"  {entry['name']:<{width}}  available, devices: {', '.join(entry['devices'])}")
        for key, value in entry.get("details", {}).items():
            if key == "name":
                continue
            values = value if isinstance(value, list) else [value]
            for item in values or ["none found"]:
                lines.append(f"  {'':<{width}}    {key}: {item}")
    return "\n".join(lines)
