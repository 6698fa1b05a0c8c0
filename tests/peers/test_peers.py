"""Each row of docs/migration.md, checked against the real peer when it is installed.

Run with the peers installed (see docs/migration.md): KERAS_BACKEND=torch pytest tests/peers
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import torchfocal as tf

os.environ.setdefault("KERAS_BACKEND", "torch")

C = 5


def logits(*shape: int, saturate: bool = True) -> torch.Tensor:
    x = torch.randn(*shape, dtype=torch.float64) * 3
    if saturate:
        x.view(-1)[:4] = torch.tensor([40.0, -40.0, 12.0, -12.0], dtype=torch.float64)
    return x


def binary(*shape: int) -> torch.Tensor:
    return (torch.rand(*shape) < 0.3).double()


def close(ours: torch.Tensor, theirs: torch.Tensor, **tol: float) -> None:
    torch.testing.assert_close(ours.double(), torch.as_tensor(theirs).double(), **tol)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
def test_torchvision(reduction: str, alpha: float) -> None:
    ops = pytest.importorskip("torchvision.ops")
    x, y = logits(8, C), binary(8, C)
    theirs = ops.sigmoid_focal_loss(x, y, alpha=alpha, gamma=2, reduction=reduction)
    ours = tf.sigmoid_focal_loss(
        x, y, alpha=alpha if alpha >= 0 else None, gamma=2, reduction=reduction
    )
    close(ours, theirs)
    # gradients agree where torchvision's are finite (gamma = 2 keeps them finite)
    xg = x.clone().requires_grad_(True)
    ops.sigmoid_focal_loss(xg, y, alpha=0.25, reduction="sum").backward()
    xo = x.clone().requires_grad_(True)
    tf.sigmoid_focal_loss(xo, y, alpha=0.25, reduction="sum").backward()
    close(xo.grad, xg.grad)


@pytest.mark.parametrize("jit", [False, True])
def test_fvcore(jit: bool) -> None:
    focal = pytest.importorskip("fvcore.nn.focal_loss")
    fn = focal.sigmoid_focal_loss_jit if jit else focal.sigmoid_focal_loss
    x, y = logits(6, C).float(), binary(6, C).float()
    for alpha in (-1.0, 0.25):
        theirs = fn(x, y, alpha, 2.0, "mean")
        ours = tf.sigmoid_focal_loss(
            x.float(), y, alpha=alpha if alpha >= 0 else None, gamma=2.0, reduction="mean"
        )
        close(ours, theirs, rtol=1e-5, atol=1e-7)


def test_fvcore_star() -> None:
    focal = pytest.importorskip("fvcore.nn.focal_loss")
    x, y = logits(6, C).float(), binary(6, C).float()
    for alpha, gamma in ((-1.0, 1.0), (0.25, 2.0)):
        theirs = focal.sigmoid_focal_loss_star(x, y, alpha, gamma, "none")
        ours = -torch.nn.functional.logsigmoid(gamma * x * (2 * y - 1)) / gamma
        if alpha >= 0:
            ours = ours * (alpha * y + (1 - alpha) * (1 - y))
        close(ours, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_kornia_binary(reduction: str) -> None:
    losses = pytest.importorskip("kornia.losses")
    x, y = logits(3, C, 4, 4), binary(3, C, 4, 4)
    pos_weight = torch.rand(C, dtype=torch.float64) * 3
    weight = torch.rand(C, dtype=torch.float64)
    theirs = losses.binary_focal_loss_with_logits(
        x, y, alpha=0.25, gamma=2.0, reduction=reduction, pos_weight=pos_weight, weight=weight
    )
    ours = tf.sigmoid_focal_loss(
        x,
        y,
        alpha=0.25,
        gamma=2.0,
        pos_weight=pos_weight,
        weight=weight.view(1, -1, 1, 1),
        reduction=reduction,
    )
    close(ours, theirs)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("alpha", [None, 0.3])
def test_kornia_softmax(reduction: str, alpha: float | None) -> None:
    losses = pytest.importorskip("kornia.losses")
    x = logits(3, C, 4, 4)
    y = torch.randint(0, C, (3, 4, 4))
    y[0, 0, 0] = -100
    weight = torch.rand(C, dtype=torch.float64) + 0.5
    theirs = losses.focal_loss(x, y, alpha, gamma=2.0, reduction=reduction, weight=weight)
    class_alpha = None if alpha is None else [1 - alpha] + [alpha] * (C - 1)
    summed = tf.softmax_focal_loss(
        x,
        y,
        alpha=class_alpha,
        gamma=2.0,
        weight=weight,
        reduction="none" if reduction == "none" else "sum",
    )
    if reduction == "none":
        close(summed, theirs.sum(1))
    elif reduction == "sum":
        close(summed, theirs)
    else:
        close(summed / x.numel(), theirs)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("include_background", [True, False])
def test_monai_sigmoid(reduction: str, include_background: bool) -> None:
    monai_losses = pytest.importorskip("monai.losses")
    x, y = logits(2, C, 6, 6).float(), binary(2, C, 6, 6).float()
    theirs = monai_losses.FocalLoss(
        include_background=include_background, gamma=2.0, alpha=0.25, reduction=reduction
    )(x, y)
    xs, ys = (x, y) if include_background else (x[:, 1:], y[:, 1:])
    ours = tf.sigmoid_focal_loss(xs, ys, alpha=0.25, gamma=2.0, reduction=reduction)
    if reduction == "sum":
        ours = ours / 36  # MONAI averages over the spatial dims before summing
    close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("include_background", [True, False])
def test_monai_softmax(include_background: bool) -> None:
    monai_losses = pytest.importorskip("monai.losses")
    x = logits(2, C, 6, 6).float()
    y = torch.randint(0, C, (2, 1, 6, 6))
    alpha = 0.25 if include_background else [0.1, 0.2, 0.3, 0.4]
    theirs = monai_losses.FocalLoss(
        include_background=include_background,
        to_onehot_y=True,
        use_softmax=True,
        gamma=2.0,
        alpha=alpha,
        reduction="mean",
    )(x, y)
    if include_background:
        ours = (
            tf.softmax_focal_loss(
                x, y[:, 0], alpha=[0.75] + [0.25] * (C - 1), gamma=2.0, reduction="sum"
            )
            / x.numel()
        )
    else:
        z = x[:, 1:]
        t = torch.where(y[:, 0] == 0, -100, y[:, 0] - 1)
        ours = tf.softmax_focal_loss(z, t, alpha=alpha, gamma=2.0, reduction="sum") / z.numel()
    close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_smp_binary_multiclass_multilabel() -> None:
    smp_losses = pytest.importorskip("segmentation_models_pytorch.losses")
    x = logits(2, 1, 8, 8).float()
    y = binary(2, 1, 8, 8).float()
    theirs = smp_losses.FocalLoss("binary", alpha=0.25, gamma=2.0)(x, y)
    close(tf.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0), theirs, rtol=1e-5, atol=1e-6)

    y_ignore = y.clone()
    y_ignore[0, 0, :2] = -1
    theirs = smp_losses.FocalLoss("binary", gamma=2.0, ignore_index=-1)(x, y_ignore)
    keep = (y_ignore != -1).float()
    ours = tf.sigmoid_focal_loss(
        x, y_ignore * keep, alpha=None, gamma=2.0, weight=keep, avg_factor=keep.sum()
    )
    close(ours, theirs, rtol=1e-5, atol=1e-6)

    xm = logits(2, C, 8, 8).float()
    index = torch.randint(0, C, (2, 8, 8))
    index[1, 3] = 255
    theirs = smp_losses.FocalLoss("multiclass", alpha=0.25, gamma=2.0, ignore_index=255)(xm, index)
    ours = tf.sigmoid_focal_loss(xm, index, alpha=0.25, gamma=2.0, ignore_index=255)
    close(ours, theirs, rtol=1e-5, atol=1e-6)

    multi_hot = binary(2, C, 8, 8).float()
    theirs = smp_losses.FocalLoss("multilabel", gamma=2.0)(xm, multi_hot)
    close(tf.sigmoid_focal_loss(xm, multi_hot, alpha=None, gamma=2.0), theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("balancing", [False, True])
def test_keras_binary(balancing: bool) -> None:
    keras = pytest.importorskip("keras")
    # Keras clips probabilities at 1e-7: compare away from saturation.
    x = logits(6, C, saturate=False).float()
    y = binary(6, C).float()
    loss = keras.losses.BinaryFocalCrossentropy(
        apply_class_balancing=balancing,
        alpha=0.3,
        gamma=2.0,
        from_logits=True,
        label_smoothing=0.1,
    )
    theirs = torch.as_tensor(np.asarray(keras.ops.convert_to_numpy(loss(y.numpy(), x.numpy()))))
    ours = tf.sigmoid_focal_loss(
        x, y, alpha=0.3 if balancing else None, gamma=2.0, label_smoothing=0.1
    )
    close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_keras_categorical() -> None:
    keras = pytest.importorskip("keras")
    x = logits(6, C, saturate=False).float()
    y = torch.nn.functional.one_hot(torch.randint(0, C, (6,)), C).float()
    loss = keras.losses.CategoricalFocalCrossentropy(
        alpha=0.25, gamma=2.0, from_logits=True, label_smoothing=0.1
    )
    theirs = torch.as_tensor(np.asarray(keras.ops.convert_to_numpy(loss(y.numpy(), x.numpy()))))
    ours = tf.softmax_focal_loss(x, y, alpha=0.25, gamma=2.0, label_smoothing=0.1, class_dim=-1)
    close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_optax(alpha: float | None) -> None:
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    x = logits(6, C).float()
    y = torch.rand(6, C)  # optax takes soft labels with the same log-space formula
    theirs = np.asarray(
        optax.sigmoid_focal_loss(
            jnp.asarray(x.numpy()), jnp.asarray(y.numpy()), alpha=alpha, gamma=2.0
        )
    )
    ours = tf.sigmoid_focal_loss(x, y, alpha=alpha, gamma=2.0, reduction="none")
    close(ours, torch.from_numpy(theirs), rtol=1e-5, atol=1e-6)


def test_mmdet() -> None:
    mmdet_losses = pytest.importorskip("mmdet.models.losses")
    x = logits(6, C).float()
    labels = torch.randint(0, C + 1, (6,))
    weight = torch.rand(6)
    theirs = mmdet_losses.FocalLoss(use_sigmoid=True, gamma=2.0, alpha=0.25)(
        x, labels, weight, avg_factor=3.0
    )
    ours = tf.sigmoid_focal_loss(
        x, labels, alpha=0.25, gamma=2.0, weight=weight[:, None], avg_factor=3.0
    )
    close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_tf_addons() -> None:
    tfa = pytest.importorskip("tensorflow_addons")
    x = logits(6, C, saturate=False).float()
    y = binary(6, C).float()
    theirs = tfa.losses.SigmoidFocalCrossEntropy(from_logits=True)(y.numpy(), x.numpy())
    ours = tf.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="none").sum(-1)
    close(ours, torch.as_tensor(np.asarray(theirs)), rtol=1e-5, atol=1e-6)
