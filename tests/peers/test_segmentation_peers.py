"""The segmentation rows of docs/migration.md, checked against each peer that is installed:
MONAI and kornia (``pip install --no-deps monai kornia kornia_rs``), smp's losses
(``pip install --no-deps segmentation-models-pytorch``: its package imports timm and
torchvision, so the tests load its ``losses`` subpackage alone), Keras 3 on its torch
backend (``pip install --no-deps keras absl-py namex optree ml-dtypes h5py``) and optax
(``pip install jax jaxlib optax``). A peer that is not importable skips its tests.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
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


def _smp_losses() -> Any:
    """smp's ``losses`` subpackage without smp's own ``__init__`` (which imports timm and
    torchvision: the losses need neither)."""
    if "segmentation_models_pytorch" not in sys.modules:
        spec = importlib.util.find_spec("segmentation_models_pytorch")
        if spec is None or spec.submodule_search_locations is None:
            pytest.skip("segmentation_models_pytorch is not installed")
        package = types.ModuleType("segmentation_models_pytorch")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["segmentation_models_pytorch"] = package
    import segmentation_models_pytorch.losses as losses

    return losses


SMP = [
    # smp pools the batch (one ratio per class) and zeroes the loss of a class absent from
    # the batch's target: every class is present in _batch()'s target.
    (
        "DiceLoss",
        {"mode": "multiclass"},
        lambda x, t: tf.dice_loss(x, t, batch=True, smooth_nr=0.0, smooth_dr=0.0),
    ),
    (
        "DiceLoss",
        {"mode": "multiclass", "smooth": 1.0, "ignore_index": -1},
        # smp's smooth s enters its Tversky form (I + s) / ((P + T) / 2 + s): the Dice ratio
        # with 2 s above and below.
        lambda x, t: tf.dice_loss(x, t, batch=True, smooth_nr=2.0, smooth_dr=2.0, ignore_index=-1),
    ),
    (
        "TverskyLoss",
        {"mode": "multiclass", "alpha": 0.3, "beta": 0.7},
        lambda x, t: tf.tversky_loss(
            x, t, alpha=0.3, beta=0.7, batch=True, smooth_nr=0.0, smooth_dr=0.0
        ),
    ),
    (
        "LovaszLoss",
        {"mode": "multiclass"},
        lambda x, t: tf.lovasz_softmax_loss(x, t, per_image=False),
    ),
]


@pytest.mark.parametrize(
    ("name", "options", "ours"), SMP, ids=[f"{m[0]}-{i}" for i, m in enumerate(SMP)]
)
def test_smp(name: str, options: dict[str, Any], ours: Callable[..., torch.Tensor]) -> None:
    losses = _smp_losses()
    _, target = _batch()
    assert all(bool((target == c).any()) for c in range(3))  # see SMP's comment
    peer = getattr(losses, name)(**options)
    if options.get("ignore_index") == -1:
        target = target.clone()
        target[0, :2] = -1
    # smp's Lovasz builds float32 tensors of its own: it takes float32 logits only.
    dtype = torch.float32 if name == "LovaszLoss" else torch.float64
    _same(lambda x: ours(x, target), lambda x: peer(x.to(dtype), target))


def test_smp_zeroes_an_absent_class() -> None:
    """smp's difference, stated in docs/migration.md: a class absent from the batch's target
    adds 0 to smp's mean over classes; torchfocal keeps its loss (1 - P smoothing ratio)."""
    losses = _smp_losses()
    x, target = _batch()
    target = target.clamp(max=1)  # class 2 absent
    peer = losses.DiceLoss("multiclass")(x, target)
    ours = tf.dice_loss(x, target, batch=True, smooth_nr=0.0, smooth_dr=0.0, reduction="none")
    torch.testing.assert_close(peer, ours[:2].sum() / 3, **TOL)


def _keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on {keras.backend.backend()}, not torch")
    return keras


KERAS_TOL = {"rtol": 1e-6, "atol": 1e-7}  # Keras computes in float32


def _probabilities_and_mask() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    p = torch.rand(2, 3, 4, 5, dtype=torch.float64, generator=generator)
    return p, (torch.rand(p.shape, generator=generator) > 0.6).double()


def _same_keras(
    ours: Callable[[torch.Tensor], torch.Tensor], theirs: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    p, _ = _probabilities_and_mask()
    a, b = p.clone().requires_grad_(True), p.clone().requires_grad_(True)
    value, peer = ours(a), theirs(b)
    value.backward()
    peer.backward()
    torch.testing.assert_close(value, peer.to(value.dtype), **KERAS_TOL)
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad, b.grad.to(a.grad.dtype), **KERAS_TOL)


def test_keras_dice() -> None:
    """Keras pools every element (batch and classes) into one ratio, epsilon 1e-7 below."""
    keras = _keras()
    _, mask = _probabilities_and_mask()
    _same_keras(
        lambda p: tf.generalized_dice_loss(
            p,
            mask,
            activation="none",
            weight_type="uniform",
            batch=True,
            smooth_nr=0.0,
            smooth_dr=1e-7,
        ),
        lambda p: keras.losses.Dice()(mask, p),
    )


def test_keras_tversky_weighs_false_negatives_by_alpha() -> None:
    """Keras 3's ``Tversky(alpha, beta)`` multiplies the false negatives by alpha and the
    false positives by beta (the other way round from Salehi et al. and torchfocal): its
    alpha is torchfocal's beta. Pooled over every element: one class of everything."""
    keras = _keras()
    _, mask = _probabilities_and_mask()
    _same_keras(
        lambda p: tf.tversky_loss(
            p.reshape(1, 1, -1),
            mask.reshape(1, 1, -1),
            activation="none",
            alpha=0.7,
            beta=0.3,
            smooth_nr=0.0,
            smooth_dr=1e-7,
        ),
        lambda p: keras.losses.Tversky(alpha=0.3, beta=0.7)(mask, p),
    )


@pytest.mark.parametrize(
    ("options", "ours"),
    [
        ({}, {}),
        ({"alpha": 0.3, "beta": 0.7, "smooth": 0.5}, {"alpha": 0.3, "beta": 0.7, "smooth": 0.5}),
        ({"ignore_background": True}, {"include_background": False}),
    ],
    ids=["defaults", "tversky", "no-background"],
)
def test_optax_dice(options: dict[str, Any], ours: dict[str, Any]) -> None:
    """optax's dice_loss (channels last, one-hot targets) is torchfocal's Tversky form with
    smoothing 1 above and below, one ratio per sample and class, averaged over classes: its
    mean over the batch is torchfocal's "mean"."""
    jax = pytest.importorskip("jax")
    optax_losses = pytest.importorskip("optax.losses")
    jax.config.update("jax_enable_x64", True)
    x, target = _batch()
    x_last = x.movedim(1, -1)
    one_hot = torch.nn.functional.one_hot(target, 3).double()

    def theirs(logits: Any) -> Any:
        return optax_losses.dice_loss(logits, one_hot.numpy(), **options).mean()

    value = theirs(x_last.numpy())
    grad = jax.grad(theirs)(x_last.numpy())
    smooth = ours.pop("smooth", 1.0)
    options_ours = {"alpha": 0.5, "beta": 0.5, **ours}
    xx = x_last.clone().requires_grad_(True)
    expected = tf.tversky_loss(
        xx, target, class_dim=-1, smooth_nr=smooth, smooth_dr=smooth, **options_ours
    )
    expected.backward()
    assert xx.grad is not None
    np.testing.assert_allclose(float(value), float(expected.detach()), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(grad), xx.grad.numpy(), rtol=1e-8, atol=1e-12)
