"""Loading and running the scripts in examples/, shared by the example tests."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    """Import ``examples/<name>.py`` as a module (its ``main`` returns its metrics)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_runs_as_script(name: str, expected_output: str) -> None:
    """``python examples/<name>.py --epochs 1`` on numpy exits 0 and prints its metric."""
    result = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--epochs", "1"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "DEEPCORE_BACKEND": "numpy"})
    assert result.returncode == 0, result.stderr
    assert expected_output in result.stdout
