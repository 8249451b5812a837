"""Data-parallel training over MPI: ``init()``, then ``model.fit(..., distributed=True)`` on
every rank, launched as ``mpirun -n 4 python train.py``.

Semantics (what makes a distributed fit equal a single-process one): every rank is given the
same full data; ``batch_size`` is the global batch and the global batches are those of a
single-process fit with the same seed; rank r trains on its contiguous share of each batch
(sizes differ by at most one); rank 0's weights, state and optimizer moments are broadcast
when fit starts; each step's loss gradient is weighted by the rank's share of the batch's
loss weight and the gradients are summed over ranks in C++ (buckets all-reduced as backward
finishes them, without the GIL), so the update is the global batch's, uneven last batch
included. Losses and metrics are the whole batch's on every rank; only rank 0 prints and
writes checkpoint and CSV files; stop decisions are rank 0's.

Faults: a rank whose fit raises tells the others, which raise DistributedError naming its
error; a rank that dies or hangs makes the others raise DistributedError after ``timeout``
seconds. After either, the job cannot train any more; at interpreter exit it is aborted
(MPI_Abort, status 1) if MPI_Finalize has not returned within FINALIZE_GRACE_S seconds,
rather than hang.

The transport is mpi4py's MPI library, reached from C++ through the handles mpi4py gives
(no MPI at build time): ``pip install "pydl[mpi]"`` brings mpi4py and the mpich wheel; on a
cluster mpi4py uses the system MPI.
"""
from __future__ import annotations

import atexit
import json
import zlib
from typing import Optional

import numpy as np

from . import _core

__all__ = ["init", "rank", "size", "is_main", "DistributedError"]

DistributedError = _core.DistributedError
DistributedError.__doc__ = ("Another rank of a data-parallel job failed (the message names it and its error), or "
                            "no rank answered within pydl.distributed.init's timeout.")

FINALIZE_GRACE_S = 10.0
_job: Optional["_Job"] = None
_fitting_rank: Optional[int] = None  # the rank while a distributed fit runs (files: rank 0 only)


class _Job:
    """The communicators and the C++ reducer of an initialised job."""

    def __init__(self, MPI, comm, timeout: float, bucket_mb: float):
        sizes = {name: MPI._sizeof(getattr(MPI, name)) for name in ("Comm", "Datatype", "Op", "Request")}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"pydl.distributed: MPI handles of different sizes {sizes}: this MPI's ABI is not "
                             "supported (expected MPICH's int or Open MPI's pointer handles)")
        # Our own duplicates: the user's messages on comm never meet ours.
        self.comm = comm.Dup()
        self.fail_comm = comm.Dup()
        def handle(obj) -> int:  # as a signed 64-bit value (MPICH's int handles come sign-extended)
            h = MPI._handleof(obj)
            return (h + 2**63) % 2**64 - 2**63

        self.reducer = _core.make_mpi_reducer(
            MPI.__file__, sizes["Comm"], MPI._sizeof(MPI.Status), handle(self.comm), handle(self.fail_comm),
            handle(MPI.FLOAT), handle(MPI.DOUBLE), handle(MPI.BYTE), handle(MPI.SUM), float(timeout),
            max(1, int(bucket_mb * 2**18)))
        self.rank = self.reducer.rank
        self.size = self.reducer.size
        self.broken = False

    def gather(self, values) -> np.ndarray:
        """Every rank's float64 vector (equal lengths), as rows of a (size, len) array."""
        v = np.asarray(values, dtype=np.float64)
        table = np.zeros((self.size, v.size))
        table[self.rank] = v
        self.reducer.sum(table)
        return table

    def decide(self, flag: bool) -> bool:
        """Rank 0's flag, on every rank."""
        v = np.array([1.0 if (flag and self.rank == 0) else 0.0])
        self.reducer.sum(v)
        return bool(v[0] > 0)

    def fail(self, exc: BaseException) -> None:
        """This rank's fit raised: tell the others (unless it is their failure coming back)."""
        self.broken = True
        if getattr(exc, "_pydl_every_rank", False):  # raised alike on every rank: nothing is pending
            self.broken = False
            return
        if not isinstance(exc, DistributedError):
            self.reducer.report_failure(f"{type(exc).__name__}: {exc}")

    def guard_exit(self) -> None:
        """At interpreter exit after a failure: MPI_Finalize (mpi4py's exit handler, after
        this one) may wait for ranks that will never answer; a C++ thread (the exit holds
        the GIL) aborts the job if the process is still there FINALIZE_GRACE_S seconds on."""
        if self.broken:
            self.reducer.abort_job_after(FINALIZE_GRACE_S)


def init(comm=None, timeout: float = 300.0, bucket_mb: float = 25.0) -> None:
    """Join the MPI job (rank and size from the MPI environment, through mpi4py).

    ``comm``: an mpi4py communicator (default ``MPI.COMM_WORLD``). ``timeout``: the longest a
    rank waits for the others in a collective before raising DistributedError (a rank died or
    hangs); keep it above the slowest epoch-end work (validation, rank 0's checkpoints).
    ``bucket_mb``: gradients are all-reduced in buckets of this many MiB as backward
    finishes them (PyTorch DDP's default, 25). Calling init again replaces the job's settings.
    """
    global _job
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"init: timeout must be a number of seconds > 0, got {timeout!r}")
    if isinstance(bucket_mb, bool) or not isinstance(bucket_mb, (int, float)) or not bucket_mb > 0:
        raise ValueError(f"init: bucket_mb must be a number > 0, got {bucket_mb!r}")
    try:
        from mpi4py import MPI  # initialises MPI (checked arguments first: no MPI for a typo)
    except ImportError as e:
        raise ImportError('pydl.distributed needs mpi4py: pip install "pydl[mpi]" (mpi4py and the mpich wheel)') from e
    comm = MPI.COMM_WORLD if comm is None else comm
    if not isinstance(comm, MPI.Comm):
        raise TypeError(f"init: comm must be an mpi4py communicator, got {type(comm).__name__}")
    first = _job is None
    _job = _Job(MPI, comm, float(timeout), float(bucket_mb))
    if first:  # after mpi4py's own exit handler was registered: ours runs first
        atexit.register(lambda: _job is not None and _job.guard_exit())  # type: ignore[func-returns-value]


def _require() -> _Job:
    if _job is None:
        raise RuntimeError("pydl.distributed: call pydl.distributed.init() first (in a script run by mpirun)")
    return _job


def rank() -> int:
    """This process's rank (0 .. size() - 1)."""
    return _require().rank


def size() -> int:
    """The number of processes training together."""
    return _require().size


def is_main() -> bool:
    """Whether this is rank 0: the one that prints and writes files."""
    return _require().rank == 0


def _job_for_fit() -> _Job:
    """The job of fit(distributed=True)."""
    if _job is None:
        raise RuntimeError("fit(distributed=True): call pydl.distributed.init() first (in a script run by mpirun)")
    return _job


def writes_files() -> bool:
    """False on ranks other than 0 while a distributed fit runs (callbacks writing files ask)."""
    return _fitting_rank is None or _fitting_rank == 0


def _without_names(value):
    """A config without its (process-dependent, auto-numbered) names."""
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, (list, tuple)):
        return [_without_names(v) for v in value]
    return value


def _signature(model, fit_signature) -> list:
    """What must be equal on every rank: the architecture, sizes and training position, and
    fit's arguments."""
    arch = json.dumps(_without_names(model.get_config()), sort_keys=True, default=repr)
    return [float(zlib.crc32(arch.encode())), float(model._graph.num_params), float(model._trainer.num_slots),
            float(model._trainer.step), float(model.epochs_trained), *map(float, fit_signature)]


_SIGNATURE_NAMES = ("architecture", "parameter count", "optimizer slot count", "optimizer step", "epochs trained",
                    "number of samples", "batch size", "epochs", "seed", "shuffle", "verbose",
                    "batch-callback interval")


def begin_fit(model, job: _Job, fit_signature) -> None:
    """At the start of a distributed fit: check that every rank has the same model and fit
    arguments, then give every rank rank 0's weights, state and optimizer moments."""
    global _fitting_rank
    if model.device != "cpu":
        raise ValueError(f"fit(distributed=True): data-parallel training runs on the CPU only in this version of "
                         f"pydl; the model is on {model.device} (model.to('cpu') first)")
    table = job.gather(_signature(model, fit_signature))
    differ = [(r, i) for r in range(job.size) for i in range(table.shape[1]) if table[r, i] != table[0, i]]
    if differ:
        r, i = differ[0]
        name = _SIGNATURE_NAMES[i] if i < len(_SIGNATURE_NAMES) else f"value {i}"
        what = (f"a different {name} than rank 0" if i == 0 else
                f"{name} {table[r, i]:g}, rank 0 has {table[0, i]:g}")
        error = ValueError(f"fit(distributed=True): the models or fit arguments differ across ranks: rank {r} has "
                           f"{what} (every rank must build the same model with the same seed and call fit with "
                           "the same data and arguments)")
        error._pydl_every_rank = True  # type: ignore[attr-defined]
        raise error
    _core.broadcast_training_state(model._trainer, job.reducer)
    _core.set_reducer(model._trainer, job.reducer)
    _fitting_rank = job.rank


def end_fit(model) -> None:
    global _fitting_rank
    _core.set_reducer(model._trainer, None)
    _fitting_rank = None
