"""Finding out whether this process was started by an MPI launcher, and joining the job.

A plain ``python train.py`` is a job of size 1 and never imports mpi4py. Under ``mpiexec``
(or ``srun``) the launcher's environment gives the expected size, which is checked against
MPI's own count: an MPI runtime of another family would otherwise start N independent jobs
of size 1 that silently train N copies.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any

# Environment variables by which MPICH/Hydra, Open MPI, Intel MPI and Slurm announce the size.
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE", "SLURM_NTASKS")

# ... and the rank within this node, which picks the GPU of a rank.
_LOCAL_RANK_VARIABLES = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "PMIX_LOCAL_RANK", "SLURM_LOCALID")

_comm: Any = None
_initialized = False


def _first_integer(variables: tuple[str, ...], default: int) -> int:
    for variable in variables:
        value = os.environ.get(variable)
        if value and value.isdigit():
            return int(value)
    return default


def launcher_size() -> int:
    """The job size the launcher announced (1 when not launched by MPI)."""
    return _first_integer(_SIZE_VARIABLES, 1)


def local_rank() -> int:
    """This rank's index among the ranks on its node (0 outside MPI): use it as the GPU index,
    e.g. ``dc.set_backend("cupy", device=distribution.local_rank())``."""
    return _first_integer(_LOCAL_RANK_VARIABLES, 0)


def initialize() -> None:
    """Join the MPI job if there is one (idempotent). World size 1 needs no MPI at all."""
    global _comm, _initialized
    if _initialized:
        return
    expected = launcher_size()
    if expected > 1:
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise RuntimeError(
                f"This process was launched as one of {expected} ranks, but mpi4py is not "
                f'installed: pip install "deepcore[mpi]"'
            ) from exc
        comm = MPI.COMM_WORLD
        if comm.Get_size() != expected:
            raise RuntimeError(
                f"The launcher started {expected} ranks but MPI sees a world of {comm.Get_size()}: "
                "mpiexec and mpi4py come from different MPI installations. Use the mpiexec of the "
                "MPI that mpi4py was built with (python -m mpi4py --mpi-library shows it)."
            )
        _comm = comm
        _abort_job_on_uncaught_exception(comm)
    _initialized = True


# Seconds between printing the error and aborting the job: the launcher forwards each rank's
# output through its own processes, and MPI_Abort may kill them before they pass it on (seen:
# only the traceback's first line arrived, about 1 job in 20 on a loaded machine).
ABORT_GRACE_SECONDS = 0.5


def _abort_job_on_uncaught_exception(comm) -> None:
    """An exception on one rank must end every rank, not leave them waiting in a collective.
    The traceback goes out in one write (a part cannot arrive without the rest) before the abort."""
    previous = sys.excepthook

    def abort(kind, value, tb):
        if previous is sys.__excepthook__:
            sys.stderr.write("".join(traceback.format_exception(kind, value, tb)))
        else:  # someone's own hook (IPython...): let it report
            previous(kind, value, tb)
        sys.stderr.flush()
        time.sleep(ABORT_GRACE_SECONDS)
        comm.Abort(1)

    sys.excepthook = abort


def communicator() -> Any:
    """mpi4py's COMM_WORLD, or None in a job of size 1."""
    initialize()
    return _comm


def rank() -> int:
    comm = communicator()
    return 0 if comm is None else comm.Get_rank()


def world_size() -> int:
    comm = communicator()
    return 1 if comm is None else comm.Get_size()


def is_main() -> bool:
    """True on rank 0, the rank that logs, shows progress and writes files."""
    return rank() == 0
