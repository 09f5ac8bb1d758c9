"""Data-parallel training over ``torchrun`` processes: one global batch, each rank encodes its slice.

Every rank draws the same global batch (same sampler, same seed) and encodes only its slice of queries
and passages. The vectors are all-gathered *with* gradients, so each rank computes the loss of the whole
global batch: in-batch negatives and the ColBERT teacher's in-batch scores span all ranks, exactly as in
one process with the same batch. Gradients flow back through the gather to each rank's own slice and are
then averaged over ranks (the all-gather's backward sums the identical losses of all ranks, which the
average undoes), so every rank applies the single-process gradient and the replicas stay identical.

Gradients are averaged by hand rather than through ``DistributedDataParallel``: a step runs the encoder
twice (queries, then passages) before one backward over a loss that needs every rank's vectors, which
DDP's one-forward-one-backward bucketing does not fit without ``static_graph`` tricks.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Iterable, Sequence, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from tasb.models.inference import resolve_device

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes; a single process is rank 0 of 1."""

    rank: int = 0
    size: int = 1

    @property
    def device(self) -> str:
        """Where this rank trains: what ``auto`` means, on this rank's own GPU under torchrun."""
        device = resolve_device("auto")
        return device if device == "cpu" else f"{device}:{int(os.environ.get('LOCAL_RANK', '0'))}"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def local(self, batch: Sequence[T]) -> list[T]:
        """This rank's contiguous slice of the global batch (ranks in order give it back whole)."""
        share = len(batch) // self.size
        return list(batch[self.rank * share : (self.rank + 1) * share])

    def gather(self, local: Tensor) -> Tensor:
        """Every rank's ``local`` rows, in rank order; gradients reach each rank's own rows."""
        if not self.distributed:
            return local
        from torch.distributed.nn.functional import all_gather

        # float32 on the wire: gloo does not reduce bf16, and the loss is computed in float32 anyway
        return torch.cat(all_gather(local.float().contiguous()), dim=0)

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        if not self.distributed:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat /= self.size
        for grad, averaged in zip(grads, _unflatten_dense_tensors(flat, grads)):
            grad.copy_(averaged)

    def agree(self, decision: bool) -> bool:
        """Rank 0's ``decision`` on every rank: stopping (time budget, early stopping) must happen everywhere at once."""
        if not self.distributed:
            return decision
        flag = torch.tensor([int(decision)], device=self.device)  # NCCL moves only GPU tensors
        dist.broadcast(flag, src=0)
        return bool(flag.item())

    def share(self, value: T) -> T:
        """Rank 0's ``value`` (anything picklable made by the code, never read from a file) on every rank."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def init_world() -> World:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1): gloo on CPU, NCCL on GPU."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        # rank 0 validates and saves checkpoints while the others wait in a collective: give it time
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo", timeout=datetime.timedelta(hours=1))
    return World(rank=dist.get_rank(), size=dist.get_world_size())


def leave_world(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
