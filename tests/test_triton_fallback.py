"""A kernel that cannot be compiled on the user's device: backend="auto" warns once and runs
the fused backend; backend="triton" raises the compiler's whole message.

The compile failure is real: the kernel under test is replaced by one whose launch compiles a
deliberately broken jitted function with Triton's own compiler for sm_90 (on this CPU, ahead
of time), so the error has the type, message and traceback that Triton gives on a GPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch

import torchfocal
from torchfocal._engine import checks, triton_fallback
from torchfocal._triton import elementwise, softmax

triton = pytest.importorskip("triton")


_NOT_A_CONSTEXPR = 3


def _broken(x_ptr):  # type: ignore[no-untyped-def]
    # A global that is not a constexpr: the code generator refuses it (as it refused the
    # softmax kernel's typing.Any annotations); the interpreter would run it.
    return x_ptr + _NOT_A_CONSTEXPR


def _compile_broken() -> None:
    """Raise the CompilationError that Triton's compiler gives for :func:`_broken`."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.runtime.jit import JITFunction

    source = ASTSource(JITFunction(_broken), signature={"x_ptr": "*fp32"}, constexprs={})
    triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"enable_fp_fusion": True})


class _FailingKernel:
    """A kernel whose every launch is a real compile failure; counts the launches."""

    def __init__(self, kernel: Any) -> None:
        self.fn = kernel.fn
        self.launches = 0

    def __getitem__(self, grid: Any) -> Any:
        def launch(*args: Any, **kwargs: Any) -> None:
            self.launches += 1
            _compile_broken()

        return launch


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, _FailingKernel]]:
    """Both kernels fail to compile; "auto" picks Triton for these CPU tensors (as it does
    for CUDA tensors); no failure remembered from another test."""
    kernels = {
        "sigmoid": _FailingKernel(elementwise._elementwise_kernel),
        "softmax": _FailingKernel(softmax._softmax_focal_kernel),
    }
    monkeypatch.setattr(elementwise, "_elementwise_kernel", kernels["sigmoid"])
    monkeypatch.setattr(softmax, "_softmax_focal_kernel", kernels["softmax"])
    monkeypatch.setattr(checks, "auto_picks_triton", lambda input: True)
    monkeypatch.setattr(triton_fallback, "_failed", {})
    monkeypatch.setattr(triton_fallback, "_warned", set())
    yield kernels


def test_the_broken_function_really_fails_to_compile() -> None:
    with pytest.raises(triton.compiler.errors.CompilationError, match="Cannot access global"):
        _compile_broken()


@pytest.mark.parametrize(
    ("name", "kernel", "make_target"),
    [
        ("sigmoid_focal_loss", "_elementwise_kernel", lambda: torch.rand(4, 3) < 0.3),
        ("softmax_focal_loss", "_softmax_focal_kernel", lambda: torch.tensor([0, 2, 1, 1])),
    ],
)
def test_auto_warns_once_and_runs_fused(
    failing: dict[str, _FailingKernel], name: str, kernel: str, make_target: Any
) -> None:
    loss_function = getattr(torchfocal, name)
    target = make_target()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    with pytest.warns(RuntimeWarning) as record:
        value = loss_function(x, target)
    assert len(record) == 1
    message = str(record[0].message)
    assert kernel in message and "cpu" in message and "Cannot access global" in message
    (grad,) = torch.autograd.grad(value, x)

    x_fused = x.detach().clone().requires_grad_(True)
    expected = loss_function(x_fused, target, backend="fused")
    (expected_grad,) = torch.autograd.grad(expected, x_fused)
    torch.testing.assert_close(value, expected, rtol=0, atol=0)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=0)

    failing_kernel = failing["sigmoid" if kernel == "_elementwise_kernel" else "softmax"]
    launches = failing_kernel.launches
    assert launches == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would raise here
        again = loss_function(x.detach(), target)
    torch.testing.assert_close(again, expected.detach(), rtol=0, atol=0)
    assert failing_kernel.launches == launches  # no second compile: the failure is kept


def test_modules_fall_back_too(failing: dict[str, _FailingKernel]) -> None:
    criterion = torchfocal.SigmoidFocalLoss(alpha=0.25)
    x, target = torch.randn(4, 3), torch.rand(4, 3) < 0.3
    with pytest.warns(RuntimeWarning, match="_elementwise_kernel"):
        value = criterion(x, target)
    expected = torchfocal.sigmoid_focal_loss(x, target, alpha=0.25, backend="fused")
    torch.testing.assert_close(value, expected, rtol=0, atol=0)


def test_triton_raises_the_whole_compiler_message(failing: dict[str, _FailingKernel]) -> None:
    x, target = torch.randn(4, 3), torch.rand(4, 3) < 0.3
    with pytest.raises(triton_fallback.KernelCompileError) as raised:
        torchfocal.sigmoid_focal_loss(x, target, backend="triton")
    try:
        _compile_broken()
    except Exception as error:
        whole = str(error)
    assert whole in str(raised.value)  # every line, not the first
    assert isinstance(raised.value.__cause__, triton.compiler.errors.CompilationError)
    # and again, from the remembered failure, with the same message
    with pytest.raises(triton_fallback.KernelCompileError) as again:
        torchfocal.sigmoid_focal_loss(x, target, backend="triton")
    assert whole in str(again.value)


def test_an_error_that_is_not_a_compile_error_is_not_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Crashing:
        fn = elementwise._elementwise_kernel.fn

        def __getitem__(self, grid: Any) -> Any:
            def launch(*args: Any, **kwargs: Any) -> None:
                raise RuntimeError("CUDA error: an illegal memory access was encountered")

            return launch

    monkeypatch.setattr(elementwise, "_elementwise_kernel", Crashing())
    monkeypatch.setattr(checks, "auto_picks_triton", lambda input: True)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        torchfocal.sigmoid_focal_loss(torch.randn(4, 3), torch.rand(4, 3) < 0.3)


@pytest.mark.parametrize(
    ("filename", "is_compile_error"),
    [
        ("/site-packages/triton/compiler/compiler.py", True),  # an MLIR pass failure
        ("/site-packages/triton/backends/nvidia/compiler.py", True),  # ptxas, LLVM
        ("/site-packages/triton/backends/nvidia/driver.py", False),  # a launch error
        ("/site-packages/triton/runtime/jit.py", False),
    ],
)
def test_compile_errors_are_told_by_where_they_were_raised(
    filename: str, is_compile_error: bool
) -> None:
    from torchfocal._triton.common import _is_compile_error

    try:
        exec(compile("raise RuntimeError('PassManager::run failed')", filename, "exec"))
    except RuntimeError as error:
        assert _is_compile_error(error) is is_compile_error
    else:  # pragma: no cover
        raise AssertionError("the code did not raise")
