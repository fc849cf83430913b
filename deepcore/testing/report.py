"""Comparing two arrays, and the report of many comparisons (table, JSON, Markdown).

One `Comparison` is one row: a backend's value of one quantity (a layer's output, a
parameter's gradient, a weight after training...) against the reference value. Errors:

- ``max_abs_err``: ``max |a - r|``.
- ``max_rel_err``: ``max |a - r| / max |r|`` -- relative to the largest magnitude of the
  quantity, because rounding errors of sums and matmuls scale with the magnitudes summed,
  not with the (possibly cancelled) result.
- ``ulps``: ``max |a - r| / spacing(|r|)`` elementwise, in the compared dtype. Informative:
  entries near zero (cancellations) make it large without anything being wrong.

A row passes when ``max_abs_err <= atol + rtol * max |r|`` and NaN/inf sit in the same places.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

COLUMNS = ("backend", "layer", "quantity", "max abs err", "max rel err", "ULPs", "rtol", "status")


@dataclass(frozen=True)
class Comparison:
    """One compared quantity of one backend. ``layer`` is ``"(loss)"``/``"(training)"`` for
    quantities that belong to no layer."""

    backend: str
    layer: str
    quantity: str
    max_abs_err: float
    max_rel_err: float
    ulps: float
    scale: float  # max |reference|
    rtol: float
    atol: float
    passed: bool

    def cells(self) -> tuple[str, ...]:
        return (
            self.backend, self.layer, self.quantity, f"{self.max_abs_err:.3g}",
            f"{self.max_rel_err:.3g}", f"{self.ulps:.3g}", f"{self.rtol:.3g}",
            "ok" if self.passed else "FAIL",
        )


def compare_arrays(value: np.ndarray, reference: np.ndarray, dtype: str, rtol: float,
                   atol: float = 0.0) -> dict:
    """The error fields of a `Comparison` (host arrays; ULPs counted in ``dtype``)."""
    value = np.asarray(value, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if value.shape != reference.shape:
        raise ValueError(f"Cannot compare shape {value.shape} with reference shape {reference.shape}.")
    tolerances = {"rtol": rtol, "atol": atol}
    if value.size == 0:
        return {**tolerances, "max_abs_err": 0.0, "max_rel_err": 0.0, "ulps": 0.0, "scale": 0.0,
                "passed": True}
    finite = np.isfinite(reference)
    same_specials = np.array_equal(np.isfinite(value), finite) and np.array_equal(
        value[~finite], reference[~finite], equal_nan=True
    )
    if not same_specials:
        return {**tolerances, "max_abs_err": math.inf, "max_rel_err": math.inf, "ulps": math.inf,
                "scale": math.nan, "passed": False}
    error = np.abs(value[finite] - reference[finite])
    magnitude = np.abs(reference[finite])
    scale = float(magnitude.max(initial=0.0))
    max_abs = float(error.max(initial=0.0))
    spacing = np.spacing(magnitude.astype(dtype)).astype(np.float64)
    return {
        **tolerances,
        "max_abs_err": max_abs,
        "max_rel_err": max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf),
        "ulps": float((error / spacing).max(initial=0.0)),
        "scale": scale,
        "passed": max_abs <= atol + rtol * scale,
    }


@dataclass
class Report:
    """All comparisons of one `compare_backends` call, and what it compared."""

    reference: str
    dtype: str
    backends: list[str]
    rows: list[Comparison]
    skipped: dict[str, str]  # backend -> why it was not compared
    steps: int = 0
    environment: dict[str, dict] = field(default_factory=dict)  # backend -> its describe()

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    def failures(self) -> list[Comparison]:
        return [row for row in self.rows if not row.passed]

    def worst(self, count: int = 10) -> list[Comparison]:
        """The rows furthest beyond (or closest to) their tolerance, worst first."""
        return sorted(self.rows, key=_excess, reverse=True)[:count]

    # --- text ---------------------------------------------------------------------------
    def table(self, rows: list[Comparison] | None = None) -> str:
        """A fixed-width text table of ``rows`` (default: all)."""
        cells = [COLUMNS] + [row.cells() for row in (self.rows if rows is None else rows)]
        widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def summary(self) -> str:
        """One line: what was compared, with which result."""
        failed = len(self.failures())
        verdict = "all within tolerance" if not failed else f"{failed} of {len(self.rows)} beyond tolerance"
        skipped = "".join(f"; {name} skipped: {why}" for name, why in self.skipped.items())
        return (f"{', '.join(self.backends) or 'no backend'} vs {self.reference} ({self.dtype}, "
                f"{self.steps} training step(s)): {verdict}{skipped}")

    def __str__(self) -> str:
        return f"{self.summary()}\n{self.table()}"

    def to_markdown(self) -> str:
        lines = [f"**{self.summary()}**", "", "| " + " | ".join(COLUMNS) + " |",
                 "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(row.cells()) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"

    def write_markdown(self, path: str | Path) -> None:
        Path(path).write_text(self.to_markdown(), encoding="utf-8")

    # --- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain data; infinite errors become the string ``"inf"`` (JSON has no infinity)."""
        return {
            "reference": self.reference, "dtype": self.dtype, "backends": list(self.backends),
            "steps": self.steps, "skipped": dict(self.skipped), "environment": self.environment,
            "passed": self.passed,
            "rows": [{k: _json_number(v) for k, v in asdict(row).items()} for row in self.rows],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        names = {f.name for f in fields(Comparison)}
        rows = [Comparison(**{k: _from_json_number(v) for k, v in row.items() if k in names})
                for row in data["rows"]]
        return cls(data["reference"], data["dtype"], list(data["backends"]), rows,
                   dict(data["skipped"]), int(data["steps"]), dict(data.get("environment", {})))

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> "Report":
        """Read a report written by `to_json` (JSON text or a file path)."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))


def _excess(row: Comparison) -> float:
    """How far a row is from its tolerance: > 1 means it failed."""
    if math.isinf(row.max_abs_err):
        return math.inf
    allowed = row.atol + row.rtol * row.scale
    return row.max_abs_err / allowed if allowed > 0 else (0.0 if row.max_abs_err == 0 else math.inf)


def _json_number(value):
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def _from_json_number(value):
    return float(value) if value in ("inf", "-inf", "nan") else value
