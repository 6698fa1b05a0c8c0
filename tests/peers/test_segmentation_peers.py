"""The segmentation rows of docs/migration.md, checked against MONAI and kornia when they
are installed (``pip install --no-deps monai kornia kornia_rs`` works against torch 2.13).

smp (needs torchvision, which needs another torch), Keras and optax (TensorFlow / JAX) are
not installable here: their rows in docs/migration.md are derived from their source, not
tested.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import torchfocal as tf

TOL = {"rtol": 1e-6, "atol": 1e-8}  # MONAI computes its GDL weights in float32


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, generator=generator) * 2
    return x, torch.randint(0, 3, (2, 5, 6), generator=generator)


def _same(
    ours: Callable[[torch.Tensor], torch.Tensor], theirs: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    """Value and input gradient equal."""
    x, _ = _batch()
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    value, peer = ours(a), theirs(b)
    value.backward()
    peer.backward()
    torch.testing.assert_close(value, peer.to(value.dtype), **TOL)
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad, b.grad, **TOL)


MONAI = [
    ("DiceLoss", {}, lambda x, t: tf.dice_loss(x, t)),
    (
        "DiceLoss",
        {"include_background": False, "batch": True, "squared_pred": True},
        lambda x, t: tf.dice_loss(x, t, include_background=False, batch=True, squared=True),
    ),
    ("GeneralizedDiceLoss", {}, lambda x, t: tf.generalized_dice_loss(x, t)),
    (
        "GeneralizedDiceLoss",
        {"batch": True, "w_type": "simple"},
        lambda x, t: tf.generalized_dice_loss(x, t, batch=True, weight_type="simple"),
    ),
    (
        "TverskyLoss",
        {"alpha": 0.3, "beta": 0.7},
        lambda x, t: tf.tversky_loss(x, t, alpha=0.3, beta=0.7),
    ),
    ("DiceCELoss", {}, lambda x, t: tf.dice_ce_loss(x, t)),
    (
        # MONAI's focal term is the sigmoid focal loss of the one-hot target even with
        # softmax=True (the Dice term's activation): two torchfocal calls.
        "DiceFocalLoss",
        {"gamma": 2.0},
        lambda x, t: (
            tf.dice_loss(x, t)
            + tf.sigmoid_focal_loss(
                x, torch.nn.functional.one_hot(t, 3).movedim(-1, 1).double(), alpha=None
            )
        ),
    ),
]


@pytest.mark.parametrize(("name", "options", "ours"), MONAI, ids=[m[0] for m in MONAI])
def test_monai(name: str, options: dict[str, object], ours: Callable[..., torch.Tensor]) -> None:
    losses = pytest.importorskip("monai.losses")
    _, target = _batch()
    peer = getattr(losses, name)(to_onehot_y=True, softmax=True, **options)
    _same(lambda x: ours(x, target), lambda x: peer(x, target.unsqueeze(1)))


def test_monai_dice_focal_sigmoid() -> None:
    losses = pytest.importorskip("monai.losses")
    x, _ = _batch()
    mask = (torch.rand(x.shape, generator=torch.Generator().manual_seed(2)) > 0.6).double()
    peer = losses.DiceFocalLoss(sigmoid=True, gamma=2.0)
    _same(lambda z: tf.dice_focal_loss(z, mask, activation="sigmoid"), lambda z: peer(z, mask))


KORNIA = [
    # kornia's default "micro" Dice pools every class of a sample into one ratio: the
    # generalized Dice with uniform weights, no numerator smoothing and eps in the denominator.
    (
        "dice_loss",
        {},
        lambda x, t: tf.generalized_dice_loss(
            x, t, weight_type="uniform", smooth_nr=0.0, smooth_dr=1e-8
        ),
    ),
    (
        "dice_loss",
        {"average": "macro"},
        lambda x, t: tf.dice_loss(x, t, smooth_nr=0.0, smooth_dr=1e-8),
    ),
    (
        "tversky_loss",
        {"alpha": 0.3, "beta": 0.7},
        lambda x, t: tf.tversky_loss(x, t, alpha=0.3, beta=0.7, smooth_nr=0.0, smooth_dr=1e-8),
    ),
    # kornia sorts each image apart and averages over all classes, present or not.
    (
        "lovasz_softmax_loss",
        {},
        lambda x, t: tf.lovasz_softmax_loss(x, t, classes="all", per_image=True),
    ),
]


@pytest.mark.parametrize(("name", "options", "ours"), KORNIA, ids=[k[0] for k in KORNIA])
def test_kornia(name: str, options: dict[str, object], ours: Callable[..., torch.Tensor]) -> None:
    losses = pytest.importorskip("kornia.losses")
    _, target = _batch()
    peer = getattr(losses, name)
    _same(lambda x: ours(x, target), lambda x: peer(x, target, **options))
