"""deepcore: one hand-written numerical core on the array API, many backends, Keras's API.

``import deepcore as dc`` gives the backend registry (`set_backend`, `use_backend`, ...) and
the Keras-style modules `dc.layers`, `dc.models`, `dc.optimizers`, `dc.losses`, `dc.metrics`,
`dc.callbacks`, `dc.activations`, `dc.initializers`, `dc.regularizers`, `dc.constraints`,
`dc.utils`. Neither
cupy nor torch is imported until a backend that needs it is used.
"""

from deepcore import (
    activations,
    callbacks,
    constraints,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from deepcore.backend import Backend, BackendUnavailableError, Probe
from deepcore.config import epsilon, floatx, set_floatx
from deepcore.registry import (
    available_backends,
    get_backend,
    list_backends,
    register_backend,
    set_backend,
    use_backend,
)

__version__ = "0.1.0"

__all__ = [
    "Backend", "BackendUnavailableError", "Probe",
    "available_backends", "get_backend", "list_backends", "register_backend", "set_backend", "use_backend",
    "floatx", "set_floatx", "epsilon",
    "activations", "callbacks", "constraints", "initializers", "layers", "losses", "metrics", "models",
    "optimizers", "regularizers", "utils",
]
