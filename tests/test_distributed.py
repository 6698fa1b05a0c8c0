"""distributed=True, for real: two gloo processes on 127.0.0.1. reduction="positives", the
region losses with batch=True, and the state of the losses that keep one (every registered
module with training state)."""

from __future__ import annotations

import os
import queue
import socket
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import torchfocal
from losses.stateful import TIGHT, C, random_logits
from registry_cases import softmax_reading
from torchfocal.registry import LOSSES as REGISTERED
from torchfocal.registry import LossInfo, Sample

WORLD_SIZE = 2
TIMEOUT_SECONDS = 120


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    logits = torch.randn(8, 6, 4, generator=generator, dtype=torch.float64) * 2
    # Unequal positives per shard, so a per-rank normaliser would differ between ranks.
    target = torch.randint(0, 7, (8, 4), generator=generator)  # 6 = background
    target[:4][target[:4] < 6] = 6
    target[0, 0] = 2
    return logits, target


def _worker(rank: int, port: int, results: Any) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        logits, target = _batch()
        shard = slice(rank * 4, (rank + 1) * 4)
        x = logits[shard].clone().requires_grad_(True)
        loss = torchfocal.sigmoid_focal_loss(
            x, target[shard], reduction="positives", distributed=True
        )
        loss.backward()
        assert x.grad is not None
        results.put((rank, loss.item(), x.grad.numpy().copy()))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_ranks(worker: Any) -> dict[int, tuple[Any, ...]]:
    """Run ``worker(rank, port, results)`` in WORLD_SIZE spawned processes; each puts
    ``(rank, *values)`` on the queue once. Returns rank -> values, after every process has
    exited with status 0."""
    context = mp.get_context("spawn")
    results = context.Queue()
    port = _free_port()
    workers = [context.Process(target=worker, args=(r, port, results)) for r in range(WORLD_SIZE)]
    for process in workers:
        process.start()
    collected = {}
    try:
        for _ in range(WORLD_SIZE):
            rank, *values = results.get(timeout=TIMEOUT_SECONDS)
            collected[rank] = tuple(values)
    except queue.Empty:
        pytest.fail(f"distributed workers gave no result within {TIMEOUT_SECONDS} s")
    finally:
        for process in workers:
            # a rank's exit (the process group's teardown, the interpreter's) can take
            # well over 10 s on a loaded 2-core machine: 10 s failed there at load 15
            process.join(timeout=TIMEOUT_SECONDS)
            if process.is_alive():
                process.terminate()
    assert [process.exitcode for process in workers] == [0] * WORLD_SIZE
    return collected


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_two_ranks_match_the_whole_batch() -> None:
    collected = {
        rank: (loss, torch.from_numpy(grad)) for rank, (loss, grad) in _run_ranks(_worker).items()
    }

    logits, target = _batch()
    x = logits.clone().requires_grad_(True)
    whole = torchfocal.sigmoid_focal_loss(x, target, reduction="positives")
    whole.backward()
    assert x.grad is not None
    # DDP averages gradients over ranks: grad_r / W must be the whole-batch gradient of
    # shard r, and the ranks' losses averaged must be the whole-batch loss.
    for rank, (_, grad) in collected.items():
        torch.testing.assert_close(grad / WORLD_SIZE, x.grad[rank * 4 : (rank + 1) * 4])
    average = sum(loss for loss, _ in collected.values()) / WORLD_SIZE
    assert average == pytest.approx(whole.item(), rel=1e-12)
    # And the per-rank normaliser really differs from the averaged one here.
    local = torchfocal.sigmoid_focal_loss(logits[:4], target[:4], reduction="positives")
    assert local.item() != pytest.approx(collected[0][0], rel=1e-6)


def test_distributed_needs_a_process_group() -> None:
    with pytest.raises(
        ValueError,
        match=r"distributed must be False unless torch.distributed "
        r"is initialised",
    ):
        torchfocal.sigmoid_focal_loss(
            torch.randn(2, 3), torch.rand(2, 3), reduction="positives", distributed=True
        )


def _dice_worker(rank: int, port: int, results: Any) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        logits, target = _segmentation_batch()
        shard = slice(rank * 2, (rank + 1) * 2)
        out = []
        for backend in ("fused", "naive"):
            x = logits[shard].clone().requires_grad_(True)
            loss = torchfocal.dice_loss(
                x, target[shard], batch=True, distributed=True, backend=backend
            )
            loss.backward()
            assert x.grad is not None
            out.append((loss.item(), x.grad.numpy().copy()))
        results.put((rank, out))
    finally:
        dist.destroy_process_group()


def _segmentation_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(11)
    logits = torch.randn(4, 3, 5, 5, generator=generator, dtype=torch.float64)
    target = torch.randint(0, 3, (4, 5, 5), generator=generator)
    target[:2][target[:2] == 2] = 0  # class 2 only on rank 1: local Dice would differ
    return logits, target


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_two_ranks_get_the_global_dice() -> None:
    """batch=True, distributed=True: each rank's loss is the whole batch's Dice, and its
    gradient that of its shard (fused and naive backends)."""
    collected = {rank: out for rank, (out,) in _run_ranks(_dice_worker).items()}
    logits, target = _segmentation_batch()
    x = logits.clone().requires_grad_(True)
    whole = torchfocal.dice_loss(x, target, batch=True)
    whole.backward()
    assert x.grad is not None
    for rank, out in collected.items():
        for loss, grad in out:
            assert loss == pytest.approx(whole.item(), rel=1e-12)
            torch.testing.assert_close(torch.from_numpy(grad), x.grad[rank * 2 : (rank + 1) * 2])
    local = torchfocal.dice_loss(logits[:2], target[:2], batch=True)
    assert local.item() != pytest.approx(whole.item(), rel=1e-6)


#: The combined losses under distributed=True: (name, options), the module alongside.
COMBINED = [
    ("dice_ce_loss", {}),
    ("dice_ce_loss", {"weight": [0.5, 1.0, 2.0], "ignore_index": 1}),
    ("dice_focal_loss", {"gamma": 2.0, "reduction": "sum"}),
    ("dice_focal_loss", {"activation": "sigmoid", "gamma": 1.5}),
    ("unified_focal_loss", {}),
    ("unified_focal_loss", {"asymmetric": False, "reduction": "sum", "ignore_index": 1}),
    ("unified_focal_loss", {"weight": 0.2, "delta": 0.7, "ignore_index": 1}),
]


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {
        key: torch.tensor(value, dtype=torch.float64) if isinstance(value, list) else value
        for key, value in options.items()
    }


def _combined_worker(rank: int, port: int, results: Any) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        logits, target = _segmentation_batch()
        target[rank * 2, 0, :3] = 1 - rank  # different counts of ignored locations per rank
        shard = slice(rank * 2, (rank + 1) * 2)
        out = []
        for name, options in COMBINED:
            x = logits[shard].clone().requires_grad_(True)
            function = getattr(torchfocal, name)
            loss = function(x, target[shard], batch=True, distributed=True, **_options(options))
            loss.backward()
            assert x.grad is not None
            out.append((loss.item(), x.grad.numpy().copy()))
        module = torchfocal.DiceCELoss(batch=True, distributed=True)
        x = logits[shard].clone().requires_grad_(True)
        module(x, target[shard]).backward()
        assert x.grad is not None
        out.append((module(x, target[shard]).item(), x.grad.numpy().copy()))
        results.put((rank, out))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_two_ranks_get_the_global_combined_losses() -> None:
    """dice_ce_loss, dice_focal_loss and unified_focal_loss (and DiceCELoss) with
    batch=True, distributed=True: each rank's loss is the whole batch's (the Dice / Tversky
    sums and the focal term's sum and divisor global), and its gradient that of its shard."""
    collected = {rank: out for rank, (out,) in _run_ranks(_combined_worker).items()}
    logits, target = _segmentation_batch()
    for rank in range(WORLD_SIZE):
        target[rank * 2, 0, :3] = 1 - rank
    cases = [*COMBINED, ("dice_ce_loss", {})]
    for index, (name, options) in enumerate(cases):
        x = logits.clone().requires_grad_(True)
        whole = getattr(torchfocal, name)(x, target, batch=True, **_options(options))
        whole.backward()
        assert x.grad is not None
        for rank, out in collected.items():
            loss, grad = out[index]
            assert loss == pytest.approx(whole.item(), rel=1e-12), (name, options)
            torch.testing.assert_close(torch.from_numpy(grad), x.grad[rank * 2 : (rank + 1) * 2])
        # A shard's own loss differs from the whole batch's: the all-reduce is what matches.
        shard = slice(0, 2)
        local = getattr(torchfocal, name)(
            logits[shard], target[shard], batch=True, **_options(options)
        )
        assert local.item() != pytest.approx(whole.item(), rel=1e-6), (name, options)


# -- the losses with training state (Seesaw's counts, EQLv2's statistics) ----------------------

STEPS = 3

#: The losses whose modules keep training state (LossInfo.state), each with its sample.
STATEFUL = [(info, info.samples[0]) for info in REGISTERED if info.state]


def _labels(info: LossInfo, sample: Sample, rows: int, generator: torch.Generator) -> torch.Tensor:
    """Class indices for the loss's index sample: [0, C) where a softmax reads them, [0, C]
    (C: background) where a sigmoid does; the first half of the rows all the last of
    those, so that the two shards' statistics differ; the last row ignored where the loss
    takes ``ignore_index``."""
    high = C if softmax_reading(info, sample) else C + 1
    labels = torch.randint(0, high, (rows,), generator=generator)
    labels[: rows // 2] = high - 1
    if info.takes("ignore_index"):
        labels[-1] = -100
    return labels


def _module(info: LossInfo, sample: Sample, **options: Any) -> Any:
    """The loss's module for C classes."""
    module_class = getattr(torchfocal, info.module)
    return module_class(**{**sample.module_options, "num_classes": C, **options})


def _global_batches() -> list[dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Per step, each stateful loss's whole batch (8 rows of logits and labels)."""
    generator = torch.Generator().manual_seed(11)
    batches = []
    for _ in range(STEPS):
        x = torch.randn(8, C, generator=generator, dtype=torch.float64) * 2
        batches.append({info.name: (x, _labels(info, s, 8, generator)) for info, s in STATEFUL})
    return batches


def _stateful_worker(rank: int, port: int, results: Any) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        modules = {info.name: _module(info, s, distributed=True) for info, s in STATEFUL}
        losses: dict[str, list[float]] = {name: [] for name in modules}
        for batch in _global_batches():
            for name, module in modules.items():
                x, labels = batch[name]
                shard = slice(rank * 4, (rank + 1) * 4)
                losses[name].append(module(x[shard], labels[shard]).item())
        # NumPy copies, pickled by value: a tensor would travel as a shared-memory handle
        # that the parent opens through this process, which may have exited by then
        # ("connection reset by peer" on a loaded machine).
        buffers = {
            name: {key: value.numpy().copy() for key, value in module.state_dict().items()}
            for name, module in modules.items()
        }
        results.put((rank, losses, buffers))
    finally:
        dist.destroy_process_group()


def _state(module: Any, info: LossInfo) -> dict[str, torch.Tensor]:
    """The module's training state as the function's options of the same names."""
    return {name: module.state_dict()[name].clone() for name in info.state}


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_two_ranks_hold_the_state_of_the_whole_batch() -> None:
    collected = _run_ranks(_stateful_worker)
    batches = _global_batches()

    for info, sample in STATEFUL:
        # One process, the whole batch of every step; the rank's loss of its shard is the
        # function's with the state the module used on the whole batch at that step.
        single = _module(info, sample)
        # the sample's other options, which its module_options give the module too
        options = {k: v for k, v in sample.options.items() if k not in info.state}
        for step, batch in enumerate(batches):
            x, labels = batch[info.name]
            before = _state(single, info)
            whole = single(x, labels)
            after = _state(single, info)
            # A module counts its batch before the loss (Seesaw) or collects after it
            # (EQLv2): exactly one of the two states gives its loss.
            used = [
                state
                for state in (before, after)
                if torch.allclose(
                    info.function(x, labels, **options, **state), whole, rtol=1e-12, atol=0
                )
            ]
            assert len(used) == 1, (info.name, step)
            for rank, (losses, _) in collected.items():
                shard = slice(rank * 4, (rank + 1) * 4)
                expected = info.function(x[shard], labels[shard], **options, **used[0])
                assert losses[info.name][step] == pytest.approx(expected.item(), rel=1e-12)
        for rank, (_, buffers) in collected.items():
            for key, value in single.state_dict().items():
                torch.testing.assert_close(
                    torch.from_numpy(buffers[info.name][key]), value, **TIGHT
                )
                # the ranks agree exactly (the same all-reduced sums)
                assert (buffers[info.name][key] == collected[0][1][info.name][key]).all(), rank
        # the shards' own classes differ: a per-rank state would not have matched
        first = batches[0][info.name][1]
        halves = [labels[labels >= 0] for labels in (first[:4], first[4:])]
        assert not torch.equal(*(torch.bincount(h, minlength=C + 1) for h in halves))


def test_distributed_needs_a_process_group_in_training_only() -> None:
    generator = torch.Generator().manual_seed(0)
    for info, sample in STATEFUL:
        module = _module(info, sample, distributed=True)
        x, labels = random_logits(), _labels(info, sample, 9, generator)
        with pytest.raises(ValueError, match=r"distributed must be False unless torch.distributed"):
            module(x, labels)
        module.eval()
        assert torch.isfinite(module(x, labels))  # eval syncs nothing
