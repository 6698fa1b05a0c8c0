"""Semantic segmentation with torchfocal's softmax focal loss, in a plain PyTorch loop.

(N, C, H, W) logits against (N, H, W) masks of class indices, as F.cross_entropy takes them.
The masks mark the band along every object's boundary 255, as Pascal VOC's annotations
do, and ignore_index=255 leaves those pixels out of the loss and of the mean. Background covers most
pixels and the small class few: gamma=2 lowers the weight of the many easy background
pixels, and a per-class alpha, computed from the pixel counts with Cui et al.'s
class-balanced weights, raises the rare class.

Run: python examples/segmentation.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import torchfocal

NUM_CLASSES = 3  # 0 background, 1 large squares, 2 small squares
IGNORE = 255
SIZE = 32


def make_batch(batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy RGB images and their masks: a large square of class 1, a small one of class 2.

    Each class has its own colour. Pixels whose 3x3 neighbourhood holds more than one class
    (the boundary band that annotators leave uncertain) are marked IGNORE in the mask.
    """
    colours = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    classes = torch.zeros(batch_size, SIZE, SIZE, dtype=torch.long)
    for image_classes in classes:
        for cls, side in ((1, 12), (2, 5)):
            top, left = torch.randint(0, SIZE - side, (2,), generator=generator).tolist()
            image_classes[top : top + side, left : left + side] = cls
    images = colours[classes].permute(0, 3, 1, 2)
    images = images + 0.8 * torch.randn(images.shape, generator=generator)
    as_float = classes.unsqueeze(1).float()
    highest = F.max_pool2d(as_float, 3, stride=1, padding=1)
    lowest = -F.max_pool2d(-as_float, 3, stride=1, padding=1)
    masks = classes.masked_fill((highest != lowest).squeeze(1), IGNORE)
    return images, masks


class TinySegNet(nn.Module):
    """Two 3x3 convolutions and a 1x1 classifier: C logits per pixel."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
        )
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(images))


def class_alpha(masks: torch.Tensor) -> torch.Tensor:
    """Per-class alpha from the labelled pixels' counts (the IGNORE pixels are not counted)."""
    counts = torch.bincount(masks[masks != IGNORE], minlength=NUM_CLASSES)
    return torchfocal.class_balanced_weights(counts, beta=0.9999)


def segmentation_loss(
    logits: torch.Tensor, masks: torch.Tensor, alpha: torch.Tensor
) -> torch.Tensor:
    """Softmax focal loss over the class dimension 1, averaged over the labelled pixels."""
    return torchfocal.softmax_focal_loss(logits, masks, alpha=alpha, gamma=2.0, ignore_index=IGNORE)


def main(steps: int = 60, seed: int = 0) -> dict[str, float]:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the network's initial weights
    model = TinySegNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    # Estimate the class frequencies once, from a sample of the training masks.
    alpha = class_alpha(make_batch(64, generator)[1])
    print("per-class alpha:", [round(a, 3) for a in alpha.tolist()])

    losses: list[float] = []
    for step in range(steps):
        images, masks = make_batch(8, generator)
        loss = segmentation_loss(model(images), masks, alpha)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 20 == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {loss.item():.4f}")

    # A held-out batch: the share of each class's labelled pixels predicted right.
    with torch.no_grad():
        images, masks = make_batch(16, generator)
        predicted = model(images).argmax(dim=1)
    recall = [(predicted[masks == cls] == cls).float().mean().item() for cls in range(NUM_CLASSES)]
    print("held-out recall per class:", [f"{r:.1%}" for r in recall])
    return {"first_loss": losses[0], "last_loss": losses[-1], "min_recall": min(recall)}


if __name__ == "__main__":
    main()
