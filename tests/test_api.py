"""One API across losses: every public loss function and module accepts the same options
under the same names (DESIGN section 7), and the renamed keywords keep working, with a
warning, for one release.

The losses are the registry's (:mod:`torchfocal.registry`), once per sample form.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pickle
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist

import torchfocal
from conftest import check_against_reference, tolerance
from torchfocal._engine import checks, compiled
from torchfocal._engine.deprecation import renamed
from torchfocal.registry import LOSSES as REGISTERED
from torchfocal.registry import LossInfo, Sample

BACKENDS = ("auto", "naive", "fused", "compiled")
COUNTS = [40.0, 8.0, 2.0]
TIGHT = tolerance(torch.float64)


@dataclass(frozen=True)
class Loss:
    """A public loss in one form (a sample of its registry entry), with the options its
    module needs for the same call."""

    info: LossInfo
    sample: Sample

    @property
    def function(self) -> str:
        return self.info.name

    @property
    def module(self) -> str:
        return self.info.module

    @property
    def target(self) -> str:
        """ "mask" | "index" | "score" | "label": the target of the (4, 3) test input."""
        return self.sample.target

    @property
    def options(self) -> Mapping[str, Any]:
        return self.sample.options

    @property
    def module_options(self) -> Mapping[str, Any]:
        return self.sample.module_options

    @property
    def positives(self) -> bool:
        """A sigmoid form: reduction="positives" and distributed exist."""
        return "positives" in self.sample.reductions

    @property
    def state(self) -> tuple[str, ...]:
        return self.info.state

    @property
    def region(self) -> bool:
        """A region (Dice-like) loss: distributed=True all-reduces its batch sums."""
        return self.info.takes("batch") and self.info.takes("distributed")

    @property
    def triton(self) -> bool:
        return self.info.has_triton(self.sample)

    @property
    def id(self) -> str:
        form = self.options.get("activation", "")
        return f"{self.function}-{form}" if form else self.function


LOSSES = [Loss(info, sample) for info in REGISTERED for sample in info.samples]
POSITIVES = [loss for loss in LOSSES if loss.positives]


def _ids(losses: list[Loss]) -> list[str]:
    return [loss.id for loss in losses]


def _inputs(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A small float64 (4, 3) input and a target of ``kind`` with positives and negatives."""
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(4, 3, dtype=torch.float64, generator=generator) * 3
    mask = torch.tensor([[True, False, False], [False, True, False], [False, False, False]])
    mask = torch.cat([mask, torch.tensor([[True, False, True]])])
    if kind == "mask":
        return x, mask
    if kind == "index":
        return x, torch.tensor([0, 2, 1, 2])
    if kind == "score":
        return x, torch.rand(4, 3, dtype=torch.float64, generator=generator) * mask
    return x, torch.tensor([0.0, 1.25, 2.0, 0.5], dtype=torch.float64)


def _call(loss: Loss, x: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    return getattr(torchfocal, loss.function)(x, target, **{**loss.options, **kwargs})


def _module(loss: Loss, **kwargs: Any) -> torch.nn.Module:
    module: torch.nn.Module = getattr(torchfocal, loss.module)(**loss.module_options, **kwargs)
    return module


def _value_and_grad(
    fn: Any, x: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = x.detach().clone().requires_grad_(True)
    value = fn(leaf, target)
    (grad,) = torch.autograd.grad(value, leaf)
    return value.detach(), grad


# -- every backend, functions and modules ------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", LOSSES, ids=_ids(LOSSES))
def test_every_backend_equals_naive(loss: Loss, backend: str) -> None:
    """Loss and input gradient of each backend equal the naive ones, function and module.

    One compiled call per loss (compiling is slow); the module's call is the same case,
    served by the same program.
    """
    x, target = _inputs(loss.target)
    expected = _value_and_grad(lambda x, t: _call(loss, x, t, backend="naive"), x, target)
    value, grad = _value_and_grad(lambda x, t: _call(loss, x, t, backend=backend), x, target)
    torch.testing.assert_close(value, expected[0], **TIGHT)
    torch.testing.assert_close(grad, expected[1], **TIGHT)
    module = _module(loss, backend=backend)
    module_value, module_grad = _value_and_grad(module, x, target)
    torch.testing.assert_close(module_value, expected[0], **TIGHT)
    torch.testing.assert_close(module_grad, expected[1], **TIGHT)
    if backend == "compiled":
        # The compiled programs really ran (no fallback to the eager fused backend).
        assert compiled._unavailable == []


ORACLE = [loss for loss in LOSSES if loss.info.reference is not None]


@pytest.mark.parametrize("backend", ["naive", "fused"])
@pytest.mark.parametrize("loss", ORACLE, ids=_ids(ORACLE))
def test_every_loss_matches_its_oracle(loss: Loss, backend: str) -> None:
    """Loss and input gradient of each registered sample against the NumPy reference."""
    x, target = _inputs(loss.target)
    check_against_reference(loss.function, backend, x, target, **loss.options)


#: The loss forms with a Triton kernel, and those without (Poly-1's softmax forms, unified
#: focal, Lovasz: backend="triton" is refused).
TRITON = [loss for loss in LOSSES if loss.triton]
NOT_TRITON = [loss for loss in LOSSES if not loss.triton]


@pytest.mark.parametrize("loss", TRITON, ids=_ids(TRITON))
def test_triton_backend_equals_naive(loss: Loss) -> None:
    """Every loss with a Triton kernel, function and module, through Triton's interpreter."""
    if not checks.triton_installed():  # absent, or torch 2.2's triton 2.2
        pytest.skip("needs triton >= 3.0 (the triton extra)")
    x, target = _inputs(loss.target)
    expected = _value_and_grad(lambda x, t: _call(loss, x, t, backend="naive"), x, target)
    value, grad = _value_and_grad(lambda x, t: _call(loss, x, t, backend="triton"), x, target)
    torch.testing.assert_close(value, expected[0], **TIGHT)
    torch.testing.assert_close(grad, expected[1], **TIGHT)
    module_value, module_grad = _value_and_grad(_module(loss, backend="triton"), x, target)
    torch.testing.assert_close(module_value, expected[0], **TIGHT)
    torch.testing.assert_close(module_grad, expected[1], **TIGHT)


@pytest.mark.parametrize("loss", NOT_TRITON, ids=_ids(NOT_TRITON))
def test_triton_backend_refused_without_a_kernel(loss: Loss) -> None:
    x, target = _inputs(loss.target)
    with pytest.raises(ValueError, match=r"this form of it has no Triton kernel\); got 'triton'"):
        _call(loss, x, target, backend="triton")
    # "auto" never picks what does not exist: on CPU tensors it is the fused backend anyway.
    torch.testing.assert_close(
        _call(loss, x, target, backend="auto"), _call(loss, x, target, backend="fused")
    )


# -- reduction="positives" ---------------------------------------------------------------------


def _positive_mass(kind: str, target: torch.Tensor) -> float:
    if kind == "score":
        return float((target > 0).sum())
    return float(target.sum())


@pytest.mark.parametrize("loss", POSITIVES, ids=_ids(POSITIVES))
def test_positives_divides_the_sum_by_the_positives(loss: Loss) -> None:
    x, target = _inputs(loss.target)
    mass = _positive_mass(loss.target, target)
    assert mass == 4.0  # the hand count of the table's targets
    for backend in ("naive", "fused"):
        value, grad = _value_and_grad(
            lambda x, t, b=backend: _call(loss, x, t, reduction="positives", backend=b), x, target
        )
        total, total_grad = _value_and_grad(
            lambda x, t, b=backend: _call(loss, x, t, reduction="sum", backend=b), x, target
        )
        torch.testing.assert_close(value, total / mass, **TIGHT)
        torch.testing.assert_close(grad, total_grad / mass, **TIGHT)
        module = _module(loss, reduction="positives", backend=backend)
        torch.testing.assert_close(module(x, target), value, **TIGHT)


@pytest.mark.parametrize("loss", POSITIVES, ids=_ids(POSITIVES))
def test_positives_without_positives_is_the_sum(loss: Loss) -> None:
    """max(positives, 1): a batch of negatives only is divided by 1, not 0."""
    x, target = _inputs(loss.target)
    negatives = torch.zeros_like(target)
    torch.testing.assert_close(
        _call(loss, x, negatives, reduction="positives"),
        _call(loss, x, negatives, reduction="sum"),
        **TIGHT,
    )


def test_positives_of_index_targets_count_the_foreground() -> None:
    """Class-index targets: background (C) and ignored indices are not positives."""
    x = torch.randn(5, 3, dtype=torch.float64)
    index = torch.tensor([0, 3, 2, -100, 2])  # 3 = background
    for name in ("sigmoid_focal_loss_star", "asymmetric_loss", "poly1_focal_loss"):
        function = getattr(torchfocal, name)
        torch.testing.assert_close(
            function(x, index, reduction="positives"),
            function(x, index, reduction="sum") / 3,
            **TIGHT,
        )


def _softplus(x: float) -> float:
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def _bce(x: float, q: float) -> float:
    return _softplus(x) - q * x


def test_score_losses_positives_by_hand() -> None:
    """The docstring example, reduced over its two positives (scores > 0), by hand."""
    logits = [[1.0, -2.0], [0.5, 0.0]]
    scores = [[0.8, 0.0], [0.0, 0.3]]
    vfl = qfl = 0.0
    for x, q in zip(
        [x for row in logits for x in row], [q for row in scores for q in row], strict=True
    ):
        p = 1.0 / (1.0 + math.exp(-x))
        vfl += q * _bce(x, q) if q > 0 else 0.75 * p**2.0 * _softplus(x)
        qfl += abs(q - p) ** 2.0 * _bce(x, q)
    x, target = torch.tensor(logits), torch.tensor(scores)
    for backend in BACKENDS[:3]:
        varifocal = torchfocal.varifocal_loss(x, target, reduction="positives", backend=backend)
        quality = torchfocal.quality_focal_loss(x, target, reduction="positives", backend=backend)
        assert varifocal.item() == pytest.approx(vfl / 2, rel=1e-6)
        assert quality.item() == pytest.approx(qfl / 2, rel=1e-6)


# -- distributed -------------------------------------------------------------------------------


@pytest.fixture
def process_group(tmp_path: Path) -> Iterator[None]:
    """A one-process gloo group (world size 1), torn down after the test."""
    if not dist.is_available():
        pytest.skip("torch.distributed is not built in")
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        yield
    finally:
        dist.destroy_process_group()


@pytest.mark.usefixtures("process_group")
@pytest.mark.parametrize("loss", POSITIVES, ids=_ids(POSITIVES))
def test_distributed_on_one_process_equals_local(loss: Loss) -> None:
    x, target = _inputs(loss.target)
    local = _value_and_grad(lambda x, t: _call(loss, x, t, reduction="positives"), x, target)
    averaged = _value_and_grad(
        lambda x, t: _call(loss, x, t, reduction="positives", distributed=True), x, target
    )
    torch.testing.assert_close(averaged[0], local[0], **TIGHT)
    torch.testing.assert_close(averaged[1], local[1], **TIGHT)
    module = _module(loss, reduction="positives", distributed=True)
    torch.testing.assert_close(module(x, target), local[0], **TIGHT)


@pytest.mark.parametrize("loss", POSITIVES, ids=_ids(POSITIVES))
def test_distributed_needs_positives(loss: Loss) -> None:
    x, target = _inputs(loss.target)
    message = r"distributed must be False unless reduction='positives'; got distributed=True"
    for reduction in ("mean", "sum", "none"):
        with pytest.raises(ValueError, match=message):
            _call(loss, x, target, reduction=reduction, distributed=True)
        with pytest.raises(ValueError, match=message):
            _module(loss, reduction=reduction, distributed=True)


@pytest.mark.parametrize("name", ["varifocal_loss", "quality_focal_loss"])
def test_score_losses_distributed_needs_a_process_group(name: str) -> None:
    x, target = _inputs("score")
    with pytest.raises(ValueError, match=r"distributed must be False unless torch.distributed"):
        getattr(torchfocal, name)(x, target, reduction="positives", distributed=True)


@pytest.mark.parametrize("name", ["poly1_focal_loss", "poly1_cross_entropy"])
def test_softmax_poly1_has_no_distributed(name: str) -> None:
    x, target = _inputs("index")
    with pytest.raises(ValueError, match=r"distributed must be False for activation='softmax'"):
        getattr(torchfocal, name)(x, target, activation="softmax", distributed=True)


def test_distributed_must_be_a_bool() -> None:
    x, target = _inputs("score")
    with pytest.raises(TypeError, match=r"distributed must be a bool; got int"):
        torchfocal.varifocal_loss(x, target, reduction="positives", distributed=1)
    with pytest.raises(TypeError, match=r"distributed must be a bool; got int"):
        torchfocal.SigmoidFocalLoss(reduction="positives", distributed=1)  # type: ignore[arg-type]


# -- one name for one thing --------------------------------------------------------------------

#: The names the renames retired: no public loss or module may take them.
RETIRED = {"target_score", "bin_dim", "weights"}


@pytest.mark.parametrize("loss", LOSSES, ids=_ids(LOSSES))
def test_function_signature_uses_the_shared_names(loss: Loss) -> None:
    parameters = inspect.signature(getattr(torchfocal, loss.function)).parameters
    names = list(parameters)
    assert names[:2] == ["input", "target"]
    assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in names[2:])
    assert not RETIRED & set(names)
    assert {"reduction", "backend"} <= set(names)
    assert parameters["backend"].default == "auto"
    assert parameters["reduction"].default == "mean"
    # A function of two forms (poly1) takes distributed if one of them has positives.
    has_positives = any(other.positives for other in LOSSES if other.function == loss.function)
    assert ("distributed" in names) == (has_positives or loss.region)
    if "distributed" in names:
        assert parameters["distributed"].default is False


@pytest.mark.parametrize("loss", LOSSES, ids=_ids(LOSSES))
def test_module_takes_its_function_options_with_the_same_defaults(loss: Loss) -> None:
    """Every keyword option of the function is one of the module's, defaulting alike (the
    class-balanced module builds its ``weight`` from class counts; the stateful modules keep
    their statistics in buffers)."""
    function = inspect.signature(getattr(torchfocal, loss.function)).parameters
    module_class = getattr(torchfocal, loss.module)
    init = inspect.signature(module_class.__init__).parameters
    assert not RETIRED & set(init)
    for name, parameter in function.items():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        if loss.module == "ClassBalancedLoss" and name == "weight":
            continue
        if name in loss.state:
            assert name in dict(_module(loss).named_buffers()), f"{loss.module} lacks {name}"
            continue
        assert name in init, f"{loss.module} lacks {name}"
        assert init[name].default == parameter.default, name
    assert list(inspect.signature(module_class.forward).parameters) == ["self", "input", "target"]


@pytest.mark.parametrize("loss", LOSSES, ids=_ids(LOSSES))
def test_a_module_pickles_as_torchfocal_nn(loss: Loss) -> None:
    """A module class is written in its loss's module and public as ``torchfocal.nn.<Name>``:
    a pickle (``torch.save`` of a whole model) names it there, as when nn.py held every
    class, and the module round-trips with its options, buffers and values."""
    module_class = getattr(torchfocal.nn, loss.module)
    assert (module_class.__module__, module_class.__qualname__) == ("torchfocal.nn", loss.module)
    home = importlib.import_module(loss.info.function.__module__)
    assert getattr(home, loss.module) is module_class is loss.info.module_class
    module = _module(loss)
    data = pickle.dumps(module)
    assert b"torchfocal.nn" in data and b"torchfocal.losses" not in data
    restored = pickle.loads(data)
    assert type(restored) is module_class and repr(restored) == repr(module)
    state, again = module.state_dict(), restored.state_dict()
    assert list(again) == list(state)
    for key, value in state.items():
        assert torch.equal(again[key], value), key
    x, target = _inputs(loss.target)
    torch.testing.assert_close(restored(x, target), module(x, target), rtol=0, atol=0)


def test_a_users_subclass_of_a_module_keeps_its_own_module() -> None:
    """Only the loss modules' own classes are made torchfocal.nn's (pickles of a user's
    subclass name the user's module)."""

    class Mine(torchfocal.SigmoidFocalLoss):
        pass

    assert Mine.__module__ == __name__
    assert torchfocal.SigmoidFocalLoss.__module__ == "torchfocal.nn"


def test_poly1_distributed_is_a_value_error_like_avg_factor() -> None:
    """poly1 takes distributed (its sigmoid form has positives); softmax refuses it, as it
    refuses avg_factor."""
    x, target = _inputs("index")
    with pytest.raises(ValueError, match=r"avg_factor must be None for activation='softmax'"):
        torchfocal.poly1_focal_loss(x, target, activation="softmax", avg_factor=2.0)
    with pytest.raises(ValueError, match=r"distributed must be False for activation='softmax'"):
        torchfocal.poly1_focal_loss(x, target, activation="softmax", distributed=True)


# -- deprecated names --------------------------------------------------------------------------

DEPRECATED_CALLS = [
    ("varifocal_loss", "score", "target_score", "target"),
    ("quality_focal_loss", "score", "target_score", "target"),
    ("distribution_focal_loss", "label", "bin_dim", "class_dim"),
    ("class_balanced_loss", "index", "weights", "weight"),
]


def _renamed_value(kind: str, new: str, target: torch.Tensor) -> Any:
    if new == "target":
        return target
    if new == "class_dim":
        return 1  # the bins of the (4, 3) input, as its default -1
    return torchfocal.class_balanced_weights(COUNTS, 0.99).double()


@pytest.mark.parametrize(("name", "kind", "old", "new"), DEPRECATED_CALLS)
def test_deprecated_keyword_warns_and_gives_the_same_result(
    name: str, kind: str, old: str, new: str
) -> None:
    function = getattr(torchfocal, name)
    x, target = _inputs(kind)
    value = _renamed_value(kind, new, target)
    positional = (x,) if new == "target" else (x, target)
    expected = function(*positional, **{new: value})
    with pytest.warns(DeprecationWarning, match=rf"^{old} is deprecated; use {new} \(") as record:
        got = function(*positional, **{old: value})
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # The warning points at the caller's line, not into torchfocal.
    assert [Path(warning.filename).name for warning in record] == [Path(__file__).name]


@pytest.mark.parametrize(("name", "kind", "old", "new"), DEPRECATED_CALLS)
def test_old_and_new_keyword_together_are_a_type_error(
    name: str, kind: str, old: str, new: str
) -> None:
    function = getattr(torchfocal, name)
    x, target = _inputs(kind)
    value = _renamed_value(kind, new, target)
    positional = (x,) if new == "target" else (x, target)
    message = rf"{name}\(\) must be given {new} once; got both {new} and its deprecated name {old}"
    with pytest.raises(TypeError, match=message):
        function(*positional, **{new: value, old: value})
    if new == "target":  # the new name by position
        with pytest.raises(TypeError, match=message):
            function(x, target, **{old: target})


@pytest.mark.parametrize("name", ["varifocal_loss", "quality_focal_loss", "class_balanced_loss"])
def test_renamed_functions_keep_their_signature_and_docstring(name: str) -> None:
    function = getattr(torchfocal, name)
    assert function.__name__ == name
    assert function.__module__.startswith("torchfocal.losses.")
    assert "DeprecationWarning" in (function.__doc__ or "")
    assert not RETIRED & set(inspect.signature(function).parameters)


@pytest.mark.parametrize("module_name", ["VarifocalLoss", "QualityFocalLoss"])
def test_score_modules_forward_takes_target_and_the_old_keyword(module_name: str) -> None:
    module = getattr(torchfocal, module_name)()
    x, target = _inputs("score")
    expected = module(x, target)
    torch.testing.assert_close(module(x, target=target), expected, rtol=0, atol=0)
    with pytest.warns(DeprecationWarning, match=r"^target_score is deprecated; use target"):
        got = module(x, target_score=target)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    with pytest.raises(TypeError, match=r"must be given target once"):
        module(x, target, target_score=target)


def test_distribution_module_bin_dim_is_class_dim() -> None:
    with pytest.warns(DeprecationWarning, match=r"^bin_dim is deprecated; use class_dim"):
        module = torchfocal.DistributionFocalLoss(bin_dim=0)  # type: ignore[call-arg]
    assert module.class_dim == 0 and not hasattr(module, "bin_dim")
    assert repr(module) == "DistributionFocalLoss(class_dim=0, reduction='mean')"
    x = torch.randn(3, 4, dtype=torch.float64)
    label = torch.tensor([0.5, 1.0, 2.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(
        module(x, label), torchfocal.distribution_focal_loss(x, label, class_dim=0)
    )
    with pytest.raises(TypeError, match=r"must be given class_dim once"):
        torchfocal.DistributionFocalLoss(bin_dim=0, class_dim=0)  # type: ignore[call-arg]


def test_class_balanced_module_loads_a_state_dict_with_the_old_buffer_name() -> None:
    module = torchfocal.ClassBalancedLoss(COUNTS, beta=0.99)
    assert list(module.state_dict()) == ["weight"]
    restored = torchfocal.ClassBalancedLoss([1.0, 1.0, 1.0], beta=0.99)
    with pytest.warns(DeprecationWarning, match=r"^weights is deprecated; use weight"):
        restored.load_state_dict({"weights": module.weight.clone()})
    torch.testing.assert_close(restored.weight, module.weight)
    # The current key loads silently.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored.load_state_dict(module.state_dict())


# -- the decorator -----------------------------------------------------------------------------


def test_renamed_refuses_a_mapping_onto_no_parameter_or_from_a_live_one() -> None:
    def f(input: int, *, target: int = 0) -> int:
        return input + target

    with pytest.raises(TypeError, match=r"renamed\(\) must map 'old' onto a parameter of .*f"):
        renamed(old="missing")(f)
    with pytest.raises(TypeError, match=r"renamed\(\) must map a name that .*f no longer"):
        renamed(input="target")(f)


def test_renamed_keyword_only_new_name_is_not_read_from_positions() -> None:
    @renamed(old="new")
    def f(a: int, b: int = 0, *, new: int = 0) -> int:
        return a + 10 * b + 100 * new

    assert inspect.signature(f) == inspect.signature(f.__wrapped__)
    with pytest.warns(DeprecationWarning, match=r"^old is deprecated; use new"):
        assert f(1, 2, old=3) == 321  # type: ignore[call-arg]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(1, 2, new=3) == 321


# -- modules: alpha alike, the new options in repr ---------------------------------------------


@pytest.mark.parametrize(
    "module_name",
    [
        "SigmoidFocalLoss",
        "SoftmaxFocalLoss",
        "SigmoidFocalLossStar",
        "Poly1FocalLoss",
        "VarifocalLoss",
    ],
)
def test_modules_store_a_number_alpha_alike(module_name: str) -> None:
    module = getattr(torchfocal, module_name)(alpha=0.5)
    assert module.alpha is None and module.scalar_alpha == 0.5
    assert "alpha" not in module.state_dict()
    assert "alpha=0.5" in repr(module)


def test_varifocal_module_takes_one_alpha() -> None:
    with pytest.raises(TypeError, match=r"alpha must be a float; got list"):
        torchfocal.VarifocalLoss(alpha=[0.5, 0.5])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        torchfocal.VarifocalLoss(alpha=1.5)


def test_module_repr_shows_the_shared_options_that_differ_from_defaults() -> None:
    module = torchfocal.VarifocalLoss(reduction="positives", distributed=True, backend="compiled")
    assert repr(module) == (
        "VarifocalLoss(alpha=0.75, gamma=2.0, iou_weighted=True, reduction='positives', "
        "distributed=True, backend='compiled')"
    )
    assert repr(torchfocal.QualityFocalLoss(avg_factor=4.0)) == (
        "QualityFocalLoss(beta=2.0, reduction='mean', avg_factor=4.0)"
    )
    assert repr(torchfocal.ClassBalancedLoss(COUNTS, beta=0.99, loss="softmax")) == (
        "ClassBalancedLoss(loss='softmax', beta=0.99, gamma=None, reduction='mean', classes=3)"
    )
