"""Which process of a distributed training run this is, and its share of the samples.

What :class:`cephview.model.train.Trainer` needs from a torchrun job (rank, world size, the
process group); starting such a job is :mod:`cephview.model.distributed`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist

from cephview.core.errors import CephviewError


def shard_positions(n: int, rank: int, world: int, pad: bool = True) -> list[int]:
    """Positions 0..n-1 that process ``rank`` of ``world`` takes.

    ``pad``: ``DistributedSampler``'s split (interleaved, the first positions repeated so every
    process gets as many; DDP needs each process to take the same steps). Without: interleaved,
    each position once (for sums such as validation errors).
    """
    if world == 1:
        return list(range(n))
    if not pad:
        return list(range(rank, n, world))
    from torch.utils.data.distributed import DistributedSampler

    return list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False, drop_last=False))


@dataclass
class DistributedContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @classmethod
    def from_environment(cls, device: str | None = None) -> DistributedContext:
        """Join the process group torchrun describes in RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT."""
        try:
            rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
        except KeyError as exc:
            raise CephviewError(f"not started by torchrun (no {exc.args[0]} in the environment)") from None
        use_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
        if use_cuda:
            torch.cuda.set_device(local)
            dev, backend = torch.device("cuda", local), "nccl"
        else:
            dev, backend = torch.device("cpu"), "gloo"
        if not tdist.is_initialized():
            tdist.init_process_group(backend=backend)
        return cls(rank, world, local, dev, backend)

    def wrap(self, net: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(net, device_ids=ids)

    def sum_over_processes(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return t.tolist()

    def gather_lists(self, values: list) -> list:
        parts: list = [None] * self.world_size
        tdist.all_gather_object(parts, list(values))
        return [v for part in parts for v in part]

    def close(self) -> None:
        if tdist.is_initialized():
            tdist.destroy_process_group()
