"""Every non-region loss of the registry (``FAMILY_CASES``: each sample with the entry's
first variant and each of its extreme variants, and gamma="flsd53" where gamma takes a
schedule): finite and equal to the NumPy reference at extreme logits in every dtype,
through gradcheck, on empty inputs and in no-grad calls.

A new loss needs no line here: the cases come from its registry entry. Each loss's own
tests are in tests/losses/test_<module>.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from conftest import check_against_reference, run_loss
from losses.focal_family import BACKENDS, random_logits
from registry_cases import case_id, for_classes, make_target, takes_a_schedule
from torchfocal.registry import LOSSES, LossInfo, Sample

EXTREME = [-1e4, -100.0, -30.0, -5.0, 0.0, 5.0, 30.0, 100.0, 1e4]


def _option_sets(info: LossInfo) -> list[dict[str, Any]]:
    """The entry's first variant (its defaults where it has none) and its extreme variants."""
    first = dict(info.variants[0]) if info.variants else {}
    return [first, *(dict(options) for options in info.extreme_variants)]


#: Every non-region loss of the registry in each of its samples, with its first variant and
#: each extreme variant; and each loss whose gamma takes a schedule with gamma="flsd53" (its
#: plain sample). The region losses have their modules' tests (tests/losses/).
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
    x = random_logits((3, 5), scale=2.0)
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
        full = random_logits((3, 5))
        assert torch.isfinite(info.function(full, _case_target(sample, full), **kwargs))
