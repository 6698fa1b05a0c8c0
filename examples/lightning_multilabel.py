"""Multi-label classification in PyTorch Lightning with torchfocal.SigmoidFocalLoss.

Each example carries a few of NUM_LABELS labels (about 5% of the label slots are positive),
the setting where plain binary cross-entropy is dominated by the easy negatives. The loss
uses reduction="positives": the summed focal loss divided by the number of positive
labels in the batch (Lin et al.'s normaliser), rather than by every label slot.

Under data parallelism (Trainer(strategy="ddp", devices=N)) each process sees its own
shard of the batch, with its own number of positives, and DDP averages the gradients.
Divided by its own count, each positive in a shard with few positives would weigh more
than one in a shard with many. With distributed=True the loss first averages the positive
count over the process group (an all-reduce of one number), so every rank divides by the
same number, and the averaged gradient is that of the whole batch's summed loss over its
total number of positives. It needs an initialised process group: the script turns it on
only when the Trainer runs more than one process.

Run: python examples/lightning_multilabel.py            (one CPU process)
     python examples/lightning_multilabel.py --devices 2  (two processes, DDP over gloo)
"""

from __future__ import annotations

import argparse
import tempfile

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import torchfocal

NUM_FEATURES = 32
NUM_LABELS = 20


def make_dataset(size: int, seed: int) -> TensorDataset:
    """Features and 0/1 label vectors: label j is on where a fixed random projection of the
    features is among its highest 5% (so a linear model can learn it, with some noise)."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(size, NUM_FEATURES, generator=generator)
    projection = torch.randn(NUM_FEATURES, NUM_LABELS, generator=generator)
    scores = features @ projection + 0.5 * torch.randn(size, NUM_LABELS, generator=generator)
    labels = scores > scores.quantile(0.95, dim=0)
    return TensorDataset(features, labels.float())


class MultiLabelClassifier(L.LightningModule):
    def __init__(self, distributed: bool = False, lr: float = 1e-2) -> None:
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(nn.Linear(NUM_FEATURES, 64), nn.ReLU(), nn.Linear(64, NUM_LABELS))
        # A module, so that per-class alpha or pos_weight tensors would follow the model to
        # its device and into checkpoints as buffers.
        self.criterion = torchfocal.SigmoidFocalLoss(
            alpha=0.25, gamma=2.0, reduction="positives", distributed=distributed
        )
        self.train_losses: list[torch.Tensor] = []

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        features, labels = batch
        loss = self.criterion(self(features), labels)
        self.train_losses.append(loss.detach())
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def main(steps: int = 60, devices: int = 1, seed: int = 0) -> dict[str, float]:
    L.seed_everything(seed, verbose=False)
    loader = DataLoader(make_dataset(4096, seed), batch_size=128, shuffle=True)
    # Every file Lightning would write goes to a temporary directory, removed afterwards;
    # no logger and no checkpoints.
    with tempfile.TemporaryDirectory() as root:
        trainer = L.Trainer(
            accelerator="cpu",  # sized for the CPU; "auto" takes a GPU where there is one
            devices=devices,
            max_steps=steps,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=root,
        )
        # distributed=True only where there is a process group to average over.
        model = MultiLabelClassifier(distributed=trainer.world_size > 1)
        trainer.fit(model, loader)
    losses = [loss.item() for loss in model.train_losses]
    if trainer.is_global_zero:
        print(
            f"{trainer.world_size} process(es), distributed={model.criterion.distributed}: "
            f"loss {losses[0]:.4f} -> {losses[-1]:.4f} in {len(losses)} steps"
        )
    return {"first_loss": losses[0], "last_loss": losses[-1], "steps": len(losses)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--devices", type=int, default=1)
    arguments = parser.parse_args()
    main(arguments.steps, arguments.devices)
