"""The registry (:mod:`torchfocal.registry`) against everything that names the losses: the
export lists (made from it), the public namespace, the command line's labels, the API pages,
docs/math.md and the tests' mirror of the loss modules (tests/losses/). A loss added with its
registry entry and without its module class, its oracle, its docs or its module's tests
fails here with the name of what is missing (and tests/test_stubs.py while the type stubs
are not regenerated).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import pkgutil
import re
import sys
import typing
from pathlib import Path
from types import ModuleType

import pytest
import torch

import torchfocal
import torchfocal.compat
import torchfocal.losses
from torchfocal import functional, reference
from torchfocal import nn as tfnn
from torchfocal.registry import API_SECTIONS, LOSSES, by_name

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: The tests: tests/losses/ and tests/compat/ hold test_<module>.py for each module of
#: torchfocal.losses and torchfocal.compat.
TESTS = Path(__file__).resolve().parent

#: The public functions of torchfocal.functional that are not losses.
FUNCTIONAL_NOT_LOSSES = {
    "PROBABILITY_SUM_TOLERANCE",
    "eager_checks",
    "logit_adjust",
    "probability_sum_tolerance",
    "set_eager_checks",
}
#: The top level's public names besides the losses and their modules.
TOP_LEVEL_NOT_LOSSES = {
    "__version__",
    "balanced_alpha",
    "class_balanced_weights",
    "deferred_reweighting",
    "ldam_margins",
    "logit_adjust",
    "prior_bias",
    "prior_bias_",
    # submodules: the two of __all__ and those reachable as attributes
    "boosting",
    "cli",
    "compat",
    "functional",
    "losses",
    "nn",
    "reference",
    "registry",
    "weighting",
}

NAMES = {info.name for info in LOSSES}
MODULES = {info.module for info in LOSSES}


def test_every_entry_names_one_loss_once() -> None:
    assert len(NAMES) == len(LOSSES)
    assert len(MODULES) == len(LOSSES)
    assert by_name("sigmoid_focal_loss").module == "SigmoidFocalLoss"
    with pytest.raises(ValueError, match=r"name must be the name of a registered loss"):
        by_name("focal_loss")


def _missing(names: set[str], listed: typing.Iterable[str], where: str) -> str:
    return f"add to {where}: {sorted(names - set(listed))}; remove: {sorted(set(listed) - names)}"


def test_the_export_lists_hold_every_loss() -> None:
    """The packages' lists, made from the registry (the oracle's from its own functions),
    name every registered loss, and nothing else besides their declared extras."""
    expected = NAMES | FUNCTIONAL_NOT_LOSSES
    assert set(functional.__all__) == expected, _missing(expected, functional.__all__, "functional")
    expected = NAMES | {"logit_adjust"}
    assert set(torchfocal.losses.__all__) == expected
    assert set(tfnn.__all__) == MODULES, _missing(MODULES, tfnn.__all__, "nn.__all__")
    # a private oracle (the class-balanced loss's, a composition of public ones) is no export
    oracles = {info.reference for info in LOSSES if info.reference is not None}
    oracles = {name for name in oracles if not name.startswith("_")}
    assert set(reference.__all__) == oracles, _missing(oracles, reference.__all__, "reference")
    expected = NAMES | MODULES | TOP_LEVEL_NOT_LOSSES - {"boosting", "cli", "compat", "losses"}
    expected -= {"nn", "registry", "weighting"}
    assert set(torchfocal.__all__) == expected, _missing(expected, torchfocal.__all__, "__init__")
    # The lazy top level's written-out map (name -> submodule) holds the non-losses only:
    # it finds the losses in the registry.
    assert not set(torchfocal._FROM) & (NAMES | MODULES)


def test_every_export_is_the_registered_object() -> None:
    for info in LOSSES:
        assert getattr(torchfocal, info.name) is info.function
        assert getattr(functional, info.name) is info.function
        assert getattr(torchfocal.losses, info.name) is info.function
        assert getattr(torchfocal, info.module) is info.module_class
        assert info.module_class._function is info.function, info.module
        if info.reference is not None:
            assert callable(info.reference_function)


def test_the_public_namespace_is_the_registry_and_its_declared_extras() -> None:
    """``dir(torchfocal)``: the losses, their modules and the declared non-loss names, with
    every submodule loaded (a loaded submodule becomes an attribute); no typing helper
    (``torchfocal.Any`` was ``typing.Any``) or other import leaks into it."""
    import torchfocal.boosting
    import torchfocal.cli
    import torchfocal.compat
    import torchfocal.registry

    public = {name for name in dir(torchfocal) if not name.startswith("_")}
    public |= {"__version__"}
    assert public == NAMES | MODULES | TOP_LEVEL_NOT_LOSSES
    for name in public - {"__version__"}:
        value = getattr(torchfocal, name)
        assert getattr(value, "__module__", getattr(value, "__name__", "")).startswith(
            "torchfocal"
        ), name
        assert not any(value is getattr(typing, other) for other in typing.__all__), name


def test_the_bench_labels_are_registry_labels() -> None:
    """``torchfocal bench --losses`` names the focal family by the registry's labels."""
    pytest.importorskip("rich")  # the cli extra: bench imports it
    from torchfocal.cli import bench

    labels = {info.label: info for info in LOSSES}
    for label, (function, target) in bench.FAMILY.items():
        assert label in labels, f"bench.FAMILY's {label!r} is no registry label"
        assert labels[label].function is function
        assert target == labels[label].samples[0].target


def _registry_pages() -> ModuleType:
    """docs/_ext/registry_pages.py, the site's extension that writes the API pages' losses."""
    spec = importlib.util.spec_from_file_location(
        "registry_pages", DOCS / "_ext" / "registry_pages.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


#: An autodoc directive of a torchfocal object: reST's ``.. autofunction:: torchfocal.x``
#: or MyST's ``{autofunction} torchfocal.x``, and the class forms of both.
AUTODOC = re.compile(
    r"^(?:\.\. auto(?:function|class)::|```\{auto(?:function|class)\})\s*torchfocal\.([\w.]+)",
    re.MULTILINE,
)
API_PAGES = sorted(page for page in (DOCS / "api").rglob("*") if page.suffix in (".md", ".rst"))
#: What the API pages document of each loss: its function, module class and oracle.
DOCUMENTED = NAMES | MODULES | {f"reference.{i.reference}" for i in LOSSES if i.reference}


def test_the_api_pages_document_every_loss_and_module() -> None:
    """The pages as Sphinx reads them (their registry markers written out) document every
    registered function, module class and oracle."""
    expand = _registry_pages().expand
    documented = {name for page in API_PAGES for name in AUTODOC.findall(expand(page.read_text()))}
    missing = sorted(DOCUMENTED - documented)
    assert not missing, f"docs/api lacks {missing}"


def test_no_api_page_lists_a_loss_by_hand() -> None:
    """The pages' own text names no loss: the registry's marker writes them all."""
    losses = NAMES | MODULES
    by_hand = {
        page.name: [
            name for name in AUTODOC.findall(page.read_text()) if name.split(".")[-1] in losses
        ]
        for page in API_PAGES
    }
    assert {page: names for page, names in by_hand.items() if names} == {}


def test_the_api_pages_list_the_losses_by_section_and_place() -> None:
    """The headings are the registry's sections that hold a loss, in API_SECTIONS's order,
    and each section lists its losses by their places; no two losses of a section share a
    place."""
    assert len({info.section for info in LOSSES}) == len(LOSSES)
    text = _registry_pages().expand("<!-- registry losses: modules -->")
    keys = list(API_SECTIONS)
    by_place = sorted(LOSSES, key=lambda info: (keys.index(info.section[0]), info.section[1]))
    listed: list[tuple[str, str]] = []
    heading = ""
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line.removeprefix("## ")
        listed += [(heading, name) for name in AUTODOC.findall(line)]
    assert listed == [(API_SECTIONS[info.section[0]], info.module) for info in by_place]


def test_the_registry_pages_reject_what_they_cannot_write() -> None:
    pages = _registry_pages()
    for marker, match in (
        ("classes", "kind must be one of"),
        ("functions; headings from: nowhere", "option must be"),
        ("functions; after focal_loss: torchfocal.logit_adjust", "'after' must name loss"),
    ):
        with pytest.raises(ValueError, match=match):
            pages.expand(f"<!-- registry losses: {marker} -->")
    with pytest.raises(ValueError, match=r"section must be \(one of"):
        dataclasses.replace(LOSSES[0], section=("focal losses", 10))
    with pytest.raises(ValueError, match=r"section must be \(one of"):
        dataclasses.replace(LOSSES[0], section=("focal", 0))
    twins = [LOSSES[0], dataclasses.replace(LOSSES[1], section=LOSSES[0].section)]
    spec = pages.parse("functions", API_SECTIONS)
    with pytest.raises(ValueError, match="must have distinct places"):
        pages.losses_text(spec, twins, API_SECTIONS)


def _slug(heading: str) -> str:
    """A heading's anchor, as Python-Markdown's toc (and MyST's) make it."""
    text = re.sub(r"[^\w\s-]", "", heading).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def test_every_docs_anchor_is_a_heading_of_its_page() -> None:
    anchors: dict[str, set[str]] = {}
    for info in LOSSES:
        page, _, anchor = info.docs.partition("#")
        if page not in anchors:
            text = (DOCS / page).read_text()
            anchors[page] = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
        assert anchor in anchors[page], f"{info.name}: no heading {anchor!r} in docs/{page}"


@pytest.mark.parametrize("info", LOSSES, ids=[info.name for info in LOSSES])
def test_the_entry_fits_its_function(info: typing.Any) -> None:
    """What the entry says agrees with the function's signature."""
    parameters = inspect.signature(info.function).parameters
    for sample in info.samples:
        assert set(sample.options) <= set(parameters), sample.options
        assert set(sample.reductions) >= {"mean", "sum"}
        if "positives" in sample.reductions:
            assert info.form == "elementwise" or "activation" in sample.module_options
    for name in info.state:
        assert name in parameters
    assert ("triton" in info.backends) == (info.kernel is not None)


def test_module_repr_shows_every_option_that_differs_from_its_default() -> None:
    module = torchfocal.SigmoidFocalLoss(ignore_index=-1, class_dim=-1)
    assert repr(module) == (
        "SigmoidFocalLoss(alpha=0.25, gamma=2.0, reduction='mean', ignore_index=-1, class_dim=-1)"
    )
    weighted = torchfocal.SoftmaxFocalLoss(alpha=[1.0, 2.0, 3.0], weight=torch.ones(3))
    assert repr(weighted) == (
        "SoftmaxFocalLoss(alpha=<tensor (3,)>, gamma=2.0, reduction='mean', weight=<tensor (3,)>)"
    )
    assert repr(torchfocal.DiceLoss(smooth_nr=0.1, batch=True)) == (
        "DiceLoss(activation='softmax', include_background=True, reduction='mean', "
        "smooth_nr=0.1, batch=True)"
    )


def test_every_kernel_name_is_a_kernel() -> None:
    """An entry's ``kernel`` names the Triton math that runs it: an elementwise loss's jit
    function in KERNEL_MATH, the softmax kernel, or the region sums' kernels."""
    pytest.importorskip("triton")
    from torchfocal._triton.elementwise_math import KERNEL_MATH

    kernels = {*KERNEL_MATH, "softmax_focal", "regions"}
    named = [info for info in LOSSES if info.kernel is not None]
    assert named
    for info in named:
        assert info.kernel in kernels, info.function.__name__


def test_every_loss_module_is_found() -> None:
    """Every registered loss lives in a public module of torchfocal.losses, the modules the
    mirror below walks."""
    modules = {module.name for module in pkgutil.iter_modules(torchfocal.losses.__path__)}
    assert {info.function.__module__.rpartition(".")[2] for info in LOSSES} <= modules


@pytest.mark.parametrize(
    "package", [torchfocal.losses, torchfocal.compat], ids=lambda m: m.__name__
)
def test_every_module_has_its_test_module(package: ModuleType) -> None:
    """tests/losses/ mirrors src/torchfocal/losses/ and tests/compat/ src/torchfocal/compat/:
    each public module (no leading underscore) has tests/<package>/test_<module>.py with its
    own tests, and each such test module has its module."""
    folder = package.__name__.rpartition(".")[2]
    modules = {
        module.name
        for module in pkgutil.iter_modules(package.__path__)
        if not module.name.startswith("_")
    }
    tests = {path.stem.removeprefix("test_") for path in (TESTS / folder).glob("test_*.py")}
    assert modules and tests
    missing = sorted(f"tests/{folder}/test_{name}.py" for name in modules - tests)
    assert not missing, f"a module without its tests: {missing}"
    orphans = sorted(f"tests/{folder}/test_{name}.py" for name in tests - modules)
    assert not orphans, f"tests of no module (src/torchfocal/{folder}/): {orphans}"
