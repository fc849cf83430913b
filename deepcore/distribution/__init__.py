"""Data-parallel training on MPI (NumPy and other CPU backends) and NCCL (CuPy), with Keras 3's
distribution names. Launch with ``mpiexec -n N python -m mpi4py train.py``; a plain process is
a job of size 1 and works unchanged."""

from deepcore.distribution import launch
from deepcore.distribution.data_parallel import (
    DataParallel,
    active,
    check_replicas,
    distribution,
    set_distribution,
)
from deepcore.distribution.launch import initialize, is_main, local_rank, rank, world_size

__all__ = [
    "DataParallel", "set_distribution", "distribution", "active", "check_replicas", "launch",
    "initialize", "rank", "local_rank", "world_size", "is_main",
]
