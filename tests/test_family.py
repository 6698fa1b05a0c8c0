"""The focal family: FL*, asymmetric, Poly-1, varifocal, quality / distribution focal loss,
and the sample-dependent gamma of the sigmoid and softmax focal losses.

Every backend is held against the NumPy reference (loss and gradient), against the known
loss each one reduces to, at extreme logits in every dtype, and through gradcheck.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference, covering, run_loss, tolerance
from registry_cases import case_id, for_classes, make_target, takes_a_schedule
from torchfocal import reference
from torchfocal.registry import LOSSES, LossInfo, Sample

BACKENDS = ["naive", "fused"]
SIGMOID_FORMS = ["soft", "mask", "index"]
C = 4


def _logits(shape: tuple[int, ...] = (6, C), scale: float = 3.0) -> torch.Tensor:
    return torch.randn(shape, dtype=torch.float64) * scale


def _sigmoid_target(form: str, shape: tuple[int, ...] = (6, C)) -> torch.Tensor:
    if form == "soft":
        return torch.rand(shape, dtype=torch.float64)
    if form == "mask":
        return torch.rand(shape) < 0.3
    # class indices with background (C) and ignored (-100) locations
    index = torch.randint(0, C + 1, shape[:1] + shape[2:])
    index[0] = -100
    return index


def _upstream(reduction: str, like: torch.Tensor) -> torch.Tensor | None:
    return torch.randn_like(like) if reduction == "none" else None


def _score(shape: tuple[int, ...] = (6, C)) -> torch.Tensor:
    """IoU-aware scores: mostly 0 (negatives), some in (0, 1], one exactly 1."""
    score = torch.rand(shape, dtype=torch.float64) * (torch.rand(shape) < 0.4)
    score.view(-1)[0] = 1.0
    return score


# -- against the reference -------------------------------------------------------------------


# Every (backend, options, target form) triple; the reduction in pairs with each.
@pytest.mark.parametrize(
    *covering(
        {
            "backend": BACKENDS,
            "gamma,beta,alpha": [
                (2.0, 1.0, None),
                (1.0, 0.0, 0.25),
                (0.5, -0.5, [0.1, 0.5, 0.9, 0.3]),
                (4.0, 2.0, 0.75),
            ],
        },
        {"form": SIGMOID_FORMS, "reduction": ["none", "mean", "sum", "positives"]},
    )
)
def test_star_matches_reference(
    backend: str, form: str, gamma: float, beta: float, alpha: Any, reduction: str
) -> None:
    x, target = _logits(), _sigmoid_target(form)
    check_against_reference(
        "sigmoid_focal_loss_star",
        backend,
        x,
        target,
        _upstream(reduction, x),
        gamma=gamma,
        beta=beta,
        alpha=alpha,
        weight=torch.rand(6, 1, dtype=torch.float64),
        reduction=reduction,
    )


@pytest.mark.parametrize(
    *covering(
        {
            "backend": BACKENDS,
            "gamma_pos,gamma_neg,clip": [
                (0.0, 4.0, 0.05),
                (1.0, 0.5, 0.3),
                (0.0, 0.0, 0.0),
                (0.5, 2.0, 0.0),
                (2.0, 0.0, 0.2),
            ],
        },
        {"form": SIGMOID_FORMS, "reduction": ["none", "mean", "sum", "positives"]},
    )
)
def test_asymmetric_matches_reference(
    backend: str, form: str, gamma_pos: float, gamma_neg: float, clip: float, reduction: str
) -> None:
    x, target = _logits(), _sigmoid_target(form)
    check_against_reference(
        "asymmetric_loss",
        backend,
        x,
        target,
        _upstream(reduction, x),
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        weight=torch.rand(C, dtype=torch.float64),
        reduction=reduction,
    )


@pytest.mark.parametrize(
    *covering(
        {
            "backend": BACKENDS,
            "epsilon,gamma,alpha,label_smoothing": [
                (1.0, 2.0, None, 0.0),
                (-1.0, 0.0, 0.25, 0.1),
                (2.5, 0.5, [0.2, 0.4, 0.6, 0.8], 0.0),
            ],
        },
        {"form": SIGMOID_FORMS, "reduction": ["none", "mean", "positives"]},
    )
)
def test_poly1_sigmoid_matches_reference(
    backend: str,
    form: str,
    epsilon: float,
    gamma: float,
    alpha: Any,
    label_smoothing: float,
    reduction: str,
) -> None:
    x, target = _logits(), _sigmoid_target(form)
    check_against_reference(
        "poly1_focal_loss",
        backend,
        x,
        target,
        _upstream(reduction, x),
        epsilon=epsilon,
        gamma=gamma,
        alpha=alpha,
        activation="sigmoid",
        weight=torch.rand(6, C, dtype=torch.float64),
        label_smoothing=label_smoothing,
        reduction=reduction,
    )


def _softmax_target(form: str, shape: tuple[int, ...], class_dim: int) -> torch.Tensor:
    num_classes = shape[class_dim]
    if form == "probabilities":
        return torch.softmax(torch.randn(shape, dtype=torch.float64), dim=class_dim)
    index_shape = shape[:class_dim] + shape[class_dim + 1 :]
    index = torch.randint(0, num_classes, index_shape)
    if form == "index+ignore":
        index.view(-1)[0] = -100
    return index


@pytest.mark.parametrize(
    *covering(
        {
            "backend": BACKENDS,
            "epsilon,gamma,alpha,label_smoothing": [
                (1.0, 2.0, None, 0.0),
                (-1.0, 0.0, 0.5, 0.2),
                (3.0, 0.5, [0.5, 1.0, 2.0, 1.5], 0.0),
            ],
        },
        {
            "form": ["index", "index+ignore", "probabilities"],
            "reduction": ["none", "mean", "sum"],
            "shape,class_dim": [((6, C), 1), ((2, 3, C), -1)],
        },
    )
)
def test_poly1_softmax_matches_reference(
    backend: str,
    form: str,
    epsilon: float,
    gamma: float,
    alpha: Any,
    label_smoothing: float,
    reduction: str,
    shape: tuple[int, ...],
    class_dim: int,
) -> None:
    x = _logits(shape)
    target = _softmax_target(form, shape, class_dim % len(shape))
    location_shape = list(shape)
    del location_shape[class_dim]
    upstream = torch.randn(location_shape, dtype=torch.float64) if reduction == "none" else None
    check_against_reference(
        "poly1_focal_loss",
        backend,
        x,
        target,
        upstream,
        epsilon=epsilon,
        gamma=gamma,
        alpha=alpha,
        activation="softmax",
        label_smoothing=label_smoothing,
        class_dim=class_dim,
        reduction=reduction,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_poly1_cross_entropy_matches_reference(backend: str, activation: str) -> None:
    x = _logits()
    target = _sigmoid_target("mask") if activation == "sigmoid" else torch.randint(0, C, (6,))
    check_against_reference(
        "poly1_cross_entropy", backend, x, target, epsilon=2.0, activation=activation
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("iou_weighted", [True, False])
@pytest.mark.parametrize(("alpha", "gamma"), [(0.75, 2.0), (0.25, 0.5), (1.0, 0.0)])
@pytest.mark.parametrize(
    ("reduction", "avg_factor"), [("none", None), ("mean", None), ("mean", 3.0), ("sum", None)]
)
def test_varifocal_matches_reference(
    backend: str,
    iou_weighted: bool,
    alpha: float,
    gamma: float,
    reduction: str,
    avg_factor: float | None,
) -> None:
    x = _logits()
    check_against_reference(
        "varifocal_loss",
        backend,
        x,
        _score(),
        _upstream(reduction, x),
        alpha=alpha,
        gamma=gamma,
        iou_weighted=iou_weighted,
        weight=torch.rand(6, 1, dtype=torch.float64),
        reduction=reduction,
        avg_factor=avg_factor,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0, 3.5])
@pytest.mark.parametrize(
    ("reduction", "avg_factor"), [("none", None), ("mean", None), ("mean", 2.5), ("sum", None)]
)
def test_quality_matches_reference(
    backend: str, beta: float, reduction: str, avg_factor: float | None
) -> None:
    x = _logits()
    check_against_reference(
        "quality_focal_loss",
        backend,
        x,
        _score(),
        _upstream(reduction, x),
        beta=beta,
        weight=torch.rand(6, C, dtype=torch.float64),
        reduction=reduction,
        avg_factor=avg_factor,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bins", [2, 5, 17])
@pytest.mark.parametrize(
    ("reduction", "avg_factor"), [("none", None), ("mean", None), ("mean", 4.0), ("sum", None)]
)
def test_distribution_matches_reference(
    backend: str, bins: int, reduction: str, avg_factor: float | None
) -> None:
    x = _logits((8, bins))
    label = torch.rand(8, dtype=torch.float64) * (bins - 1)
    label[:3] = torch.tensor([0.0, float(bins - 1), 1.0])  # both ends and an integer
    check_against_reference(
        "distribution_focal_loss",
        backend,
        x,
        label,
        _upstream(reduction, label),
        weight=torch.rand(8, dtype=torch.float64),
        reduction=reduction,
        avg_factor=avg_factor,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_distribution_class_dim(backend: str) -> None:
    """Bins along dim 1 of a (N, bins, L) input: the same as moving them last."""
    x = _logits((3, 6, 5))
    label = torch.rand(3, 5, dtype=torch.float64) * 5
    value, grad = run_loss("distribution_focal_loss", backend, x, label, class_dim=1)
    ref_value, ref_grad = reference.distribution_focal_loss(x.numpy(), label.numpy(), class_dim=1)
    torch.testing.assert_close(value, torch.as_tensor(ref_value), **tolerance(torch.float64))
    torch.testing.assert_close(grad, torch.as_tensor(ref_grad), **tolerance(torch.float64))
    moved = run_loss("distribution_focal_loss", backend, x.movedim(1, -1), label)
    torch.testing.assert_close(value, moved[0])
    torch.testing.assert_close(grad, moved[1].movedim(-1, 1))


def _decreasing_gamma(p: Any) -> Any:
    """A smooth schedule written with operators only, so it runs on tensors and arrays."""
    return 1.0 + 4.0 * (1.0 - p) ** 2


# One compiled case per loss and schedule: compiling is the slow part of the suite.
@pytest.mark.parametrize(
    ("backend", "form"), [*itertools.product(BACKENDS, SIGMOID_FORMS), ("compiled", "mask")]
)
@pytest.mark.parametrize("gamma", ["flsd53", _decreasing_gamma])
def test_sigmoid_sample_dependent_gamma_matches_reference(
    backend: str, gamma: Any, form: str
) -> None:
    x, target = _logits(scale=1.5), _sigmoid_target(form)
    check_against_reference(
        "sigmoid", backend, x, target, gamma=gamma, alpha=0.25, label_smoothing=0.1
    )


SOFTMAX_SCHEDULE_CASES = [("index+ignore", 0.0), ("index", 0.1), ("probabilities", 0.0)]


@pytest.mark.parametrize(
    ("backend", "form", "label_smoothing"),
    [
        *((backend, *case) for backend in BACKENDS for case in SOFTMAX_SCHEDULE_CASES),
        ("compiled", "index+ignore", 0.0),
    ],
)
@pytest.mark.parametrize("gamma", ["flsd53", _decreasing_gamma])
def test_softmax_sample_dependent_gamma_matches_reference(
    backend: str, gamma: Any, form: str, label_smoothing: float
) -> None:
    x = _logits(scale=1.5)
    target = _softmax_target(form, (6, C), 1)
    check_against_reference(
        "softmax", backend, x, target, gamma=gamma, label_smoothing=label_smoothing
    )


# -- the losses each one reduces to ----------------------------------------------------------


def _loss_and_grad(
    fn: Any, x: torch.Tensor, *args: Any, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_(True)
    value = fn(x, *args, **kwargs)
    (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad


def _assert_same(
    first: tuple[torch.Tensor, torch.Tensor], second: tuple[torch.Tensor, torch.Tensor]
) -> None:
    torch.testing.assert_close(first[0], second[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(first[1], second[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_star_with_gamma_1_beta_0_is_bce(backend: str, reduction: str) -> None:
    x, y = _logits(), (torch.rand(6, C) < 0.5).double()
    star = _loss_and_grad(
        torchfocal.sigmoid_focal_loss_star,
        x,
        y,
        gamma=1.0,
        beta=0.0,
        reduction=reduction,
        backend=backend,
    )
    bce = _loss_and_grad(F.binary_cross_entropy_with_logits, x, y, reduction=reduction)
    _assert_same(star, bce)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["soft", "mask"])
def test_asymmetric_without_focusing_or_clip_is_bce(backend: str, form: str) -> None:
    x, target = _logits(), _sigmoid_target(form)
    asl = _loss_and_grad(
        torchfocal.asymmetric_loss,
        x,
        target,
        gamma_pos=0.0,
        gamma_neg=0.0,
        clip=0.0,
        reduction="none",
        backend=backend,
    )
    bce = _loss_and_grad(F.binary_cross_entropy_with_logits, x, target.double(), reduction="none")
    _assert_same(asl, bce)


@pytest.mark.parametrize("backend", BACKENDS)
def test_asymmetric_drops_negatives_below_the_clip(backend: str) -> None:
    x = torch.tensor([[-4.0, -3.0, 0.0]], dtype=torch.float64)  # p = 0.018, 0.047, 0.5
    loss, grad = _loss_and_grad(
        torchfocal.asymmetric_loss,
        x,
        torch.zeros(1, 3),
        clip=0.05,
        reduction="none",
        backend=backend,
    )
    assert loss[0, :2].tolist() == [0.0, 0.0] and grad[0, :2].tolist() == [0.0, 0.0]
    assert loss[0, 2] > 0 and grad[0, 2] > 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_poly1_with_epsilon_0_is_the_focal_loss(backend: str, gamma: float) -> None:
    x = _logits()
    mask = _sigmoid_target("mask")
    poly = _loss_and_grad(
        torchfocal.poly1_focal_loss,
        x,
        mask,
        epsilon=0.0,
        gamma=gamma,
        alpha=0.25,
        reduction="none",
        backend=backend,
    )
    focal = _loss_and_grad(
        torchfocal.sigmoid_focal_loss, x, mask, gamma=gamma, alpha=0.25, reduction="none"
    )
    _assert_same(poly, focal)
    index = torch.randint(0, C, (6,))
    poly = _loss_and_grad(
        torchfocal.poly1_focal_loss,
        x,
        index,
        epsilon=0.0,
        gamma=gamma,
        activation="softmax",
        label_smoothing=0.1,
        reduction="none",
        backend=backend,
    )
    focal = _loss_and_grad(
        torchfocal.softmax_focal_loss,
        x,
        index,
        gamma=gamma,
        label_smoothing=0.1,
        reduction="none",
    )
    _assert_same(poly, focal)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("epsilon", [0.0, 1.0, -1.0])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_poly1_cross_entropy_is_ce_plus_epsilon_one_minus_pt(
    backend: str, epsilon: float, label_smoothing: float
) -> None:
    """Written out as the paper's code does: CE + epsilon (1 - sum(t * softmax))."""
    x = _logits()
    index = torch.randint(0, C, (6,))
    index[1] = -100

    def written_out(z: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(
            z, index, ignore_index=-100, label_smoothing=label_smoothing, reduction="none"
        )
        t = F.one_hot(index.clamp(min=0), C).double() * (1 - label_smoothing) + label_smoothing / C
        p_t = (t * torch.softmax(z, dim=1)).sum(dim=1)
        return ((ce + epsilon * (1 - p_t)) * (index != -100)).sum() / (index != -100).sum()

    poly = _loss_and_grad(
        torchfocal.poly1_cross_entropy,
        x,
        index,
        epsilon=epsilon,
        label_smoothing=label_smoothing,
        backend=backend,
    )
    _assert_same(poly, _loss_and_grad(written_out, x))


@pytest.mark.parametrize("backend", BACKENDS)
def test_quality_with_beta_0_is_soft_bce(backend: str) -> None:
    x, score = _logits(), _score()
    qfl = _loss_and_grad(
        torchfocal.quality_focal_loss, x, score, beta=0.0, reduction="sum", backend=backend
    )
    _assert_same(qfl, _loss_and_grad(F.binary_cross_entropy_with_logits, x, score, reduction="sum"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_quality_is_modulated_bce(backend: str) -> None:
    x, score = _logits(), _score()
    qfl = torchfocal.quality_focal_loss(x, score, beta=2.0, reduction="none", backend=backend)
    bce = F.binary_cross_entropy_with_logits(x, score, reduction="none")
    torch.testing.assert_close(qfl, (score - torch.sigmoid(x)).abs() ** 2 * bce)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_varifocal_negatives_are_alpha_weighted_focal(backend: str, gamma: float) -> None:
    x = _logits()
    zeros = torch.zeros_like(x)
    vfl = _loss_and_grad(
        torchfocal.varifocal_loss,
        x,
        zeros,
        alpha=0.75,
        gamma=gamma,
        reduction="none",
        backend=backend,
    )
    focal = _loss_and_grad(
        torchfocal.sigmoid_focal_loss, x, zeros, alpha=0.25, gamma=gamma, reduction="none"
    )
    _assert_same(vfl, focal)


@pytest.mark.parametrize("backend", BACKENDS)
def test_varifocal_positives_are_score_weighted_bce(backend: str) -> None:
    x = _logits()
    score = torch.rand(6, C, dtype=torch.float64) * 0.9 + 0.1  # every element positive
    bce = F.binary_cross_entropy_with_logits(x, score, reduction="none")
    weighted = torchfocal.varifocal_loss(x, score, reduction="none", backend=backend)
    plain = torchfocal.varifocal_loss(
        x, score, iou_weighted=False, reduction="none", backend=backend
    )
    torch.testing.assert_close(weighted, score * bce)
    torch.testing.assert_close(plain, bce)


@pytest.mark.parametrize("backend", BACKENDS)
def test_distribution_is_cross_entropy_on_two_bins(backend: str) -> None:
    x = _logits((5, 8))
    label = torch.tensor([0.0, 2.5, 3.25, 6.9, 7.0], dtype=torch.float64)
    left = label.floor().clamp(max=6).long()
    t = torch.zeros(5, 8, dtype=torch.float64)
    t[torch.arange(5), left] = left + 1 - label
    t[torch.arange(5), left + 1] = label - left
    dfl = _loss_and_grad(torchfocal.distribution_focal_loss, x, label, backend=backend)
    _assert_same(dfl, _loss_and_grad(F.cross_entropy, x, t))
    # An integer label below n is plain cross-entropy on that bin.
    whole = torch.tensor([0.0, 3.0, 6.0], dtype=torch.float64)
    _assert_same(
        _loss_and_grad(torchfocal.distribution_focal_loss, x[:3], whole, backend=backend),
        _loss_and_grad(F.cross_entropy, x[:3], whole.long()),
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
def test_flsd53_picks_gamma_5_or_3_per_element(backend: str, loss: str) -> None:
    """Elementwise, flsd53 is the focal loss with gamma 5 where p_t < 0.2, else 3, in value
    and in gradient (the schedule is a constant of the graph)."""
    x = _logits(scale=2.0)
    target = _sigmoid_target("mask") if loss == "sigmoid" else torch.randint(0, C, (6,))
    fn = getattr(torchfocal, f"{loss}_focal_loss")
    schedule = _loss_and_grad(fn, x, target, gamma="flsd53", reduction="none", backend=backend)
    five = _loss_and_grad(fn, x, target, gamma=5.0, reduction="none")
    three = _loss_and_grad(fn, x, target, gamma=3.0, reduction="none")
    if loss == "sigmoid":
        p = torch.sigmoid(x)
        p_t = torch.where(target, p, 1 - p)
        low, low_grad = p_t < 0.2, p_t < 0.2
    else:
        p_t = torch.softmax(x, dim=1).gather(1, target[:, None])[:, 0]
        low, low_grad = p_t < 0.2, (p_t < 0.2)[:, None]
    assert 0 < int(low.sum()) < low.numel()  # both branches are exercised
    torch.testing.assert_close(schedule[0], torch.where(low, five[0], three[0]))
    torch.testing.assert_close(schedule[1], torch.where(low_grad, five[1], three[1]))


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
def test_constant_callable_gamma_is_that_gamma(loss: str) -> None:
    x, target = _logits(), torch.randint(0, C, (6,))
    fn = getattr(torchfocal, f"{loss}_focal_loss")
    _assert_same(
        _loss_and_grad(fn, x, target, gamma=lambda p: torch.full_like(p, 1.5)),
        _loss_and_grad(fn, x, target, gamma=1.5),
    )
    _assert_same(
        _loss_and_grad(fn, x, target, gamma=lambda p: 1.5),
        _loss_and_grad(fn, x, target, gamma=1.5),
    )


# -- extreme logits, dtypes, gradcheck -------------------------------------------------------

EXTREME = [-1e4, -100.0, -30.0, -5.0, 0.0, 5.0, 30.0, 100.0, 1e4]


def _option_sets(info: LossInfo) -> list[dict[str, Any]]:
    """The entry's first variant (its defaults where it has none) and its extreme variants."""
    first = dict(info.variants[0]) if info.variants else {}
    return [first, *(dict(options) for options in info.extreme_variants)]


#: Every non-region loss of the registry in each of its samples, with its first variant and
#: each extreme variant; and each loss whose gamma takes a schedule with gamma="flsd53" (its
#: plain sample). The region losses have tests/test_segmentation.py.
FAMILY_CASES = [
    pytest.param(info, sample, options, id=case_id(info, sample, index))
    for info in LOSSES
    if info.form != "region"
    for sample in info.samples
    for index, options in enumerate(_option_sets(info))
] + [
    pytest.param(
        info, info.samples[0], {"gamma": "flsd53"}, id=case_id(info, info.samples[0], "flsd53")
    )
    for info in LOSSES
    if takes_a_schedule(info)
]


def _case_options(sample: Sample, options: dict[str, Any], num_classes: int) -> dict[str, Any]:
    return for_classes({**sample.options, **options}, num_classes)


def _case_target(sample: Sample, x: torch.Tensor) -> torch.Tensor:
    generator = torch.Generator().manual_seed(5)
    return make_target(sample.target, tuple(x.shape), generator=generator)


def _check_reference(
    info: LossInfo, backend: str, x: torch.Tensor, target: torch.Tensor, **kwargs: Any
) -> None:
    if info.reference is not None:  # check_against_reference finds the entry's oracle
        check_against_reference(info.name, backend, x, target, **kwargs)


@pytest.mark.parametrize(("info", "sample", "options"), FAMILY_CASES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("backend", BACKENDS)
def test_extreme_logits_finite_and_equal_to_reference(
    info: LossInfo, sample: Sample, options: dict[str, Any], dtype: torch.dtype, backend: str
) -> None:
    values = torch.tensor(EXTREME, dtype=torch.float64)
    # Every pair of extreme logits in a row, so the softmax forms see them side by side too.
    x = torch.tensor(list(itertools.product(EXTREME, EXTREME)), dtype=torch.float64)
    x = torch.cat([x, values[:, None].expand(-1, 2)], dim=0).to(dtype)
    target = _case_target(sample, x)
    kwargs = _case_options(sample, options, x.shape[1])
    # "mean": a sum of losses of 1e4 each would overflow float16 itself.
    value, grad = run_loss(info.name, backend, x, target, reduction="mean", **kwargs)
    assert value.dtype == dtype and grad.dtype == dtype
    assert torch.isfinite(grad).all()
    # Finite, unless the mean itself is past the dtype's range (LDAM's scaled margins at
    # logits of 1e4 in float16): then it is inf, as the float64 mean rounded.
    exact = run_loss(info.name, "naive", x.double(), target, reduction="mean", **kwargs)[0]
    if exact.abs() > torch.finfo(dtype).max:
        assert value.isinf() and value.sign() == exact.sign()
    else:
        assert torch.isfinite(value).all()
    _check_reference(info, backend, x, target, reduction="mean", **kwargs)


#: gradcheck: the cases whose gradient is the derivative of the loss (the entry says why not).
GRADCHECK_CASES = [case for case in FAMILY_CASES if not case.values[0].inexact_gradient]


@pytest.mark.parametrize(("info", "sample", "options"), GRADCHECK_CASES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck(info: LossInfo, sample: Sample, options: dict[str, Any], backend: str) -> None:
    x = _logits((3, 5), scale=2.0)
    target = _case_target(sample, x)
    kwargs = _case_options(sample, options, x.shape[1])

    def loss(z: torch.Tensor) -> torch.Tensor:
        return info.function(z, target, reduction="none", backend=backend, **kwargs)

    assert torch.autograd.gradcheck(loss, (x.requires_grad_(True),))


@pytest.mark.parametrize(("info", "sample", "options"), FAMILY_CASES)
def test_empty_input_and_no_grad(info: LossInfo, sample: Sample, options: dict[str, Any]) -> None:
    x = torch.zeros(0, 5, dtype=torch.float64, requires_grad=True)
    target = _case_target(sample, x)
    kwargs = _case_options(sample, options, x.shape[1])
    value = info.function(x, target, **kwargs)
    value.backward()
    assert value.item() == 0.0 and x.grad is not None and x.grad.shape == x.shape
    with torch.no_grad():
        full = _logits((3, 5))
        assert torch.isfinite(info.function(full, _case_target(sample, full), **kwargs))


def test_dtype_tolerance_is_met_by_half_inputs() -> None:
    """Half inputs are computed in float32: the result is the float32 result, rounded."""
    x = _logits().float()
    score = _score().float()
    for dtype in (torch.float16, torch.bfloat16):
        half = torchfocal.varifocal_loss(x.to(dtype), score, reduction="none")
        full = torchfocal.varifocal_loss(x.to(dtype).float(), score, reduction="none")
        torch.testing.assert_close(half, full.to(dtype), **tolerance(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["sigmoid_focal_loss_star", "asymmetric_loss", "poly1_focal_loss"])
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, C)])
def test_sigmoid_forms_on_odd_shapes(backend: str, name: str, shape: tuple[int, ...]) -> None:
    """A 0-d or 1-D input of independent logits, and (B, anchors, C) with class_dim=-1 and
    index targets (C = background, -100 ignored)."""
    x = _logits(shape)
    if len(shape) == 3:
        target = torch.randint(0, C + 1, shape[:2])
        target[0, 0] = -100
        check_against_reference(name, backend, x, target, class_dim=-1, reduction="positives")
    else:
        target = torch.rand(shape, dtype=torch.float64)
        check_against_reference(name, backend, x, target, reduction="mean")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["varifocal_loss", "quality_focal_loss"])
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4, 5)])
def test_score_losses_on_odd_shapes(backend: str, name: str, shape: tuple[int, ...]) -> None:
    x = _logits(shape)
    score = torch.rand(shape, dtype=torch.float64) * (torch.rand(shape) < 0.5)
    check_against_reference(name, backend, x, score, _upstream("none", x), reduction="none")
