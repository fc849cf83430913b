"""Small variables updated together: their values and optimizer slots as views of flat arrays.

An optimizer update costs about ten array calls per tensor whatever its size (~8 µs for Adam in
NumPy), which dominates small networks: the seed network's six tensors spent 45 µs of a 130 µs
step in Adam. Variables of at most `SMALL` elements become views of one flat array, so a single
update serves them all; their gradients are gathered with one concatenation per step. Bigger
variables stay on their own, where gathering would copy more than the saved calls cost.
"""

from __future__ import annotations

import math
from typing import Any

from deepcore.backend import array_namespace
from deepcore.registry import get_backend

SMALL = 1 << 14


def is_small(variable) -> bool:
    return math.prod(variable.value.shape) <= SMALL


class FlatGroup:
    """``members``' values rebound to views of the 1-D ``value``; ``slots`` are the optimizer
    state arrays, flat in the same layout. The group stands in for a variable in ``update_step``
    (it has a ``value``), and serves only while its members still hold their views."""

    def __init__(self, variables: list, positions: list[int], member_slots: dict[str, list]):
        """``variables``: the optimizer's whole list; ``positions``: the indices of the members
        in it; ``member_slots``: per slot name, the members' current slot arrays."""
        self.members = [variables[i] for i in positions]
        self.positions = list(positions)
        grouped = set(positions)
        self.others = [i for i in range(len(variables)) if i not in grouped]
        self._shapes = [tuple(v.value.shape) for v in self.members]
        self.value = self.gather([v.value for v in self.members])
        self._views = self.split(self.value)
        for variable, view in zip(self.members, self._views):
            variable.value = view
        self.slots = {name: self.gather(arrays) for name, arrays in member_slots.items()}

    def serves(self, variables: list) -> bool:
        """Whether ``variables`` hold this group's members at their positions and none had its
        value replaced (``set_weights``, a move to another backend)."""
        if len(variables) != len(self.positions) + len(self.others):
            return False
        for i, member, view in zip(self.positions, self.members, self._views):  # runs every step
            if variables[i] is not member or member.value is not view:
                return False
        return True

    def gather(self, arrays: list) -> Any:
        """One array per member (its shape) -> one flat array."""
        return get_backend().flat_concat(arrays)

    def split(self, flat: Any) -> list:
        """A flat array -> views of it, one per member, in the members' shapes."""
        xp = array_namespace(flat)
        views, start = [], 0
        for shape in self._shapes:
            stop = start + math.prod(shape)
            views.append(xp.reshape(flat[start:stop], shape))
            start = stop
        return views

    def member_slots(self) -> list[dict[str, Any]]:
        """Per member, its slots as views of the flat slots."""
        per_name = {name: self.split(flat) for name, flat in self.slots.items()}
        return [{name: views[i] for name, views in per_name.items()} for i in range(len(self.members))]
