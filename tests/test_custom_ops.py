"""The Triton kernels as torch.library custom ops: opcheck, a user's
torch.compile(fullgraph=True) and torch.export capture them (CPU tensors under Triton's
interpreter here; a CUDA device under TORCHFOCAL_TRITON_TESTS=cuda)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

pytest.importorskip("triton")

import torchfocal
from conftest import TRITON_TESTS
from torchfocal._engine import checks

DEVICE = "cuda" if TRITON_TESTS == "cuda" else "cpu"

pytestmark = pytest.mark.skipif(
    DEVICE == "cpu" and not checks.triton_interpreted(),
    reason="the kernels run on CPU tensors only when interpreted",
)
OPS = pytest.importorskip("torchfocal._triton.ops").OPS


def _op_samples() -> list[tuple[str, tuple[Any, ...]]]:
    """Tiny inputs for every op: each optional operand absent and present once."""
    x = torch.randn(2, 3, 5, device=DEVICE)
    mask = (torch.rand(2, 3, 5, device=DEVICE) < 0.4).view(torch.uint8)
    soft = torch.rand(2, 3, 5, device=DEVICE)
    per_class = torch.rand(1, 3, 1, device=DEVICE).expand(2, 3, 5)
    plain = ("sigmoid_focal", x, mask, "mask", -100, 0.0, None, 0.25, None, None, None, 2.0, "")
    full = (
        *("sigmoid_focal", x, soft, "float", -100, 0.1, per_class, None, soft, per_class),
        *(soft, 0.0, ""),
    )
    # a loss with numbers of its own, passed by name (FL*'s gamma and beta)
    star = ("focal_star", *plain[1:])
    upstream = torch.tensor(0.5, device=DEVICE)
    index = torch.randint(0, 3, (2, 5), device=DEVICE)
    ignored = index.clone()
    ignored[0, 0] = -100
    probabilities = torch.softmax(torch.randn(2, 3, 5, device=DEVICE), dim=1)
    unadjusted = ("", None, "", [])
    by_index = (x, index, None, -100, 0.0, None, 2.0, None, None, *unadjusted)
    by_probabilities = (
        *(x, None, probabilities, -100, 0.1, index.float(), 0.0, soft[0, :, 0], None),
        *unadjusted,
    )
    per_class_values = torch.randn(3, device=DEVICE)
    # the family's adjustments of the logits (at gamma 0) and the two-bin target (DFL)
    biased = (x, index, None, -100, 0.0, None, 0.0, None, None, "class_bias", per_class_values)
    biased = (*biased, "", [])
    # dense targets: the bias's row value (the shift) in a fourth row of the statistics
    biased_dense = (x, None, probabilities, -100, 0.1, None, 0.0, None, None, "class_bias")
    biased_dense = (*biased_dense, per_class_values, "", [])
    ldam = (x, ignored, None, -100, 0.0, None, 0.0, None, None, "ldam", per_class_values.abs())
    ldam = (*ldam, "scale", [4.0])
    seesaw = (x, index, None, -100, 0.0, None, 0.0, None, None, "seesaw", per_class_values)
    seesaw = (*seesaw, "p,q,log_eps", [0.8, 2.0, -4.6])
    label = torch.rand(2, 5, device=DEVICE) * 2
    two_bin = (x, label, None, -100, 0.0, None, 0.0, None, None, *unadjusted)
    stats = torch.ops.torchfocal.softmax_focal_forward(*by_index)[1]
    ldam_stats = torch.ops.torchfocal.softmax_focal_forward(*ldam)[1]
    biased_dense_stats = torch.ops.torchfocal.softmax_focal_forward(*biased_dense)[1]
    two_bin_stats = torch.ops.torchfocal.softmax_focal_forward(*two_bin)[1]
    # EQLv2's pair of per-class weights (negatives, then positives C elements on)
    pair = torch.rand(6, device=DEVICE).as_strided((2, 3, 5), (0, 1, 0))
    by_target = (*("sigmoid_focal", x, index, "index", -100, 0.0, None, None, pair, None),)
    by_target = (*by_target, None, 0.0, "", "", [], True)
    return [
        ("elementwise_forward", (*plain, "", [], False, "partials", True, True, False, False)),
        ("elementwise_forward", (*full, "", [], False, "elements", False, False, False, True)),
        (
            "elementwise_forward",
            (*star, "gamma,beta", [2.0, 1.0], False, "elements", *(False,) * 4),
        ),
        ("elementwise_forward", (*by_target, "elements", *(False,) * 4)),
        ("elementwise_backward", (*plain, "", [], False, False, upstream)),
        ("elementwise_backward", (*full, "", [], False, False, soft)),
        ("elementwise_backward", (*by_target, False, upstream)),
        ("softmax_focal_forward", by_index),
        ("softmax_focal_forward", (x, ignored, *by_index[2:])),
        ("softmax_focal_forward", by_probabilities),
        ("softmax_focal_forward", biased),
        ("softmax_focal_forward", biased_dense),
        ("softmax_focal_forward", ldam),
        ("softmax_focal_forward", seesaw),
        ("softmax_focal_forward", two_bin),
        ("softmax_focal_backward", (x, ignored, *by_index[2:], stats, upstream)),
        ("softmax_focal_backward", (*by_index, stats, torch.rand(2, 5, device=DEVICE))),
        ("softmax_focal_backward", (*ldam, ldam_stats, upstream)),
        ("softmax_focal_backward", (*biased_dense, biased_dense_stats, upstream)),
        ("softmax_focal_backward", (*two_bin, two_bin_stats, torch.rand(2, 5, device=DEVICE))),
    ]


def test_every_op_passes_opcheck() -> None:
    """Schema, fake implementation (meta and symbolic shapes) and AOT dispatch agree with
    the kernels, for every op and both forms of each optional operand."""
    import torchfocal._triton.ops  # noqa: F401  (registers the ops)

    samples = _op_samples()
    assert sorted({name for name, _ in samples}) == sorted(OPS)
    for name, args in samples:
        op = getattr(torch.ops.torchfocal, name).default
        if name == "softmax_focal_forward" and args[1] is not None and args[9] != "ldam":
            # With class indices the kernel leaves the statistics' third row (dense targets
            # only) unwritten, and backward never reads it: two runs differ there, and
            # opcheck's compiled-against-eager test compares two runs. The fullgraph tests
            # below compare the loss and gradient instead. (An adjustment with a row function,
            # LDAM's, writes its row value there.)
            utils = ("test_schema", "test_autograd_registration", "test_faketensor")
            torch.library.opcheck(op, args, test_utils=utils)
        else:
            torch.library.opcheck(op, args)


def _step(x: torch.Tensor, mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    sigmoid = torchfocal.sigmoid_focal_loss(x, mask, backend="triton")
    softmax = torchfocal.softmax_focal_loss(x, index, backend="triton", reduction="sum")
    return sigmoid + softmax


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.randn(6, 4, device=DEVICE)
    return x, torch.rand(6, 4, device=DEVICE) < 0.3, torch.randint(0, 4, (6,), device=DEVICE)


def _torchfocal_ops(graphs: list[torch.fx.GraphModule]) -> set[str]:
    """The torchfocal ops called anywhere in ``graphs`` (subgraphs included)."""
    return {
        str(node.target)
        for graph in graphs
        for module in graph.modules()
        if isinstance(module, torch.fx.GraphModule)
        for node in module.graph.nodes
        if node.op == "call_function" and str(node.target).startswith("torchfocal.")
    }


def test_a_fullgraph_compile_captures_the_ops() -> None:
    """backend="triton" inside the user's torch.compile(fullgraph=True): one graph holding
    the kernels' ops (a graph break would raise), the loss and gradient of eager."""
    from torch._dynamo.testing import EagerAndRecordGraphs

    torch._dynamo.reset()
    recorder = EagerAndRecordGraphs()
    x, mask, index = _inputs()
    xx = x.clone().requires_grad_(True)
    loss = torch.compile(_step, fullgraph=True, backend=recorder)(xx, mask, index)
    (grad,) = torch.autograd.grad(loss, xx)
    assert _torchfocal_ops(recorder.graphs) == {f"torchfocal.{name}.default" for name in OPS}
    eager_x = x.clone().requires_grad_(True)
    eager = _step(eager_x, mask, index)
    torch.testing.assert_close(loss, eager)
    torch.testing.assert_close(grad, torch.autograd.grad(eager, eager_x)[0])


def test_inductor_compiles_a_step_with_the_ops() -> None:
    """The same step through Inductor, with fullgraph=True: as eager."""
    torch._dynamo.reset()
    x, mask, index = _inputs()
    xx = x.clone().requires_grad_(True)
    loss = torch.compile(_step, fullgraph=True)(xx, mask, index)
    (grad,) = torch.autograd.grad(loss, xx)
    eager_x = x.clone().requires_grad_(True)
    eager = _step(eager_x, mask, index)
    torch.testing.assert_close(loss, eager)
    torch.testing.assert_close(grad, torch.autograd.grad(eager, eager_x)[0])


class _Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(5, 4)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return _step(self.linear(x), mask, index)


@pytest.mark.parametrize("strict", [False, True])
def test_torch_export_records_the_ops(strict: bool) -> None:
    model = _Model().to(DEVICE)
    x = torch.randn(6, 5, device=DEVICE)
    _, mask, index = _inputs()
    exported = torch.export.export(model, (x, mask, index), strict=strict)
    assert _torchfocal_ops([exported.graph_module]) == {
        "torchfocal.elementwise_forward.default",
        "torchfocal.softmax_focal_forward.default",
    }
    torch.testing.assert_close(exported.module()(x, mask, index), model(x, mask, index))
