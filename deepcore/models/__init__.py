"""Models: `Sequential`, `Model(inputs, outputs)` (a `Functional` model), and `load_model` for
files written by ``model.save``."""

from deepcore.models.functional import Functional
from deepcore.models.model import Model
from deepcore.models.sequential import Sequential


def load_model(path, compile: bool = True):
    """Load a model saved with ``model.save(path)`` (JSON config + safetensors, no pickle) onto
    the active backend; compiled, with its optimizer state, unless ``compile=False``."""
    from deepcore.saving import load_model as _load_model

    return _load_model(path, compile=compile)


def model_from_json(json_string: str):
    """The model (with new weights) whose architecture ``model.to_json()`` wrote. Custom
    classes are found as `load_model` finds them: registered with
    `deepcore.saving.register_serializable` and imported first."""
    import json

    from deepcore.saving import deserialize_object

    return deserialize_object(json.loads(json_string), "model")


__all__ = ["Model", "Functional", "Sequential", "load_model", "model_from_json"]
