"""Reading numeric CSV files for ``deepcore train`` and ``deepcore predict``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(path: Path) -> tuple[list[str] | None, np.ndarray]:
    """``(column names or None, values (rows, columns) float64)`` of a numeric CSV file.

    The first row is a header when any of its cells is not a number. Blank lines are skipped;
    a missing or non-numeric value, or a row of another length, is an error naming the line.
    """
    try:
        with open(path, newline="") as file:
            rows = [(number, row) for number, row in enumerate(csv.reader(file), start=1)
                    if any(cell.strip() for cell in row)]
    except FileNotFoundError:
        raise FileNotFoundError(f"No such CSV file: '{path}'.") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"'{path}' is not a text CSV file ({exc}).") from None
    if not rows:
        raise ValueError(f"'{path}' has no rows.")
    header = None
    if not all(_is_number(cell) for cell in rows[0][1]):
        header = [cell.strip() for cell in rows[0][1]]
        rows = rows[1:]
    if not rows:
        raise ValueError(f"'{path}' has a header but no data rows.")
    width = len(header) if header is not None else len(rows[0][1])
    values = np.empty((len(rows), width))
    for i, (number, row) in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"'{path}', line {number}: expected {width} values, found {len(row)}.")
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                column = header[j] if header is not None else f"column {j + 1}"
                what = "a missing value" if not cell.strip() else f"{cell!r}, not a number"
                raise ValueError(f"'{path}', line {number}, {column}: {what}.") from None
    return header, values
