"""The host allocator settings (`deepcore.host_memory`): when they apply, and their effect."""

import os
import subprocess
import sys

import pytest

from deepcore import host_memory


class RecordingLibc:
    """Stands in for glibc: records mallopt calls and answers ``accept`` (1 = applied)."""

    def __init__(self, accept: int = 1):
        self.accept = accept
        self.calls = []

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return self.accept


@pytest.fixture
def fresh(monkeypatch):
    """A process that has not tuned yet, with none of the variables set, on a fake glibc."""
    monkeypatch.setattr(host_memory, "_outcome", None)
    for name in (host_memory.OPT_OUT_VARIABLE, *host_memory.GLIBC_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    libc = RecordingLibc()
    monkeypatch.setattr(host_memory, "_glibc", lambda: libc)
    return libc


def test_glibc_gets_both_thresholds_once(fresh):
    outcome = host_memory.tune()
    assert fresh.calls == [(-3, 32 << 20), (-1, 256 << 20)]  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    assert outcome == "glibc: mmap threshold 32 MiB, trim threshold 256 MiB"
    assert host_memory.tune() == outcome
    assert len(fresh.calls) == 2


def test_opt_out_keeps_the_defaults(fresh, monkeypatch):
    monkeypatch.setenv(host_memory.OPT_OUT_VARIABLE, "system")
    assert "DEEPCORE_HOST_ALLOCATOR=system" in host_memory.tune()
    assert fresh.calls == []


@pytest.mark.parametrize("variable", host_memory.GLIBC_VARIABLES)
def test_a_choice_made_through_glibc_variables_stands(fresh, monkeypatch, variable):
    monkeypatch.setenv(variable, "131072")
    assert variable in host_memory.tune()
    assert fresh.calls == []


def test_a_refusal_is_reported(fresh):
    fresh.accept = 0
    assert "refused" in host_memory.tune()


def test_other_c_libraries_are_left_alone(fresh, monkeypatch):
    monkeypatch.setattr(host_memory, "_glibc", lambda: None)
    assert host_memory.tune() == "C library defaults (not glibc)"


FREE_16_MIB = """
import os, sys
import numpy as np
from deepcore import host_memory
print(host_memory.tune(), file=sys.stderr)
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
block = np.ones((16 << 20) // 8)  # 16 MiB, every page touched
held = resident()
del block
print(held - resident())
"""


def _bytes_returned_on_free(allocator_setting: str) -> int:
    env = {**os.environ, host_memory.OPT_OUT_VARIABLE: allocator_setting}
    for name in host_memory.GLIBC_VARIABLES:
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", FREE_16_MIB], env=env, capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux") or host_memory._glibc() is None,
                    reason="host allocator tuning: applies to glibc on Linux only")
def test_tuned_glibc_keeps_a_freed_block_for_the_next_step():
    # glibc's default serves a fresh 16 MiB block with mmap and unmaps it on free (the next
    # step faults it in again); tuned, the block stays in the heap for reuse.
    assert _bytes_returned_on_free("system") >= 15 << 20
    assert _bytes_returned_on_free("tuned") < 1 << 20
