"""The benchmark tool keeps working: a tiny run of every workload writes well-formed JSON.

Nothing here times anything or compares speeds (performance is reported by `python -m
benchmarks`, never asserted); the figures are only checked for shape and sanity.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKLOADS = ["mlp_train", "tiny_train", "mlp_predict", "blas_limit", "process_start", "peak_rss", "gpu_mlp",
             "denormal_run", "cnn_train", "lstm_train"]
SECTION_KEYS = {"name", "title", "unit", "higher_is_better", "reference", "goal", "results", "ratios",
                "skipped", "extra"}


def _run(command: list[str], json_path: Path) -> str:
    result = subprocess.run(command + ["--tiny", "--repeats", "2", "--warmup", "0", "--json", str(json_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "tiny.json"
    stdout = _run([sys.executable, "-m", "benchmarks"], path)
    return json.loads(path.read_text()), stdout


def test_every_workload_is_reported(tiny_run):
    report, stdout = tiny_run
    assert [w["name"] for w in report["workloads"]] == WORKLOADS
    for name in WORKLOADS:
        assert f"\n{name}: " in stdout, f"the table has no section for {name}"
    assert {"date", "threads", "repeats", "sizes", "versions", "thread_pools", "backends"} <= set(report["meta"])
    assert report["meta"]["tiny"] is True and report["meta"]["repeats"] == 2


def test_figures_are_well_formed(tiny_run):
    report, _ = tiny_run
    for section in report["workloads"]:
        assert set(section) == SECTION_KEYS, section["name"]
        if section["skipped"]:
            assert not section["results"], f"{section['name']} is skipped but has results"
            continue
        assert section["results"], f"{section['name']} has no results and no reason"
        for result in section["results"]:
            values = result["values"]
            assert values and all(math.isfinite(v) and v > 0 for v in values), (section["name"], result)
            assert result["min"] <= result["median"] <= result["max"], (section["name"], result)
            assert result["min"] == min(values) and result["max"] == max(values)
        impls = [r["impl"] for r in section["results"]]
        if section["reference"] in impls:
            assert section["ratios"][section["reference"]] == 1.0
            assert set(section["ratios"]) == set(impls)


def test_deepcore_runs_on_every_usable_backend(tiny_run):
    report, _ = tiny_run
    import deepcore as dc

    expected = {f"deepcore {name}" for name in dc.available_backends()}
    assert set(report["meta"]["backends"]) == set(dc.available_backends())
    for name in ("mlp_train", "tiny_train", "mlp_predict", "cnn_train", "lstm_train"):
        section = next(s for s in report["workloads"] if s["name"] == name)
        assert expected <= {r["impl"] for r in section["results"]}, name


def test_gpu_workload_runs_or_says_why(tiny_run):
    report, _ = tiny_run
    import deepcore as dc

    section = next(s for s in report["workloads"] if s["name"] == "gpu_mlp")
    if "cupy" in dc.available_backends():
        assert section["skipped"] is None and section["results"]
    else:
        assert "cupy" in section["skipped"]


def test_deepcore_bench_command(tmp_path):
    path = tmp_path / "blas.json"
    _run([sys.executable, "-m", "deepcore", "bench", "--workloads", "blas_limit"], path)
    report = json.loads(path.read_text())
    assert [w["name"] for w in report["workloads"]] == ["blas_limit"]
    assert "numpy GEMMs only" in {r["impl"] for r in report["workloads"][0]["results"]}
