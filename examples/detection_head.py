"""A RetinaNet-style classification head trained with torchfocal, in a plain PyTorch loop.

A dense detector scores every anchor for every class: here (B, anchors, C) logits, most
anchors background, a few on an object, and some in between that the matcher leaves out.
Three pieces of Lin et al. (2017) do the work:

- sigmoid focal loss on class-index targets: 0..C-1 an object's class, C background (every
  class negative), IGNORE an anchor left out of the loss and of the count; the one-hot is
  never built;
- reduction="positives": the summed loss divided by the number of positive anchors, so a
  batch with few objects is not drowned by its thousands of background anchors;
- prior initialisation: the last layer's bias starts every anchor at probability 0.01, so
  the first steps are not spent unlearning a 0.5 guess on all the background.

Run: python examples/detection_head.py
"""

from __future__ import annotations

import torch
from torch import nn

import torchfocal

NUM_CLASSES = 4
FEATURES = 16
ANCHORS = 1000  # anchors per image
BACKGROUND = NUM_CLASSES  # the class index that marks background
IGNORE = -1  # the matcher's "neither object nor background" (e.g. IoU in [0.4, 0.5))


def make_batch(
    batch_size: int, prototypes: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor features and targets (B, ANCHORS): about 2% of anchors on an object, 1% ignored.

    An object's anchor carries its class's prototype plus noise; an ignored anchor carries
    half of one (it overlaps an object only partly); background is noise alone.
    """
    shape = (batch_size, ANCHORS)
    features = torch.randn(*shape, FEATURES, generator=generator)
    draw = torch.rand(shape, generator=generator)
    classes = torch.randint(0, NUM_CLASSES, shape, generator=generator)
    target = torch.full(shape, BACKGROUND)
    on_object = draw < 0.02
    partial = (draw >= 0.02) & (draw < 0.03)
    target[on_object] = classes[on_object]
    target[partial] = IGNORE
    features[on_object] += prototypes[classes[on_object]]
    features[partial] += 0.5 * prototypes[classes[partial]]
    return features, target


def build_head() -> nn.Sequential:
    head = nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, NUM_CLASSES))
    # Every anchor starts at sigmoid(bias) = 0.01 foreground probability (Lin et al. 4.1).
    torchfocal.prior_bias_(head[-1], pi=0.01)
    return head


def detection_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Focal loss of (B, ANCHORS, C) logits, the classes last, against (B, ANCHORS) indices."""
    return torchfocal.sigmoid_focal_loss(
        logits,
        target,
        alpha=0.25,
        gamma=2.0,
        class_dim=-1,
        ignore_index=IGNORE,
        reduction="positives",  # sum / number of positive anchors
    )


def main(steps: int = 60, seed: int = 0) -> dict[str, float]:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the head's initial weights
    prototypes = torch.randn(NUM_CLASSES, FEATURES, generator=generator)
    head = build_head()
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)

    losses: list[float] = []
    for step in range(steps):
        features, target = make_batch(8, prototypes, generator)
        loss = detection_loss(head(features), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 20 == 0 or step == steps - 1:
            positives = int(((target >= 0) & (target < BACKGROUND)).sum())
            print(f"step {step:4d}  loss {loss.item():.4f}  ({positives} positive anchors)")

    # A held-out batch: the trained head scores objects high and background low.
    with torch.no_grad():
        features, target = make_batch(8, prototypes, generator)
        scores = torch.sigmoid(head(features))
    on_object = (target >= 0) & (target < BACKGROUND)
    object_score = scores[on_object, target[on_object]].mean().item()
    background_score = scores[target == BACKGROUND].mean().item()
    print(
        f"held-out: objects score {object_score:.3f} for their class, "
        f"background anchors {background_score:.3f} on average"
    )
    return {
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "object_score": object_score,
        "background_score": background_score,
    }


if __name__ == "__main__":
    main()
