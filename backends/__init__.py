"""Built-in backend adapters, shipped as ``deepcore.backends``.

Each module holds one small `deepcore.backend.Backend` subclass, registered under the
``deepcore.backends`` entry-point group exactly as a third-party plugin would be. None of them
imports its array library at module level, so ``import deepcore`` stays light.
"""
