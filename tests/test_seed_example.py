"""examples/seed_example.py: the classic Keras script runs after changing only its imports."""

import ast
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import deepcore as dc
from deepcore.testing.pytest_plugin import TEST_DEVICES

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "seed_example.py"

KERAS_SCRIPT = """\
import numpy as np
from keras.models import Sequential
from keras.layers import Dense
model = Sequential()
model.add(Dense(10, activation='relu', input_shape=(10,)))
model.add(Dense(10, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='adam')
X = np.random.rand(100, 10)
y = np.random.randint(2, size=100)
model.fit(X, y, epochs=10)
"""


def test_script_is_the_keras_script_with_only_the_imports_changed():
    body = ast.parse(SCRIPT.read_text()).body
    assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)  # docstring
    ours = [ast.unparse(node) for node in body[1:]]
    keras = [ast.unparse(node).replace("keras.", "deepcore.") for node in ast.parse(KERAS_SCRIPT).body]
    assert ours == keras


@pytest.mark.parametrize("name", dc.available_backends())
def test_script_trains_ten_epochs(name):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPCORE_")}
    env["DEEPCORE_BACKEND"] = name
    if name in TEST_DEVICES:
        env["DEEPCORE_DEVICE"] = TEST_DEVICES[name]
    result = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("Epoch ")] == [f"Epoch {i}/10" for i in range(1, 11)]
    losses = [float(m.group(1)) for line in lines if (m := re.search(r"- loss: (\S+)$", line))]
    assert len(losses) == 10 and all(math.isfinite(loss) and loss > 0 for loss in losses)
