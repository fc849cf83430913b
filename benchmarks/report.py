"""A workload's results as a section: figures, ratios to the reference, the table and the JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.timing import Measurement


@dataclass
class Section:
    """One workload. ``ratios[impl]`` = impl's median / the reference's median."""

    name: str
    title: str
    unit: str
    higher_is_better: bool = True
    reference: str | None = None
    goal: str = ""
    results: list[Measurement] = field(default_factory=list)
    skipped: str | None = None
    extra: dict = field(default_factory=dict)

    def ratios(self) -> dict[str, float]:
        base = next((r.median for r in self.results if r.impl == self.reference), None)
        if not base:
            return {}
        return {r.impl: r.median / base for r in self.results}

    def as_dict(self) -> dict:
        return {
            "name": self.name, "title": self.title, "unit": self.unit,
            "higher_is_better": self.higher_is_better, "reference": self.reference, "goal": self.goal,
            "results": [r.as_dict() for r in self.results], "ratios": self.ratios(),
            "skipped": self.skipped, "extra": self.extra,
        }


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(sections: list[Section]) -> str:
    """A plain-text table: per workload, each implementation's median, min, max and ratio."""
    lines = []
    for section in sections:
        better = "higher is better" if section.higher_is_better else "lower is better"
        lines.append(f"\n{section.name}: {section.title} [{section.unit}, {better}]")
        if section.skipped:
            lines.append(f"  skipped: {section.skipped}")
            continue
        ratios = section.ratios()
        width = max([len(r.impl) for r in section.results] + [14])
        reference = f"ratio to {section.reference}" if section.reference else ""
        lines.append(f"  {'':{width}}  {'median':>10} {'min':>10} {'max':>10}  {reference}")
        for r in section.results:
            ratio = f"{ratios[r.impl]:.2f}x" if r.impl in ratios else ""
            lines.append(f"  {r.impl:{width}}  {_number(r.median):>10} {_number(r.min):>10} "
                         f"{_number(r.max):>10}  {ratio}")
        for key, value in section.extra.items():
            lines.append(f"  {key}: {value}")
        if section.goal:
            lines.append(f"  goal: {section.goal}")
    return "\n".join(lines)


def write_json(path: Path, meta: dict, sections: list[Section]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "workloads": [s.as_dict() for s in sections]}
    path.write_text(json.dumps(payload, indent=2) + "\n")
