"""Models: `Sequential`, and `load_model` for files written by ``model.save``."""

from deepcore.models.model import Model
from deepcore.models.sequential import Sequential


def load_model(path):
    """Load a model saved with ``model.save(path)`` (JSON config + safetensors, no pickle)."""
    from deepcore.saving import load_model as _load_model

    return _load_model(path)


__all__ = ["Model", "Sequential", "load_model"]
