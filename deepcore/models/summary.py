"""The table `summary()` prints for any model: one row per layer (or call), then the totals."""

from __future__ import annotations

import math
from typing import Callable


def print_summary(model, header: tuple[str, ...], rows: list[tuple], line_length: int | None,
                  print_fn: Callable[[str], None] | None, show_trainable: bool, left: tuple[int, ...]) -> None:
    """Print ``model``'s table: ``header`` and ``rows`` of ``(layer, cells)`` (the first cell
    names the layer, the second, its output shape, is widened to reach ``line_length``), a
    Trainable column with ``show_trainable``, then the parameter counts. Cells at the ``left``
    positions are left-aligned, the others (numbers, the flag) right-aligned."""
    print_fn = print_fn or print
    if show_trainable:
        header = header + ("Trainable",)
        rows = [(layer, cells + ("Y" if layer.trainable else "N",)) for layer, cells in rows]
    table = [cells for _, cells in rows]
    widths = [max(len(r[i]) for r in table + [header]) + 2 for i in range(len(header))]
    widths[1] += max((line_length or 0) - sum(widths), 0)

    def row(cells) -> str:
        return "".join(cell.ljust(width) if position in left else cell.rjust(width)
                       for position, (cell, width) in enumerate(zip(cells, widths)))

    trainable = sum(math.prod(variable.shape) for variable in model.trainable_variables)
    total = model.count_params()
    lines = [f'Model: "{model.name}"', "-" * sum(widths), row(header), "=" * sum(widths),
             *(row(cells) for cells in table), "=" * sum(widths),
             f"Total params: {total:,}", f"Trainable params: {trainable:,}",
             f"Non-trainable params: {total - trainable:,}"]
    for text in lines:
        print_fn(text)
