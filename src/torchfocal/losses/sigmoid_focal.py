"""Sigmoid focal loss: the public function, its naive form (autograd) and its fused form.

The public function checks and prepares its arguments through the engine
(:mod:`torchfocal._engine`); the math functions get tensors that are already checked, on
one device, in the compute dtype (float32 or float64), shaped so that ``alpha``, ``weight``
and ``pos_weight`` broadcast against ``x``.

Notation (per element): x the logit, y the target in [0, 1], p = sigmoid(x),
p_t = p y + (1 - p)(1 - y), q = 1 - p_t = y (1 - p) + (1 - y) p,
alpha_t = alpha y + (1 - alpha)(1 - y), c the pos_weight (1 when absent), w the weight.

    ce   = -(c y log p + (1 - y) log(1 - p))          (BCEWithLogitsLoss, pos_weight c)
    m    = q ** gamma = exp(gamma log q)               (the modulator)
    loss = w alpha_t m ce

Gradient (derivation in docs/math.md):

    d ce / dx = (1 - y) p - c y (1 - p)
    d m / dx  = gamma q^(gamma - 1) dq/dx = gamma m (1 - 2y) r,   r = p (1 - p) / q
    d loss/dx = w alpha_t (d m/dx ce + m d ce/dx)

q is a convex combination of p and 1 - p, so q >= min(p, 1 - p) and r <= max(p, 1 - p) <= 1:
written with r, the gradient never forms q^(gamma - 1), which is what overflows to inf (and
then NaN) for gamma < 1 when the example is well classified. Every logarithm is a
logsigmoid of a finite logit, so log q, m and r are finite for every finite x.

The fused kernels write these formulas around the hard target nearer to y: the anchor
a = [y > 1/2], x_t = +-x (x for a = 1) and d = |y - a| in [0, 1/2], so that with
p_t0 = sigmoid(x_t) and q0 = sigmoid(-x_t)

    q = (1 - d) q0 + d p_t0,    r = p_t0 rho,   rho = q0 / q <= 2,
    ce = (1 - d) c_a softplus(-x_t) + d c_o softplus(x_t)   (c_a, c_o: the anchor's side's
                                                              pos_weight, the other's)

all from one exp(-|x_t|) and one log1p. A bool mask has d = 0 (``_hard``); float targets,
soft or 0/1, take ``_soft``, which for d = 0 repeats ``_hard``'s operations (docs/math.md,
"Float targets in the fused kernel").

The naive version is what autograd differentiates, to every order and to every tensor
argument, so its log q (:func:`log_one_minus_pt`) is written to be smooth in x and y with
finite derivatives everywhere, hard targets included (docs/math.md, "Derivatives of the
naive forms").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._engine import checks as v
from .._engine import compiled, engine, targets
from .._engine.numerics import AlphaArg, Gamma, equals, log_one_minus_pt, scalar
from .._engine.triton_fallback import falls_back_to_fused
from ._module import LossModule, checking, init_options
from ._registry import SIGMOID_FORMS, SIGMOID_REDUCTIONS, LossInfo, Sample


def naive_elementwise(
    x: Tensor,
    y: Tensor,
    *,
    alpha: AlphaArg,
    gamma: Gamma | v.GammaSpec,
    weight: Tensor | None,
    pos_weight: Tensor | None,
) -> Tensor:
    """The readable version: plain torch ops, differentiated by autograd.

    ``y`` is a float target (a bool mask is converted here); a gamma schedule is evaluated
    at p_t of the detached x (a constant of the graph). Autograd takes every
    derivative of this form (to x, y, alpha, weight and pos_weight, and second derivatives),
    so each piece is smooth with finite derivatives: ce as logsigmoids (finite for every
    finite x), and the modulator in log space with :func:`log_one_minus_pt`;
    ``(1 - p_t) ** gamma`` written directly has an infinite derivative at p_t = 1 when
    gamma < 1, and ``log(y)`` an infinite one at y = 0, which autograd turns into NaN.
    """
    if y.dtype == torch.bool:
        y = y.to(x.dtype)
    if not isinstance(gamma, (float, Tensor)):
        gamma = _sigmoid_gamma(gamma, x, y, x.dtype)
    c_y = y if pos_weight is None else pos_weight * y
    ce = -(c_y * F.logsigmoid(x) + (1.0 - y) * F.logsigmoid(-x))
    if equals(gamma, 0.0):
        modulator: Tensor | float = 1.0
    else:
        modulator = torch.exp(gamma * log_one_minus_pt(x, y))
    loss = modulator * ce
    if alpha is not None:
        loss = (alpha * y + (1.0 - alpha) * (1.0 - y)) * loss
    if weight is not None:
        loss = loss * weight
    return loss


def fused_elementwise(
    x: Tensor,
    y: Tensor,
    *,
    alpha: AlphaArg,
    gamma: Gamma,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    need_grad: bool,
    hard: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Loss and dloss/dx; ``y`` is a bool mask, or a float target that holds only 0 and 1
    where ``hard`` says so (the cheaper hard form), or any float target in [0, 1]."""
    kernel = _hard if hard or y.dtype == torch.bool else _soft
    loss, grad = kernel(x, y, alpha=alpha, gamma=gamma, pos_weight=pos_weight, need_grad=need_grad)
    if weight is not None:
        loss = loss * weight
        if grad is not None:
            grad = grad * weight
    return loss, grad


@compiled.program
def sigmoid_focal_compiled(
    x: Tensor,
    target: Tensor,
    inverse: compiled.Inverse,
    need_grad: bool,
    operands: compiled.Operands,
) -> compiled.Result:
    """:func:`fused_elementwise` and its reduction through torch.compile (backend="compiled")."""
    return compiled.elementwise(fused_elementwise, x, target, inverse, need_grad, operands)


SIGMOID_FOCAL = engine.Math(naive_elementwise, fused_elementwise, sigmoid_focal_compiled)

#: softplus(z) is z itself to rounding past this (exp(-40) < 1e-17, below float64's epsilon
#: times 40); torch's default threshold of 20 is not, in float64.
SOFTPLUS_LINEAR = 40.0


def _hard(
    x: Tensor,
    y: Tensor,
    *,
    alpha: AlphaArg,
    gamma: Gamma,
    pos_weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    """Hard targets (a bool mask, or floats that are 0 or 1): with the sign s = 2y - 1 and
    x_t = s x (x for y = 1, -x for y = 0), p_t = sigmoid(x_t).

    Each term is one fused torch op on x_t or u = -x_t, accurate to rounding for every
    finite logit (a logsigmoid or sigmoid of a logit never forms log(1 - p) of a rounded p):

        log p_t = logsigmoid(x_t) = -ce,   q = 1 - p_t = sigmoid(u),   p_t = sigmoid(x_t),
        m = q^gamma: q, q * q, or exp(-gamma softplus(x_t)) (log q = -softplus(x_t)).

    With c_t the pos_weight of the element's side, alpha_t = (1 - alpha) + y (2 alpha - 1)
    and the negated factor f = -(alpha_t m c_t), since dx_t/dx = s:

        loss     = f log p_t
        dloss/dx = s f (q - gamma p_t log p_t).

    Every op is arithmetic on floats, and each affine map of y is one op (``torch.rsub``
    with ``alpha``): the time at the sizes users have is the op count (a (256, 80) batch
    costs a few microseconds an op), and ops that read or write bool tensors
    (``torch.where``, comparisons) cost several times an arithmetic one on the CPU.
    """
    y_f = y if y.is_floating_point() else y.to(x.dtype)
    s = torch.rsub(y_f, -1.0, alpha=-2.0)  # -1 + 2y
    x_t = x * s
    u = x_t.neg()
    log_p_t = F.logsigmoid(x_t)  # -ce; logsigmoid costs about half of softplus on the CPU
    q = torch.sigmoid(u)
    if equals(gamma, 0.0):
        modulator: Tensor | None = None
    elif equals(gamma, 1.0):
        modulator = q
    elif equals(gamma, 2.0):
        modulator = q * q
    else:
        modulator = F.softplus(x_t, threshold=SOFTPLUS_LINEAR).mul_(-gamma).exp_()
    # -alpha_t = (alpha - 1) - y (2 alpha - 1), or -1 without alpha.
    if alpha is None:
        minus_alpha_t: Tensor | float = -1.0
    elif isinstance(alpha, Tensor):
        minus_alpha_t = y_f * (1.0 - 2.0 * alpha) + (alpha - 1.0)
    else:
        minus_alpha_t = torch.rsub(y_f, alpha - 1.0, alpha=2.0 * alpha - 1.0)
    # The factors are multiplied together before they meet log p_t: c_t ce alone may
    # overflow (c_t > 1, x_t near -finfo.max) where the loss does not.
    factor: Tensor | float = minus_alpha_t
    if modulator is not None:
        factor = modulator * factor
    if pos_weight is not None:
        factor = (y_f * (pos_weight - 1.0) + 1.0) * factor  # c_t
    loss = log_p_t * factor
    if not need_grad:
        return loss, None
    if equals(gamma, 0.0):
        inner = q
    elif isinstance(gamma, Tensor):
        inner = q - gamma * torch.sigmoid(x_t) * log_p_t
    else:
        inner = torch.addcmul(q, torch.sigmoid(x_t), log_p_t, value=-gamma)
    return loss, (inner * factor).mul_(s)


def _soft(
    x: Tensor,
    y: Tensor,
    *,
    alpha: AlphaArg,
    gamma: Gamma,
    pos_weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    """Float targets, soft or hard: ``_hard``'s arithmetic around the nearer hard target.

    With the anchor a = [y > 1/2], x_t = x for a and -x otherwise, and d = |y - a| in
    [0, 1/2] (0 for a hard target), every term is a mixture of the anchor's hard terms,
    built from the same e = exp(-|x_t|) and t = log1p(e) as in ``_hard``: with
    p_t0 = sigmoid(x_t), q0 = sigmoid(-x_t), softplus(-x_t) = -log p_t0,
    softplus(x_t) = -log q0, and c_a, c_o the pos_weight of the anchor's side and of the
    other one (derivation: docs/math.md, "Float targets in the fused kernel"),

        ce          = (1 - d) c_a softplus(-x_t) + d c_o softplus(x_t)
                      (= softplus(-x_t) + d x_t without pos_weight)
        q           = (1 - d) q0 + d p_t0 = q0 + d (p_t0 - q0)
        -log q      = -log(q) for d > 0;  softplus(x_t) for d = 0 (q0 may underflow)
        -dloss/dx_t = alpha_t m (gamma (1 - 2d) rho p_t0 ce + (1 - d) c_a q0 - d c_o p_t0),
                      rho = q0 / q in [0, 2] (1 for d = 0)

    One exp and one log1p serve every gamma, plus a log and an exp for gammas other than
    0, 1 and 2; no branch reads a value, so it traces under torch.compile. Without
    pos_weight, d = 0 takes ``_hard``'s operations in ``_hard``'s order, so float 0/1
    targets give ``_hard``'s results bit for bit; with pos_weight the factors are grouped
    against overflow (below) and agree with ``_hard`` to 2 ulps.
    """
    anchor = y > 0.5
    one_minus_y = 1.0 - y
    d = torch.where(anchor, one_minus_y, y)  # exact: 1 - y is exact for y >= 1/2
    x_t = torch.where(anchor, x, -x)
    positive = x_t >= 0
    e = x_t.abs().neg_().exp_()
    t = torch.log1p(e)
    sp_neg = torch.where(positive, t, t - x_t)  # softplus(-x_t) = -log p_t0
    # softplus(x_t) = -log q0, formed where it is needed
    sp_pos = None if pos_weight is None else torch.where(positive, t.add(x_t), t)
    r = e.add(1.0).reciprocal_()
    e.mul_(r)  # e / (1 + e)
    q0 = torch.where(positive, e, r)
    p_t0 = torch.where(positive, r, e)
    slope: Tensor | None = None  # gamma (1 - 2d) q0 / q, the modulator's share of the slope
    if equals(gamma, 0.0):
        modulator: Tensor | None = None
    else:
        # q = (1 - d) q0 + d p_t0 >= d: the correction d (p_t0 - q0) is >= 0 for x_t >= 0
        # and at most q0 / 2 in size otherwise, so q is accurate to a few ulps.
        q = (p_t0 - q0).mul_(d).add_(q0)
        if need_grad:
            # q0 / q is in [0, 2], and 1 where d = 0; there it is 0 / 0 where q0 underflows,
            # taken as 1 (a NaN logit is NaN in p_t0 and ce too, so its gradient stays NaN).
            rho = q0.div(q).nan_to_num_(nan=1.0)
            slope = d.mul(-2.0).add_(1.0).mul_(rho).mul_(gamma)
        if equals(gamma, 1.0):
            modulator = q
        elif equals(gamma, 2.0):
            modulator = q * q
        else:
            # -log q: where d = 0, q = q0 underflows to 0 past x_t ~ 104 (float32) while
            # q^gamma need not (gamma < 1); softplus(x_t) is exact there, as in _hard.
            if sp_pos is None:
                sp_pos = torch.where(positive, t.add(x_t), t)
            log_q = torch.where(d > 0, torch.log(q).neg_(), sp_pos)
            modulator = log_q.mul_(-gamma).exp_()
    scale: Tensor | None = modulator
    if alpha is not None:
        if not isinstance(alpha, Tensor):
            alpha = scalar(alpha, x)  # 1 - alpha in x's dtype, as in _hard
        # alpha y + (1 - alpha)(1 - y) is alpha and 1 - alpha exactly at y = 1 and y = 0.
        alpha_y = one_minus_y.mul_(1.0 - alpha).add_(alpha * y)
        scale = alpha_y if scale is None else scale.mul_(alpha_y)
    if pos_weight is None or sp_pos is None:  # sp_pos is set wherever pos_weight is
        # ce = (1 - d) sp_neg + d sp_pos, and sp_pos - sp_neg = x_t: as sp_neg >= -x_t and
        # d <= 1/2, the sum is at least half of sp_neg (no cancellation), and at most
        # finfo.max. -dce/dx_t = (1 - d) q0 - d p_t0 = q0 - d.
        ce = sp_neg.addcmul_(d, x_t)
        loss = ce if scale is None else scale * ce
        if not need_grad:
            return loss, None
        grad_t = q0.sub_(d)
        if slope is not None:
            grad_t = p_t0.mul_(slope).mul_(ce).add_(grad_t)
        if scale is not None:
            grad_t.mul_(scale)
    else:
        # ce's terms and the loss's factors are grouped so that no product passes the range
        # the loss is in: d softplus(x_t) <= finfo.max / 2, and c_a, c_o take the scale
        # (<= 1) first, as c softplus(-x_t) alone may overflow where the loss does not, and
        # d c scale may underflow where the loss does not. The modulator's term of the
        # gradient is taken from the loss for the same reason (its factor p_t0 slope is 0
        # wherever the loss is huge).
        c_a = torch.where(anchor, pos_weight, 1.0)
        c_o = torch.where(anchor, 1.0, pos_weight)
        if scale is not None:
            c_a.mul_(scale)
            c_o.mul_(scale)
        one_minus_d = 1.0 - d
        loss = (one_minus_d * sp_neg).mul_(c_a).add_((d * sp_pos).mul_(c_o))
        if not need_grad:
            return loss, None
        grad_t = one_minus_d.mul_(q0).mul_(c_a).sub_((d * p_t0).mul_(c_o))  # -scale dce/dx_t
        if slope is not None:
            grad_t = p_t0.mul_(slope).mul_(loss).add_(grad_t)
    grad = torch.where(anchor, grad_t.neg(), grad_t)
    return loss, grad


def _sigmoid_gamma(
    gamma: v.GammaSpec,
    input: Tensor,
    y: Tensor,
    dtype: torch.dtype,
) -> float | Tensor:
    """A float gamma as is; a schedule evaluated at p_t (a constant of the graph)."""
    if isinstance(gamma, float):
        return gamma
    with torch.no_grad():
        p = torch.sigmoid(input.detach().to(dtype))
        p_t = torch.where(y, p, 1.0 - p) if y.dtype == torch.bool else p * y + (1 - p) * (1 - y)
        return v.gamma_schedule(gamma, p_t)


@falls_back_to_fused
def sigmoid_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: v.ClassValues | None = 0.25,
    gamma: v.GammaSpec = 2.0,
    weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    distributed: bool = False,
    backend: str = "auto",
) -> Tensor:
    r"""Sigmoid focal loss (Lin et al., 2017) for binary and multi-label classification.

    Each logit is an independent binary problem. Per element, with :math:`p = \sigma(x)`,

    .. math::

        p_t = p y + (1 - p)(1 - y), \quad \alpha_t = \alpha y + (1 - \alpha)(1 - y),

        \ell = \alpha_t \, (1 - p_t)^\gamma \, \mathrm{BCE}(x, y) \cdot w,

    where BCE is the :class:`torch.nn.BCEWithLogitsLoss` term (``pos_weight`` scales its
    positive part). For binary targets this is equation 5 of
    *Focal Loss for Dense Object Detection* (Lin et al., ICCV 2017,
    https://arxiv.org/abs/1708.02002); it is the form of torchvision, ultralytics and yolov5.
    With ``gamma=0`` and ``alpha=None`` it equals
    :func:`torch.nn.functional.binary_cross_entropy_with_logits` with the same options.

    Args:
        input: logits of any shape, e.g. ``(N, C)`` or ``(N, C, d1, ...)``; float16,
            bfloat16, float32 or float64 (half types are computed in float32).
        target: one of

            - the input's shape, float in [0, 1] (soft targets allowed), or bool / integer
              0-1 (a mask);
            - the input's shape without ``class_dim``, integer class indices: ``0..C-1``
              marks the positive class, ``C`` background (every class negative),
              ``ignore_index`` an element left out of the loss and of the count.

            With one class (C = 1, e.g. a binary classifier's ``(N, 1)`` logits) a target
            without ``class_dim`` is a ValueError, never a guess: ``(N,)`` 0/1 labels read
            as binary labels make 1 the positive, read as class indices make 1 the
            background. Say which you mean with the input's shape: binary labels as
            ``target.unsqueeze(class_dim)`` (float for soft labels); class indices
            (0 = the class, 1 = background) as the mask ``(target == 0).unsqueeze(class_dim)``.
            With C = 1 that mask is all the class-index reading says, so it has no other
            spelling; elements to leave out get weight 0 (``weight=keep.unsqueeze(class_dim)``,
            with ``avg_factor=keep.sum()`` for ``"mean"``).
        alpha: ``None`` (no weighting), a float in [0, 1] weighting positives (negatives get
            ``1 - alpha``), or C per-class values lined up with ``class_dim``.
        gamma: focusing parameter, >= 0 (``gamma = 0`` gives alpha-weighted BCE); or a
            sample-dependent gamma (Mukhoti et al. 2020, https://arxiv.org/abs/2002.09437):
            ``"flsd53"`` (5 where p_t < 0.2, else 3) or a callable from the tensor of p_t to
            a tensor of gammas (or a float). The schedule is evaluated on the detached
            probabilities and is a constant of the gradient (exact almost everywhere for a
            piecewise-constant schedule; a smooth callable's own derivative is left out).
        weight: elementwise rescaling that broadcasts to the input's shape.
        pos_weight: weight of the positive part of BCE: C values (lined up with
            ``class_dim``) or a tensor that broadcasts to the input's shape.
        label_smoothing: eps in [0, 1); targets become ``y (1 - eps) + eps / 2``.
        ignore_index: the class index that marks ignored elements (index targets only).
        class_dim: the dimension of the classes.
        reduction: ``"none"``, ``"mean"`` (sum / number of counted elements, or / avg_factor),
            ``"sum"``, or ``"positives"`` (sum / max(positive target mass, 1), Lin et al.'s
            normaliser; the mass is taken before label smoothing).
        avg_factor: with ``reduction="mean"``, the divisor to use instead of the count.
        distributed: with ``reduction="positives"``, average the positive mass over the
            default ``torch.distributed`` process group first.
        backend: ``"auto"`` (``"triton"`` for CUDA tensors where Triton is installed, else
            ``"fused"``; it never compiles), ``"triton"`` (one Triton kernel launch computes
            the loss and the gradient, reading the target in the form it is given: masks as
            bytes, class indices without a one-hot; no host synchronisation; CUDA tensors,
            or CPU tensors under ``TRITON_INTERPRET=1``), ``"fused"`` (analytic gradient
            computed in the forward pass), ``"naive"`` (plain torch ops under autograd) or
            ``"compiled"`` (the fused math and its reduction through ``torch.compile``,
            with torch's own guards: a new batch size compiles once more, with symbolic
            sizes, then never again; gradient wanted or not, the dtype, the target form,
            which optional tensors are given and ``reduction="none"`` or not are each a
            program; the values of alpha, gamma and the divisor are inputs, except gamma
            0, 1 and 2, a program each. Past torch's recompile limit torch runs the same
            math eagerly).

    Returns:
        The loss: a scalar, or the input's shape for ``reduction="none"``, in the input's
        dtype. Every backend gives exact gradients to every tensor argument that requires
        grad (``input``, a soft ``target``, ``weight``, ``pos_weight``, ``alpha``) and exact
        second derivatives (``create_graph=True``): where more than the input's gradient is
        needed, the fused backends differentiate the naive form of the same call.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[1.3863, -0.4055]])   # p = 0.8 and 0.4
        >>> target = torch.tensor([[1.0, 1.0]])
        >>> torchfocal.sigmoid_focal_loss(logits, target, alpha=None, reduction="none")
        tensor([[0.0089, 0.3299]])
    """
    input, target = v.check_pair(input, target)
    ignore_index = v.check_ignore_index(ignore_index)
    gamma = v.check_gamma_spec(gamma)
    label_smoothing = v.check_label_smoothing(label_smoothing)
    backend = v.resolve_backend(backend, input)
    request = targets.check_elementwise(
        input,
        target,
        weight=weight,
        ignore_index=ignore_index,
        class_dim=class_dim,
        reduction=reduction,
        avg_factor=avg_factor,
        label_smoothing=label_smoothing,
        distributed=distributed,
        range_in_kernel=backend == "triton",
    )
    compute_dtype = request.compute_dtype
    pos_weight_arg = None
    if pos_weight is not None:
        pos_weight = v.check_tensor("pos_weight", pos_weight)
        v.check_same_device("pos_weight", pos_weight, input)
        if input.dim() >= 1 and pos_weight.dim() == 1:
            dim = v.normalize_dim("class_dim", class_dim, input.dim())
            if pos_weight.numel() == input.shape[dim]:
                pos_weight = pos_weight.reshape(v.class_shape(input.dim(), dim, input.shape[dim]))
        pos_weight_arg = v.broadcast_to_input("pos_weight", pos_weight, input.shape).to(
            compute_dtype
        )
    alpha_arg = targets.class_alpha(alpha, input, request.class_dim, compute_dtype)
    operands: dict[str, Any] = {"alpha": alpha_arg, "gamma": gamma, "pos_weight": pos_weight_arg}
    if backend == "triton":
        # The kernel evaluates "flsd53" itself; the naive form, where it runs, evaluates the
        # schedule at its own p_t.
        kernel_gamma: float | str | Tensor = (
            gamma
            if isinstance(gamma, (float, str))
            else (
                _sigmoid_gamma(gamma, input, targets.prepare_elementwise(request).y, compute_dtype)
            )
        )
        triton = engine.TritonKernel(
            "sigmoid_focal", alpha=alpha_arg, pos_weight=pos_weight_arg, gamma=kernel_gamma
        )
        return engine.run(engine.Elementwise(request, backend, SIGMOID_FOCAL, operands, triton))
    # The fused form takes the target as prepared, with ``hard`` saying whether it holds only
    # 0 and 1 (a float 0/1 target takes the hard kernel without a mask made of it).
    batch = targets.prepare_elementwise(request)
    y = batch.y
    if backend == "compiled" and y.dtype == torch.bool:
        # Inductor's CPU loops read a bool operand element by element (measured: the
        # compiled (4096, 80) call took 2.6 times as long as with the same float target).
        y = y.to(compute_dtype)
    operands["gamma"] = _sigmoid_gamma(gamma, input, y, compute_dtype)
    prepared = engine.Prepared(batch, y, fused_operands={"hard": batch.hard})
    return engine.run(
        engine.Elementwise(request, backend, SIGMOID_FOCAL, operands, prepared=prepared)
    )


class SigmoidFocalLoss(LossModule):
    """Module form of :func:`torchfocal.sigmoid_focal_loss`; see it for every argument.

    Per-class ``alpha``, ``weight`` and ``pos_weight`` are registered as buffers, so they
    follow ``.to()`` / ``.cuda()`` and are saved in the ``state_dict``.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SigmoidFocalLoss(alpha=0.25, gamma=2.0, reduction="sum")
        >>> criterion(torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]])).round(decimals=4)
        tensor(0.0174)
    """

    _function = staticmethod(sigmoid_focal_loss)
    _reductions = v.SIGMOID_REDUCTIONS
    _checks = checking(gamma=v.check_gamma_spec, label_smoothing=v.check_label_smoothing)
    _alpha_high = 1.0
    _repr_names = ("alpha", "gamma")
    alpha: Tensor | None
    weight: Tensor | None
    pos_weight: Tensor | None

    def __init__(
        self,
        *,
        alpha: float | Sequence[float] | Tensor | None = 0.25,
        gamma: v.GammaSpec = 2.0,
        weight: Tensor | None = None,
        pos_weight: Tensor | Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))


LOSSES = (
    LossInfo(
        function=sigmoid_focal_loss,
        module="SigmoidFocalLoss",
        form="elementwise",
        samples=(
            Sample(
                "mask",
                reductions=SIGMOID_REDUCTIONS,
                forms=SIGMOID_FORMS,
                grad_arguments={
                    "weight": "element",
                    "pos_weight": "class",
                    "alpha": "class",
                    "avg_factor": "scalar",
                },
            ),
        ),
        docs="math.md#sigmoid-focal-loss",
        section=("focal", 10),
        focusing=("gamma",),
        kernel="sigmoid_focal",
        label="sigmoid",
        gradient_variants=(
            {"gamma": 0.0},
            {"gamma": 0.3},
            {"gamma": 1.0},
            {"gamma": 2.5},
            {"gamma": 0.5, "label_smoothing": 0.1},
        ),
    ),
)
