"""Each row of docs/migration.md, checked against the real peer when it is installed.

Run with the peers installed (see docs/migration.md): KERAS_BACKEND=torch pytest tests/peers
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

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


def close_grad(
    ours: Callable[[torch.Tensor], torch.Tensor],
    theirs: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    **tol: float,
) -> None:
    """Gradients of both losses under the same random upstream gradient agree."""
    x_ours = x.detach().clone().requires_grad_(True)
    x_theirs = x.detach().clone().requires_grad_(True)
    out_ours, out_theirs = ours(x_ours), theirs(x_theirs)
    upstream = torch.rand(out_theirs.shape, dtype=torch.float64) + 0.5
    out_ours.backward(upstream.reshape(out_ours.shape).to(out_ours.dtype))
    out_theirs.backward(upstream.to(out_theirs.dtype))
    assert x_ours.grad is not None and x_theirs.grad is not None
    assert bool(torch.isfinite(x_ours.grad).all())
    close(x_ours.grad, x_theirs.grad, **tol)


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


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("jit", [False, True])
def test_fvcore(jit: bool, reduction: str) -> None:
    focal = pytest.importorskip("fvcore.nn.focal_loss")
    fn = focal.sigmoid_focal_loss_jit if jit else focal.sigmoid_focal_loss
    x, y = logits(6, C).float(), binary(6, C).float()
    for alpha in (-1.0, 0.25):

        def ours(z: torch.Tensor, alpha: float = alpha) -> torch.Tensor:
            return tf.sigmoid_focal_loss(
                z.float(), y, alpha=alpha if alpha >= 0 else None, gamma=2.0, reduction=reduction
            )

        def theirs(z: torch.Tensor, alpha: float = alpha) -> torch.Tensor:
            return fn(z, y, alpha, 2.0, reduction)

        close(ours(x), theirs(x), rtol=1e-5, atol=1e-7)
        close_grad(ours, theirs, x, rtol=1e-4, atol=1e-6)


def test_fvcore_star() -> None:
    focal = pytest.importorskip("fvcore.nn.focal_loss")
    x, y = logits(6, C).float(), binary(6, C).float()
    for alpha, gamma in ((-1.0, 1.0), (0.25, 2.0)):
        theirs = focal.sigmoid_focal_loss_star(x, y, alpha, gamma, "none")
        ours = tf.sigmoid_focal_loss_star(
            x, y, gamma=gamma, beta=0.0, alpha=alpha if alpha >= 0 else None, reduction="none"
        )
        close(ours, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_kornia_binary(reduction: str) -> None:
    losses = pytest.importorskip("kornia.losses")
    x, y = logits(3, C, 4, 4), binary(3, C, 4, 4)
    pos_weight = torch.rand(C, dtype=torch.float64) * 3
    weight = torch.rand(C, dtype=torch.float64)

    def theirs(z: torch.Tensor) -> torch.Tensor:
        return losses.binary_focal_loss_with_logits(
            z, y, alpha=0.25, gamma=2.0, reduction=reduction, pos_weight=pos_weight, weight=weight
        )

    def ours(z: torch.Tensor) -> torch.Tensor:
        return tf.sigmoid_focal_loss(
            z,
            y,
            alpha=0.25,
            gamma=2.0,
            pos_weight=pos_weight,
            weight=weight.view(1, -1, *[1] * (z.dim() - 2)),
            reduction=reduction,
        )

    close(ours(x), theirs(x))
    close_grad(ours, theirs, x)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("alpha", [None, 0.3])
def test_kornia_softmax(reduction: str, alpha: float | None) -> None:
    losses = pytest.importorskip("kornia.losses")
    x = logits(3, C, 4, 4)
    y = torch.randint(0, C, (3, 4, 4))
    y[0, 0, 0] = -100
    weight = torch.rand(C, dtype=torch.float64) + 0.5
    class_alpha = None if alpha is None else [1 - alpha] + [alpha] * (C - 1)

    def theirs(z: torch.Tensor) -> torch.Tensor:
        return losses.focal_loss(z, y, alpha, gamma=2.0, reduction=reduction, weight=weight)

    def ours(z: torch.Tensor) -> torch.Tensor:
        summed = tf.softmax_focal_loss(
            z,
            y,
            alpha=class_alpha,
            gamma=2.0,
            weight=weight,
            reduction="none" if reduction == "none" else "sum",
        )
        return summed / z.numel() if reduction == "mean" else summed

    if reduction == "none":
        # kornia's "none" is the (B, C, H, W) map; its sum over the classes is ours
        close(ours(x), theirs(x).sum(1))
        close_grad(ours, lambda z: theirs(z).sum(1), x)
    else:
        close(ours(x), theirs(x))
        close_grad(ours, theirs, x)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("include_background", [True, False])
def test_monai_sigmoid(reduction: str, include_background: bool) -> None:
    monai_losses = pytest.importorskip("monai.losses")
    x, y = logits(2, C, 6, 6).float(), binary(2, C, 6, 6).float()

    def theirs(z: torch.Tensor) -> torch.Tensor:
        return monai_losses.FocalLoss(
            include_background=include_background, gamma=2.0, alpha=0.25, reduction=reduction
        )(z, y)

    def ours(z: torch.Tensor) -> torch.Tensor:
        zs, ys = (z, y) if include_background else (z[:, 1:], y[:, 1:])
        loss = tf.sigmoid_focal_loss(zs, ys, alpha=0.25, gamma=2.0, reduction=reduction)
        # MONAI's "sum" averages over the spatial dims before summing
        return loss / 36 if reduction == "sum" else loss

    close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)
    close_grad(ours, theirs, x, rtol=1e-4, atol=1e-7)


def test_monai_sigmoid_class_weight_and_per_class_alpha() -> None:
    monai_losses = pytest.importorskip("monai.losses")
    x, y = logits(2, C, 6, 6).float(), binary(2, C, 6, 6).float()
    alpha = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9])
    class_weight = torch.tensor([1.0, 2.0, 0.5, 1.5, 3.0])
    theirs = monai_losses.FocalLoss(
        gamma=2.0, alpha=alpha.tolist(), weight=class_weight.tolist(), reduction="mean"
    )(x, y)
    # MONAI's per-class alpha weights positives by alpha_c and negatives by 1
    per_class = [1, C, 1, 1]
    element_weight = torch.where(y == 1, alpha.view(per_class), 1.0) * class_weight.view(per_class)
    ours = tf.sigmoid_focal_loss(x, y, alpha=None, gamma=2.0, weight=element_weight)
    close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("include_background", [True, False])
def test_monai_softmax(include_background: bool) -> None:
    monai_losses = pytest.importorskip("monai.losses")
    x = logits(2, C, 6, 6).float()
    y = torch.randint(0, C, (2, 1, 6, 6))
    alpha = 0.25 if include_background else [0.1, 0.2, 0.3, 0.4]

    def theirs(z: torch.Tensor) -> torch.Tensor:
        return monai_losses.FocalLoss(
            include_background=include_background,
            to_onehot_y=True,
            use_softmax=True,
            gamma=2.0,
            alpha=alpha,
            reduction="mean",
        )(z, y)

    def ours(z: torch.Tensor) -> torch.Tensor:
        if include_background:
            class_alpha = [0.75] + [0.25] * (C - 1)
            return (
                tf.softmax_focal_loss(z, y[:, 0], alpha=class_alpha, gamma=2.0, reduction="sum")
                / z.numel()
            )
        zs = z[:, 1:]
        t = torch.where(y[:, 0] == 0, -100, y[:, 0] - 1)
        return tf.softmax_focal_loss(zs, t, alpha=alpha, gamma=2.0, reduction="sum") / zs.numel()

    close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)
    close_grad(ours, theirs, x, rtol=1e-4, atol=1e-7)


def test_smp_binary() -> None:
    smp_losses = pytest.importorskip("segmentation_models_pytorch.losses")
    x = logits(2, 1, 8, 8).float()
    y = binary(2, 1, 8, 8).float()
    loss = smp_losses.FocalLoss("binary", alpha=0.25, gamma=2.0)
    close(tf.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0), loss(x, y), rtol=1e-5, atol=1e-6)
    close_grad(
        lambda z: tf.sigmoid_focal_loss(z, y, alpha=0.25, gamma=2.0),
        lambda z: loss(z, y),
        x,
        rtol=1e-4,
        atol=1e-7,
    )

    y_ignore = y.clone()
    y_ignore[0, 0, :2] = -1
    theirs = smp_losses.FocalLoss("binary", gamma=2.0, ignore_index=-1)(x, y_ignore)
    keep = (y_ignore != -1).float()
    ours = tf.sigmoid_focal_loss(
        x, y_ignore * keep, alpha=None, gamma=2.0, weight=keep, avg_factor=keep.sum()
    )
    close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_smp_multiclass_and_multilabel() -> None:
    smp_losses = pytest.importorskip("segmentation_models_pytorch.losses")
    xm = logits(2, C, 8, 8).float()
    index = torch.randint(0, C, (2, 8, 8))
    index[1, 3] = 255
    loss = smp_losses.FocalLoss("multiclass", alpha=0.25, gamma=2.0, ignore_index=255)

    def ours(z: torch.Tensor) -> torch.Tensor:
        return tf.sigmoid_focal_loss(z, index, alpha=0.25, gamma=2.0, ignore_index=255)

    close(ours(xm), loss(xm, index), rtol=1e-5, atol=1e-6)
    close_grad(ours, lambda z: loss(z, index), xm, rtol=1e-4, atol=1e-7)

    class_weights = [1.0, 2.0, 0.5, 3.0, 1.5]
    theirs = smp_losses.FocalLoss(
        "multiclass", gamma=2.0, ignore_index=255, class_weights=class_weights
    )(xm, index)
    w = torch.tensor(class_weights)
    counted = (index != 255).sum()
    summed = tf.sigmoid_focal_loss(
        xm,
        index,
        alpha=None,
        gamma=2.0,
        ignore_index=255,
        weight=w.view(1, -1, 1, 1),
        reduction="sum",
    )
    close(summed / (counted * w.sum()), theirs, rtol=1e-5, atol=1e-6)

    multi_hot = binary(2, C, 8, 8).float()
    theirs = smp_losses.FocalLoss("multilabel", gamma=2.0)(xm, multi_hot)
    close(tf.sigmoid_focal_loss(xm, multi_hot, alpha=None, gamma=2.0), theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("balancing", [False, True])
def test_keras_binary(balancing: bool) -> None:
    keras = pytest.importorskip("keras")
    # Keras clips probabilities at 1e-7 and forms 1 - p in float32: compare away from
    # saturation (the guide states the difference there).
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


@pytest.mark.parametrize("alpha", [0.25, [0.1, 0.2, 0.3, 0.15, 0.25]])
def test_keras_categorical(alpha: float | list[float]) -> None:
    keras = pytest.importorskip("keras")
    x = logits(6, C, saturate=False).float()
    y = torch.nn.functional.one_hot(torch.randint(0, C, (6,)), C).float()
    loss = keras.losses.CategoricalFocalCrossentropy(
        alpha=alpha, gamma=2.0, from_logits=True, label_smoothing=0.1
    )
    theirs = torch.as_tensor(np.asarray(keras.ops.convert_to_numpy(loss(y.numpy(), x.numpy()))))
    ours = tf.softmax_focal_loss(x, y, alpha=alpha, gamma=2.0, label_smoothing=0.1, class_dim=-1)
    close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_optax(alpha: float | None) -> None:
    optax = pytest.importorskip("optax")
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    x = logits(6, C).float()
    y = torch.rand(6, C)  # optax takes soft labels with the same log-space formula
    upstream = torch.rand(6, C) + 0.5

    def theirs(z: Any) -> Any:
        return optax.sigmoid_focal_loss(z, jnp.asarray(y.numpy()), alpha=alpha, gamma=2.0)

    their_loss = np.array(theirs(jnp.asarray(x.numpy())))
    their_grad = np.array(
        jax.grad(lambda z: (theirs(z) * jnp.asarray(upstream.numpy())).sum())(
            jnp.asarray(x.numpy())
        )
    )
    xo = x.clone().requires_grad_(True)
    ours = tf.sigmoid_focal_loss(xo, y, alpha=alpha, gamma=2.0, reduction="none")
    ours.backward(upstream)
    assert xo.grad is not None
    close(ours.detach(), torch.from_numpy(their_loss), rtol=1e-5, atol=1e-6)
    close(xo.grad, torch.from_numpy(their_grad), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("avg_factor", [None, 3.0])
def test_mmdet(avg_factor: float | None) -> None:
    mmdet_losses = pytest.importorskip("mmdet.models.losses")
    x = logits(6, C).float()
    labels = torch.randint(0, C + 1, (6,))  # C is background
    weight = torch.rand(6)
    theirs = mmdet_losses.FocalLoss(use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0)(
        x, labels, weight, avg_factor=avg_factor
    )
    ours = 2.0 * tf.sigmoid_focal_loss(
        x, labels, alpha=0.25, gamma=2.0, weight=weight[:, None], avg_factor=avg_factor
    )
    close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_mmcv_ops() -> None:
    mmcv_ops = pytest.importorskip("mmcv.ops")
    if not torch.cuda.is_available():
        pytest.skip("mmcv's focal loss ops have CUDA kernels only")
    # mmcv clamps log(p) at log(FLT_MIN) and forms 1 - p in float32: moderate logits
    x = logits(6, C, saturate=False).float().cuda()
    labels = torch.randint(0, C, (6,), device="cuda")
    weight = torch.rand(C, device="cuda") + 0.5
    theirs = mmcv_ops.sigmoid_focal_loss(x, labels, 2.0, 0.25, weight, "mean")
    ours = (
        tf.sigmoid_focal_loss(
            x, labels, alpha=0.25, gamma=2.0, weight=weight[labels][:, None], reduction="sum"
        )
        / x.shape[0]
    )
    close(ours, theirs, rtol=1e-5, atol=1e-6)
    theirs = mmcv_ops.softmax_focal_loss(x, labels, 2.0, 0.25, weight, "mean")
    ours = (
        tf.softmax_focal_loss(x, labels, alpha=0.25, gamma=2.0, weight=weight, reduction="sum")
        / x.shape[0]
    )
    close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_tf_addons() -> None:
    tfa = pytest.importorskip("tensorflow_addons")
    x = logits(6, C, saturate=False).float()
    y = binary(6, C).float()
    theirs = tfa.losses.SigmoidFocalCrossEntropy(from_logits=True)(y.numpy(), x.numpy())
    ours = tf.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="none").sum(-1)
    close(ours, torch.as_tensor(np.asarray(theirs)), rtol=1e-5, atol=1e-6)


def test_drop_in_differences_numbers() -> None:
    """The numbers of docs/migration.md's "Drop-in differences", recomputed on its input."""
    monai_losses = pytest.importorskip("monai.losses")
    kornia_losses = pytest.importorskip("kornia.losses")
    torch.manual_seed(0)
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    multi_hot = (torch.rand(4, 3, 8, 8) < 0.3).double()
    index = torch.randint(0, 3, (4, 8, 8))

    def shown(value: torch.Tensor) -> float:
        return round(float(value), 4)

    assert shown(monai_losses.FocalLoss()(x, multi_hot)) == 0.3492
    assert shown(tf.sigmoid_focal_loss(x, multi_hot)) == 0.2107
    assert shown(tf.sigmoid_focal_loss(x, multi_hot, alpha=None)) == 0.3492
    assert shown(kornia_losses.binary_focal_loss_with_logits(x, multi_hot).mean()) == 0.2107
    kornia_map = kornia_losses.focal_loss(x, index, alpha=0.25)
    assert shown(kornia_map.sum(1).mean()) == 0.4350
    assert shown(tf.softmax_focal_loss(x, index, alpha=0.25)) == 0.2435
    assert shown(tf.softmax_focal_loss(x, index)) == 0.9739
