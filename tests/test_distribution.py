"""Data-parallel training over MPI: 2 ranks reproduce 1 process; failures end the whole job.

Jobs run as ``mpiexec -n 2 python -m mpi4py tests/mpi_scripts/train_data_parallel.py`` in
their own process group, killed as a group if they outlive the timeout (no hung CI).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parent / "mpi_scripts" / "train_data_parallel.py"
TIMEOUT_SECONDS = 120
FLOAT32_EPS = float(np.finfo(np.float32).eps)

try:
    import mpi4py  # noqa: F401

    MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    SKIP_REASON = None if MPIEXEC else "mpiexec not found (pip install \"deepcore[mpi]\")"
except ImportError:
    MPIEXEC, SKIP_REASON = None, 'mpi4py is not installed (pip install "deepcore[mpi]")'

needs_mpi = pytest.mark.skipif(SKIP_REASON is not None, reason=f"MPI: {SKIP_REASON}")


def run_job(ranks: int, out: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the training script on ``ranks`` ranks (plain python for 1), killing the whole
    process group on timeout."""
    command = [sys.executable, str(SCRIPT), str(out), *args]
    if ranks > 1:
        command = [MPIEXEC, "-n", str(ranks), sys.executable, "-m", "mpi4py", str(SCRIPT), str(out), *args]
    # One BLAS thread per rank: two ranks on two cores must not oversubscribe them.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"the {ranks}-rank job hung for more than {TIMEOUT_SECONDS} s")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def trained(tmp_path: Path, ranks: int, *args: str) -> dict:
    out = tmp_path / f"ranks{ranks}.npz"
    result = run_job(ranks, out, *args)
    assert result.returncode == 0, result.stderr
    with np.load(out) as saved:
        return {
            "world_size": int(saved["world_size"]),
            "history": json.loads(str(saved["history"])),
            "weights": [saved[f"w{i}"] for i in range(sum(k.startswith("w") and k[1:].isdigit() for k in saved.files))],
        }


def test_world_size_one_without_mpiexec(tmp_path):
    single = trained(tmp_path, 1, "--epochs", "1")
    assert single["world_size"] == 1
    assert len(single["history"]["loss"]) == 1


@needs_mpi
@pytest.mark.parametrize(
    "samples, batch_size",
    [
        (203, 32),  # 162 training samples: 5 even batches split 16/16, a last batch of 2 split 1/1
        (50, 15),   # 40 training samples: batches of 15 split 7/8, a last batch of 10 split 5/5
        (41, 32),   # 32 training samples + 9 validation, one global batch
    ],
)
def test_two_ranks_reproduce_one_process(tmp_path, samples, batch_size):
    args = ("--samples", str(samples), "--batch-size", str(batch_size), "--epochs", "3")
    single = trained(tmp_path, 1, *args)
    double = trained(tmp_path, 2, *args)  # the script also asserts check_replicas() on every rank
    assert double["world_size"] == 2
    steps = 3 * -(-int(samples * 0.8) // batch_size)
    # Only the summation order of the gradient differs (two partial sums + allreduce), so each
    # Adam step may move an O(1) weight differently by a few float32 ulps: allow 10 per step.
    tolerance = 10 * steps * FLOAT32_EPS
    for one, two in zip(single["weights"], double["weights"]):
        np.testing.assert_allclose(two, one, rtol=0, atol=tolerance)
    assert double["history"].keys() == single["history"].keys()
    for key, values in single["history"].items():
        # Epoch means of float32 per-batch losses, summed in another order: a few float32 ulps.
        np.testing.assert_allclose(double["history"][key], values, rtol=10 * FLOAT32_EPS, err_msg=key)


@needs_mpi
def test_batch_normalization_statistics_stay_identical_across_replicas(tmp_path):
    # Each rank updates the moving statistics from its own shards; they are averaged every
    # epoch, and the script's check_replicas() fails the job if any rank differs.
    result = trained(tmp_path, 2, "--batchnorm", "--epochs", "2")
    assert result["world_size"] == 2


@needs_mpi
def test_only_rank_zero_writes_logs(tmp_path):
    prefix = tmp_path / "log"
    trained(tmp_path, 2, "--csv-prefix", str(prefix), "--epochs", "2")
    assert (tmp_path / "log.rank0.csv").exists()
    assert not (tmp_path / "log.rank1.csv").exists()


@needs_mpi
def test_deepcore_train_np_2(tmp_path):
    config = {
        "seed": 0,
        "data": {"dataset": "iris", "standardize": True, "test_split": 0.2},
        "model": {"layers": [{"type": "Dense", "units": 8, "activation": "relu"},
                             {"type": "Dense", "units": 3, "activation": "softmax"}]},
        "compile": {"loss": "sparse_categorical_crossentropy", "optimizer": "adam", "metrics": ["accuracy"]},
        "fit": {"epochs": 2, "batch_size": 16},
    }
    path = tmp_path / "iris.json"
    path.write_text(json.dumps(config))
    output = tmp_path / "iris.deepcore"
    result = subprocess.run(
        [sys.executable, "-m", "deepcore", "train", "--np", "2", str(path), "--output", str(output)],
        capture_output=True, text=True, timeout=TIMEOUT_SECONDS, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "2 rank(s)" in result.stdout
    assert result.stdout.count("Saved the model") == 1  # rank 0 only
    assert output.exists()


@needs_mpi
def test_failing_rank_ends_the_whole_job(tmp_path):
    result = run_job(2, tmp_path / "never.npz", "--fail-on-rank", "1")
    assert result.returncode != 0
    assert "deliberate failure on rank 1" in result.stderr
    assert not (tmp_path / "never.npz").exists()


@needs_mpi
def test_ranks_disagreeing_on_the_architecture_are_reported(tmp_path):
    result = run_job(2, tmp_path / "never.npz", "--wider-on-rank", "1")
    assert result.returncode != 0
    assert "Ranks disagree on the model architecture" in result.stderr


@needs_mpi
def test_mpi_of_another_family_is_detected():
    # Open MPI's launcher variable announces 2 ranks, but mpi4py's MPI sees a world of 1.
    code = "from deepcore import distribution; distribution.initialize()"
    env = {**os.environ, "OMPI_COMM_WORLD_SIZE": "2"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=TIMEOUT_SECONDS)
    assert result.returncode != 0
    assert "different MPI installations" in result.stderr


def test_shard_splits_every_global_batch_exactly(monkeypatch):
    from deepcore.distribution import data_parallel, launch

    covered, weights = [], []
    for rank in range(3):
        monkeypatch.setattr(launch, "rank", lambda rank=rank: rank)
        monkeypatch.setattr(launch, "world_size", lambda: 3)
        strategy = data_parallel.DataParallel()
        local, weight = strategy.shard(slice(10, 17), 7)
        covered.extend(range(local.start, local.stop))
        weights.append(weight)
    assert covered == list(range(10, 17))
    assert sum(weights) == pytest.approx(1.0)
    assert weights == pytest.approx([2 / 7, 2 / 7, 3 / 7])


def test_nccl_bootstrap_broadcasts_rank0_unique_id(monkeypatch):
    """No two CUDA devices here: check the bootstrap logic with stand-ins for NCCL and MPI."""
    created = []

    class FakeCommunicator:
        def __init__(self, size, unique_id, rank):
            created.append((size, unique_id, rank))

    nccl = types.SimpleNamespace(get_unique_id=lambda: "id-from-rank-0", NcclCommunicator=FakeCommunicator)
    cuda = types.SimpleNamespace(nccl=nccl)
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(cuda=cuda))
    monkeypatch.setitem(sys.modules, "cupy.cuda", cuda)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", nccl)

    class FakeMPI:
        def __init__(self, rank):
            self.rank = rank

        def Get_rank(self):
            return self.rank

        def Get_size(self):
            return 2

        def bcast(self, value, root=0):
            assert root == 0
            return "id-from-rank-0"  # what rank 0 sent

    from deepcore.distribution.collectives import NCCLCollectives

    NCCLCollectives(FakeMPI(0), backend=None)
    NCCLCollectives(FakeMPI(1), backend=None)
    assert created == [(2, "id-from-rank-0", 0), (2, "id-from-rank-0", 1)]


def test_nccl_allreduce_on_two_gpus(tmp_path):
    cupy_record = next(r for r in __import__("deepcore").list_backends() if r.name == "cupy")
    if not cupy_record.available or len(cupy_record.devices) < 2:
        pytest.skip(f"NCCL: needs two CUDA devices ({cupy_record.reason or f'{len(cupy_record.devices)} found'})")
    result = run_job(2, tmp_path / "gpus.npz", "--backend", "cupy")
    assert result.returncode == 0, result.stderr


def test_an_uncaught_error_is_written_in_one_piece_before_the_job_aborts(monkeypatch):
    """The launcher may kill its output forwarding at the abort: the traceback goes out as one
    write, flushed, then a grace period, then MPI_Abort (before: only its first line arrived in
    about 1 of 20 failing jobs on a loaded machine)."""
    from deepcore.distribution import launch

    events = []

    class Stderr:
        def write(self, text):
            events.append(("write", text))

        def flush(self):
            events.append(("flush",))

    class Comm:
        def Abort(self, code):  # noqa: N802 (mpi4py's name)
            events.append(("abort", code))

    monkeypatch.setattr(sys, "stderr", Stderr())
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    monkeypatch.setattr(launch, "ABORT_GRACE_SECONDS", 0.0)
    launch._abort_job_on_uncaught_exception(Comm())
    try:
        raise RuntimeError("rank 1 failed")
    except RuntimeError as error:
        sys.excepthook(type(error), error, error.__traceback__)
    assert [e[0] for e in events] == ["write", "flush", "abort"]
    assert events[0][1].startswith("Traceback") and "RuntimeError: rank 1 failed" in events[0][1]
    assert events[2] == ("abort", 1)
