"""The scripts in examples/ run, learn, and compute their loss with torchfocal.

Each test runs an example's main() with few steps while a spy counts the torchfocal calls,
so a script that trained with some other loss would fail. The Lightning and Transformers
examples are skipped only where their framework is not installed (the `examples` extra).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

import torchfocal

ROOT = Path(__file__).resolve().parents[1]


def load_example(name: str) -> ModuleType:
    """examples/<name>.py as a module (examples/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", ROOT / "examples" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Spy:
    """Wraps a callable and records the keyword arguments of every call, and whether
    autograd was recording (a training step) or not (evaluation)."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.calls: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append({**kwargs, "grad_enabled": torch.is_grad_enabled()})
        return self.function(*args, **kwargs)


@pytest.fixture
def spy_function(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Spy]:
    """spy_function("softmax_focal_loss") replaces torchfocal.<name> with a recording Spy."""

    def install(name: str) -> Spy:
        spy = Spy(getattr(torchfocal, name))
        monkeypatch.setattr(torchfocal, name, spy)
        return spy

    return install


def test_detection_head_learns_with_sigmoid_focal_loss(spy_function: Callable[[str], Spy]) -> None:
    example = load_example("detection_head")
    spy = spy_function("sigmoid_focal_loss")
    result = example.main(steps=30)
    assert len(spy.calls) == 30
    for call in spy.calls:
        assert call["class_dim"] == -1
        assert call["reduction"] == "positives"
        assert call["ignore_index"] == example.IGNORE
    assert result["last_loss"] < 0.5 * result["first_loss"]
    assert result["object_score"] > 4 * result["background_score"]


def test_detection_head_prior_ignored_anchors_and_normaliser() -> None:
    example = load_example("detection_head")
    generator = torch.Generator().manual_seed(1)
    prototypes = torch.randn(example.NUM_CLASSES, example.FEATURES, generator=generator)
    features, target = example.make_batch(4, prototypes, generator)
    positive = (target >= 0) & (target < example.BACKGROUND)
    ignored = target == example.IGNORE
    background = target == example.BACKGROUND
    assert int(positive.sum()) > 0 and int(ignored.sum()) > 0
    assert int(positive.sum() + ignored.sum() + background.sum()) == target.numel()

    head = example.build_head()
    with torch.no_grad():
        probability = torch.sigmoid(head(features)).mean().item()
    assert 0.005 < probability < 0.02  # prior_bias_(pi=0.01), not sigmoid(0) = 0.5

    logits = head(features).detach().requires_grad_(True)
    loss = example.detection_loss(logits, target)
    loss.backward()
    assert logits.grad is not None
    assert torch.count_nonzero(logits.grad[ignored]) == 0
    assert torch.count_nonzero(logits.grad[background]) == logits.grad[background].numel()
    summed = torchfocal.sigmoid_focal_loss(
        logits.detach(), target, class_dim=-1, ignore_index=example.IGNORE, reduction="sum"
    )
    torch.testing.assert_close(loss.detach(), summed / positive.sum())


def test_segmentation_learns_with_softmax_focal_loss(spy_function: Callable[[str], Spy]) -> None:
    example = load_example("segmentation")
    spy = spy_function("softmax_focal_loss")
    result = example.main(steps=30)
    assert len(spy.calls) == 30
    for call in spy.calls:
        assert call["ignore_index"] == 255
        assert call["alpha"].shape == (example.NUM_CLASSES,)
    assert result["last_loss"] < 0.2 * result["first_loss"]
    assert result["min_recall"] > 0.5  # the rare small squares are found too


def test_segmentation_ignores_the_boundary_and_weights_the_rare_class() -> None:
    example = load_example("segmentation")
    images, masks = example.make_batch(4, torch.Generator().manual_seed(1))
    assert images.shape == (4, 3, example.SIZE, example.SIZE)
    ignored = masks == 255
    assert 0 < int(ignored.sum()) < masks.numel()
    assert set(masks[~ignored].unique().tolist()) == set(range(example.NUM_CLASSES))

    alpha = example.class_alpha(masks)
    assert alpha[2] > alpha[1] > alpha[0]  # background is the most common class, 2 the rarest

    logits = torch.randn(4, example.NUM_CLASSES, example.SIZE, example.SIZE, requires_grad=True)
    example.segmentation_loss(logits, masks, alpha).backward()
    assert logits.grad is not None
    per_pixel = logits.grad.abs().sum(dim=1)
    assert torch.count_nonzero(per_pixel[ignored]) == 0
    assert torch.count_nonzero(per_pixel[~ignored]) == int((~ignored).sum())


def test_lightning_module_trains_with_sigmoid_focal_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("lightning")
    example = load_example("lightning_multilabel")
    criteria: list[torchfocal.SigmoidFocalLoss] = []
    forward = torchfocal.SigmoidFocalLoss.forward

    def spy(self: torchfocal.SigmoidFocalLoss, input: torch.Tensor, target: torch.Tensor) -> Any:
        criteria.append(self)
        return forward(self, input, target)

    monkeypatch.setattr(torchfocal.SigmoidFocalLoss, "forward", spy)
    result = example.main(steps=20)
    assert len(criteria) == result["steps"] == 20
    assert all(c.reduction == "positives" and not c.distributed for c in criteria)
    assert result["last_loss"] < 0.5 * result["first_loss"]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built")
def test_lightning_example_under_ddp_turns_distributed_on() -> None:
    """Two CPU processes (gloo): the module sets distributed=True and the run completes."""
    pytest.importorskip("lightning")
    path = [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    completed = subprocess.run(
        [sys.executable, "examples/lightning_multilabel.py", "--devices", "2", "--steps", "5"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "2 process(es), distributed=True: loss" in completed.stdout


def test_transformers_trainer_trains_with_softmax_focal_loss(
    spy_function: Callable[[str], Spy],
) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")  # the Trainer needs it
    example = load_example("transformers_trainer")
    spy = spy_function("softmax_focal_loss")
    result = example.main(steps=30)
    training_calls = [call for call in spy.calls if call["grad_enabled"]]
    assert len(training_calls) == 30  # one compute_loss per optimizer step
    assert len(spy.calls) > 30  # and the evaluations before and after
    for call in spy.calls:
        assert call["alpha"].shape == (example.NUM_CLASSES,)
    assert result["loss_after"] < 0.5 * result["loss_before"]


def test_transformers_compute_loss_agrees_with_and_without_num_items(tmp_path: Path) -> None:
    """Both branches of compute_loss give the batch mean when the batch is the whole step."""
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from transformers import TrainingArguments

    example = load_example("transformers_trainer")
    model = example.tiny_bert().eval()
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    alpha = torch.tensor([0.2, 1.0, 1.8])
    trainer = example.FocalLossTrainer(model=model, args=args, alpha=alpha)
    examples = example.make_dataset(8, seed=3)
    batch = {
        "input_ids": torch.stack([e["input_ids"] for e in examples]),
        "labels": torch.stack([e["labels"] for e in examples]),
    }
    with torch.no_grad():
        mean = trainer.compute_loss(model, dict(batch))
        by_count = trainer.compute_loss(model, dict(batch), num_items_in_batch=8)
        loss, outputs = trainer.compute_loss(model, dict(batch), return_outputs=True)
        expected = torchfocal.softmax_focal_loss(
            model(input_ids=batch["input_ids"]).logits, batch["labels"], alpha=alpha
        )
    torch.testing.assert_close(mean, expected)
    torch.testing.assert_close(by_count, expected)
    torch.testing.assert_close(loss, expected)
    assert outputs.logits.shape == (8, example.NUM_CLASSES)
