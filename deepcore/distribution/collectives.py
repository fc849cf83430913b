"""Collective operations for data parallelism, on proven engines only.

`MPICollectives` sums host (NumPy) buffers with MPI's Allreduce — used for the numpy, torch
(CPU) and array-api-strict backends. `NCCLCollectives` sums CuPy device buffers with NCCL,
bootstrapped over MPI (rank 0 creates the NCCL unique id and broadcasts it). A backend picks
its engine through `Backend.make_collectives`.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class MPICollectives:
    """Allreduce and broadcast of arrays through the host, over an mpi4py communicator."""

    def __init__(self, comm, backend):
        self.comm = comm
        self.backend = backend

    def allreduce_sum(self, flat: Any) -> Any:
        """Sum a 1-D backend array across ranks; returns the summed array (on the backend)."""
        from mpi4py import MPI

        host = np.ascontiguousarray(self.backend.to_numpy(flat))
        if not host.flags.writeable:
            host = host.copy()
        self.comm.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM)
        return self.backend.asarray(host)

    def broadcast_arrays(self, arrays: list, root: int = 0) -> list:
        """Every rank gets rank ``root``'s arrays (same shapes and dtypes on every rank)."""
        result = []
        for array in arrays:
            host = np.array(self.backend.to_numpy(array), order="C")  # a writable copy; a scalar stays 0-d
            self.comm.Bcast(host, root=root)
            result.append(self.backend.asarray(host))
        return result

    def broadcast_object(self, value: Any, root: int = 0) -> Any:
        return self.comm.bcast(value, root=root)

    def allgather_object(self, value: Any) -> list:
        return self.comm.allgather(value)

    def allreduce_host_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum a small host array across ranks (metric totals, counts)."""
        from mpi4py import MPI

        values = np.ascontiguousarray(values, dtype=np.float64).copy()
        self.comm.Allreduce(MPI.IN_PLACE, values, op=MPI.SUM)
        return values


class NCCLCollectives(MPICollectives):
    """Device-side allreduce and broadcast of CuPy arrays with NCCL; objects still go over MPI."""

    def __init__(self, comm, backend):
        super().__init__(comm, backend)
        from cupy.cuda import nccl

        self._nccl = nccl
        unique_id = comm.bcast(nccl.get_unique_id() if comm.Get_rank() == 0 else None, root=0)
        self.nccl_comm = nccl.NcclCommunicator(comm.Get_size(), unique_id, comm.Get_rank())

    def _nccl_type(self, array) -> int:
        types = {"float32": self._nccl.NCCL_FLOAT32, "float64": self._nccl.NCCL_FLOAT64,
                 "float16": self._nccl.NCCL_FLOAT16}
        return types[str(array.dtype)]

    def allreduce_sum(self, flat):
        import cupy

        stream = cupy.cuda.get_current_stream().ptr
        self.nccl_comm.allReduce(flat.data.ptr, flat.data.ptr, flat.size, self._nccl_type(flat),
                                 self._nccl.NCCL_SUM, stream)
        return flat

    def broadcast_arrays(self, arrays, root=0):
        import cupy

        stream = cupy.cuda.get_current_stream().ptr
        result = []
        for array in arrays:
            array = cupy.ascontiguousarray(array)
            self.nccl_comm.bcast(array.data.ptr, array.size, self._nccl_type(array), root, stream)
            result.append(array)
        return result
