"""Region losses (Dice-like): sums over the locations of each (sample, class), then a ratio.

A region loss of logits ``x`` ``(N, C, d1, ...)`` (the class dimension anywhere but the
batch dimension 0) reads three sums per sample and class (per class over the whole batch
with ``batch=True``), taken over the counted locations (index targets equal to
``ignore_index`` are left out):

    I = sum p t,        P = sum p   (sum p^2 when squared),        T = sum t   (sum t^2)

with p the activation of x (softmax over the classes, sigmoid per element, or x itself)
and t the target (the indicator of an index target, never materialised here; or a dense
mask). The loss's own math is a :class:`RegionMath`: its value per entry from (I, P, T),
and the vector-Jacobian product (dI, dP) of the entries' values with an upstream weight
per entry. The engine then

- fused: computes the sums without a one-hot (``scatter_add`` of p_y per class), the
  entries' values and their vjp, and assembles dloss/dx in the same pass,

      dloss/dp_c = v (dI_c t_c + dP_c dP/dp_c),    dP/dp = 1 (2 p when squared),

  through the activation (softmax: dx_j = p_j (g_j - sum_c p_c g_c); sigmoid:
  dx = g p (1 - p)); derivation in docs/math.md, "Region losses";
- naive: the same sums from a dense target under autograd (what ``create_graph=True``,
  gradients to soft targets and class weights, and ``reduction="none"`` use).

Reduction: each entry carries the weight e = w_c * counted (w the class weights, counted
0 for a sample none of whose locations counts); ``"sum"`` is sum(e * value), ``"mean"``
sum(e * value) / sum(e) (0 where sum(e) = 0: everything ignored), ``"none"`` e * value.
``distributed=True`` (batch sums only) all-reduces the sums over the default process group
before the ratio: every rank gets the global value and the exact gradient of its shard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from . import autograd, triton_runner
from . import checks as v
from . import reduction as reducing
from .numerics import reads_values
from .targets import check_unit_interval, ignored_indices, reject_single_class_index_target

ACTIVATIONS = ("softmax", "sigmoid", "none")
#: The most classes the Triton kernels take (every class of a location in one tile).
TRITON_MAX_CLASSES = 1024

#: (I, P, T) -> the entries' values: (Nb, K) for a loss per class, (Nb,) for one per sample.
RegionValue = Callable[[Tensor, Tensor, Tensor], Tensor]
#: (I, P, T, upstream of the values' shape) -> (dI, dP), both (Nb, K).
RegionVjp = Callable[[Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


class RegionMath(NamedTuple):
    """A region loss's own math on its (Nb, K) sums (K the counted classes)."""

    value: RegionValue
    vjp: RegionVjp
    #: One value per (sample, class) (Dice, Tversky), or one per sample (generalized Dice).
    per_class: bool = True
    #: P and T are sums of squares.
    squared: bool = False


class RegionBatch(NamedTuple):
    """A checked input and target of a region loss."""

    input: Tensor
    #: Class indices (long, the class dim of size 1, ignored entries set to 0), or the dense
    #: target in the compute dtype.
    target: Tensor
    #: Bool mask of counted locations (class dim of size 1), or None when all count.
    valid: Tensor | None
    dim: int
    num_classes: int
    activation: str
    compute_dtype: torch.dtype
    batch: bool
    distributed: bool
    #: Index targets: the index that marks a background location (sigmoid: C), else None.
    background: int | None
    ignore_index: int = -100
    #: The Triton form of index targets: ``target`` is the index as given (any integer
    #: dtype, the class dim of size 1, ignored entries as they are) and ``valid`` None; the
    #: kernels leave ``ignore_index`` out themselves. :func:`torch_form` makes the others'.
    raw_index: bool = False
    #: The raw index's class range is checked by the sums kernel (a flag per program that
    #: a device-side assert reads), not before it (where checks do not read eagerly).
    check_in_kernel: bool = False

    @property
    def is_index(self) -> bool:
        return not self.target.is_floating_point()

    @property
    def largest(self) -> int:
        """Index targets: the largest index that names a class (or the background)."""
        return self.num_classes if self.background is not None else self.num_classes - 1

    def sum_dims(self) -> list[int]:
        """The dimensions summed for each (sample, class): every one but 0 and the class."""
        return [d for d in range(self.input.dim()) if d not in (0, self.dim)]


def check_activation(activation: object) -> str:
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        options = " | ".join(repr(a) for a in ACTIVATIONS)
        raise ValueError(f"activation must be one of {options}; got {activation!r}")
    return activation


def check_smooth(name: str, value: object) -> float:
    return v.check_scalar_in(name, value, 0.0, float("inf"))


def prepare(
    input: Tensor,
    target: Tensor,
    *,
    activation: str,
    ignore_index: int,
    class_dim: int,
    batch: bool,
    distributed: bool,
    raw_index: bool = False,
) -> RegionBatch:
    """Check the input, the target in any accepted form, and the batch options.

    ``raw_index`` (backend="triton"): class indices stay as given (see
    :attr:`RegionBatch.raw_index`): no pass over them before the kernels where their range
    check is the kernel's (:func:`~torchfocal._engine.checks.checks_in_kernel`); elsewhere
    (CPU tensors, eager checks switched on) they are checked here, eagerly, and still reach
    the kernel as given."""
    activation = check_activation(activation)
    ignore_index = v.check_ignore_index(ignore_index)
    batch = v.check_bool("batch", batch)
    if v.check_bool("distributed", distributed) and not batch:
        raise ValueError(
            "distributed must be False unless batch=True (only the batch's per-class sums "
            "are global); got distributed=True with batch=False"
        )
    if input.dim() < 2:
        raise ValueError(
            f"input must have a batch and a class dimension, (N, C, d1, ...); "
            f"got shape {v.shape_str(input.shape)}"
        )
    dim = v.normalize_dim("class_dim", class_dim, input.dim())
    if dim == 0:
        raise ValueError(
            f"class_dim must not be the batch dimension 0 (region losses sum each sample "
            f"apart); got class_dim={class_dim}"
        )
    num_classes = input.shape[dim]
    if num_classes == 0:
        raise ValueError(
            f"input must have at least one class along class_dim={class_dim}; "
            f"got shape {v.shape_str(input.shape)}"
        )
    if activation == "softmax" and num_classes < 2:
        raise ValueError(
            f"input must have at least 2 classes along class_dim={class_dim} for "
            f"activation='softmax' (a softmax over one class is the constant 1; use "
            f"activation='sigmoid'); got shape {v.shape_str(input.shape)}"
        )
    compute_dtype = v.compute_dtype(input)
    if activation == "none":
        check_unit_interval("input must hold probabilities in [0, 1] when activation='none'", input)
    index_shape = input.shape[:dim] + input.shape[dim + 1 :]
    background: int | None = None
    if target.shape == input.shape:
        if target.dtype == torch.bool:
            dense = target.to(compute_dtype)
        elif v.is_integer_dtype(target.dtype):
            ok = (target == 0) | (target == 1)
            v.require(
                ok,
                "target must hold 0 or 1 when it is an integer mask of the input's shape; "
                "got {bad}",
                lambda: str(target[~ok][0].item()),
            )
            dense = target.to(compute_dtype)
        elif target.is_floating_point():
            check_unit_interval("target must hold values in [0, 1]", target)
            dense = target.to(compute_dtype)
        else:
            raise TypeError(f"target must be a float, bool or integer tensor; got {target.dtype}")
        return RegionBatch(
            input,
            dense,
            None,
            dim,
            num_classes,
            activation,
            compute_dtype,
            batch,
            distributed,
            None,
        )
    if target.shape != index_shape:
        raise ValueError(
            f"target must have the shape of input {v.shape_str(input.shape)} or "
            f"{v.shape_str(index_shape)} for class indices; got {v.shape_str(target.shape)}"
        )
    if num_classes == 1:
        reject_single_class_index_target(input, target, dim)
    if not v.is_integer_dtype(target.dtype):
        raise TypeError(
            f"target must be an integer tensor of class indices when its shape is "
            f"{v.shape_str(index_shape)}; got {target.dtype}"
        )
    # Sigmoid classes are independent: index C marks a location of no class (background),
    # as in sigmoid_focal_loss. A softmax location always belongs to one of the C classes.
    if activation == "sigmoid":
        background = num_classes
    raw = RegionBatch(
        input,
        target.unsqueeze(dim),
        None,
        dim,
        num_classes,
        activation,
        compute_dtype,
        batch,
        distributed,
        background,
        ignore_index,
        raw_index=True,
    )
    if not raw_index:
        return torch_form(raw)
    in_kernel = v.checks_in_kernel(target.device)
    if not in_kernel:
        ignored_indices(
            raw.target,
            largest=raw.largest,
            ignore_index=ignore_index,
            background=background is not None,
        )
    return raw._replace(check_in_kernel=in_kernel)


def torch_form(batch: RegionBatch) -> RegionBatch:
    """The form of the fused and naive backends of a batch: class indices as long, with
    ignored entries set to 0 and a mask of counted locations (None where all count), checked
    (an eager check or a device-side assert, as :func:`ignored_indices` does)."""
    if not batch.raw_index:
        return batch
    index = batch.target.long()
    ignored = ignored_indices(
        index,
        largest=batch.largest,
        ignore_index=batch.ignore_index,
        background=batch.background is not None,
    )
    valid = None
    if ignored is not None:
        valid = ~ignored
        index = index.masked_fill(ignored, 0)
    return batch._replace(target=index, valid=valid, raw_index=False, check_in_kernel=False)


def activate(x: Tensor, activation: str, dim: int) -> Tensor:
    if activation == "softmax":
        return torch.softmax(x, dim=dim)
    if activation == "sigmoid":
        return torch.sigmoid(x)
    return x


def _per_sample(values: Tensor, batch: RegionBatch) -> Tensor:
    """A tensor with the class dim of size 1 or C summed over the other non-batch dims:
    (N, 1 or C)."""
    n, classes = values.shape[0], values.shape[batch.dim]
    if batch.dim == 1 and values.is_contiguous() and values.numel():
        # One reduction over a contiguous last dimension: a sum over several dimensions at
        # once takes a slower path in torch.
        return values.view(n, classes, -1).sum(dim=-1)
    dims = batch.sum_dims()
    summed = values.sum(dim=dims) if dims else values
    return summed.reshape(n, classes)


def location_count(batch: RegionBatch) -> Tensor:
    """(N,) the number of counted locations of each sample."""
    x = batch.input
    if batch.valid is None:
        per_sample = x.numel() // max(x.shape[0] * x.shape[batch.dim], 1)
        return torch.full(
            (x.shape[0],), float(per_sample), dtype=batch.compute_dtype, device=x.device
        )
    return _per_sample(batch.valid.to(batch.compute_dtype), batch).reshape(-1)


def dense_target(batch: RegionBatch) -> Tensor:
    """The target as a dense float tensor of the input's shape, zero at ignored locations
    (the naive form's; the fused form never builds it for index targets)."""
    if not batch.is_index:
        return batch.target
    classes = batch.num_classes + (1 if batch.background is not None else 0)
    shape = list(batch.input.shape)
    shape[batch.dim] = classes
    # Out of place: under torch.func's vmap the target may be batched and the zeros not.
    zeros = torch.zeros(shape, dtype=batch.compute_dtype, device=batch.input.device)
    one_hot = zeros.scatter(batch.dim, batch.target, 1.0)
    if batch.background is not None:
        one_hot = one_hot.narrow(batch.dim, 0, batch.num_classes)
    return one_hot if batch.valid is None else one_hot * batch.valid


def naive_sums(batch: RegionBatch, p: Tensor, squared: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(I, P, T), each (N, C), from the dense target under autograd."""
    t = dense_target(batch)  # zero at ignored locations
    power = p * p if squared else p
    if batch.valid is not None:
        power = power * batch.valid
    return (
        _per_sample(p * t, batch),
        _per_sample(power, batch),
        _per_sample(t * t if squared else t, batch),
    )


def fused_sums(
    batch: RegionBatch, p: Tensor, squared: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """(I, P, T), each (N, C), without a one-hot of index targets; and for index targets p
    at each location's target class (zero where ignored), which the gradient reuses."""
    power = p * p if squared else p
    if batch.valid is not None:
        power = power * batch.valid
    predicted = _per_sample(power, batch)
    if not batch.is_index:
        t = batch.target
        return (
            _per_sample(p * t, batch),
            predicted,
            _per_sample(t * t if squared else t, batch),
            None,
        )
    n, classes = p.shape[0], batch.num_classes
    index = batch.target
    # The background index C (sigmoid) has no entry of p: gather class 0's instead and send
    # the sum to an extra column C, dropped below.
    gathered = index.clamp(max=classes - 1) if batch.background is not None else index
    p_y = p.gather(batch.dim, gathered)
    ones = torch.ones((), dtype=p.dtype, device=p.device).expand_as(p_y)
    if batch.valid is not None:
        p_y = p_y * batch.valid
        ones = batch.valid.to(p.dtype)
    locations = index[0].numel() if n else 0
    flat_index = index.reshape(n, locations)
    width = classes + (1 if batch.background is not None else 0)
    if p.device.type == "cpu" and reads_values(p):
        # Per (sample, class) sums as one bincount over sample * width + class: on the CPU
        # a bincount is a plain loop, half the time of two scatter_add_ calls at
        # (2, 4, 96, 96, 96). Not elsewhere: on CUDA a weighted bincount has no
        # deterministic form, and its output's size is read from the data.
        key = flat_index + torch.arange(n, device=p.device).unsqueeze(1) * width
        key = key.reshape(-1)
        intersection = torch.bincount(key, p_y.reshape(-1), minlength=n * width)
        counts = torch.bincount(
            key, ones.reshape(-1) if batch.valid is not None else None, n * width
        )
        intersection, counts = intersection.view(n, width), counts.view(n, width).to(p.dtype)
    else:
        intersection = p.new_zeros((n, width)).scatter_add_(
            1, flat_index, p_y.reshape(n, locations)
        )
        counts = p.new_zeros((n, width)).scatter_add_(1, flat_index, ones.reshape(n, locations))
    return intersection[:, :classes], predicted, counts[:, :classes], p_y


def assemble_gradient(
    batch: RegionBatch, p: Tensor, d_i: Tensor, d_p: Tensor, squared: bool, p_y: Tensor | None
) -> Tensor:
    """dloss/dx from the vjp (dI, dP), each (Nb, C) (Nb = 1 broadcasts over the batch);
    ``p_y`` is :func:`fused_sums`'s, for index targets."""
    shape = [1] * p.dim()
    shape[0], shape[batch.dim] = d_i.shape[0], d_i.shape[1]
    a, b = d_i.reshape(shape), d_p.reshape(shape)
    if batch.activation == "softmax" and p_y is not None and not squared:
        return _softmax_index_gradient(batch, p, p_y, a, b)
    g = p * (2.0 * b) if squared else b.expand_as(p).clone()
    if batch.is_index:
        if batch.valid is not None:
            g.mul_(batch.valid)
        classes = batch.num_classes
        index = batch.target
        a_full = a.expand_as(p)
        if batch.background is not None:
            positive = index < classes
            index = index.clamp(max=classes - 1)
            a_y = a_full.gather(batch.dim, index) * positive
        else:
            a_y = a_full.gather(batch.dim, index)
        if batch.valid is not None:
            a_y = a_y * batch.valid
        g.scatter_add_(batch.dim, index, a_y)
    else:
        g.addcmul_(a.expand_as(p), batch.target)
    if batch.activation == "softmax":
        return p * (g - (p * g).sum(dim=batch.dim, keepdim=True))
    if batch.activation == "sigmoid":
        return g.mul_(p * (1.0 - p))
    return g


#: The softmax gradient's in-place product runs over this many slices of the locations: a
#: temporary of 1 / GRADIENT_PIECES of the input's size, and few enough operations that
#: their fixed cost (a thread pool wake-up each) stays small on a busy machine.
GRADIENT_PIECES = 4


def _softmax_index_gradient(
    batch: RegionBatch, p: Tensor, p_y: Tensor, a: Tensor, b: Tensor
) -> Tensor:
    """The softmax and index-target case of :func:`assemble_gradient`, written over p (the
    caller's own softmax, not needed after) so that nothing of the input's size is allocated.

    g_c = b_c + a_c [y = c] at a counted location, so sum_c p_c g_c = sum_c p_c b_c + p_y a_y
    (the first a contraction over the classes, the second one value per location) and
    dx_c = p_c (b_c - s) + [y = c] p_y a_y with s = sum_c p_c g_c: an in-place product of
    p with b - s, GRADIENT_PIECES slices of the locations at a time (a temporary of a
    slice's size, reused), then a scatter of the target class's term.
    """
    dim, index = batch.dim, batch.target
    n, classes = p.shape[0], p.shape[dim]
    locations = index[0].numel() if n else 0
    flat_index = index.reshape(n, locations)
    # a_y and b from the (N, C) tables themselves: a gather of an expanded input-sized view
    # is slower.
    a_table = a.reshape(a.shape[0], classes).expand(n, -1)
    b_table = b.reshape(b.shape[0], classes).expand(n, -1)
    # p_y is not needed after: p_y a_y overwrites it.
    weighted = p_y.mul_(a_table.gather(1, flat_index).reshape(index.shape))
    if dim == 1 and p.is_contiguous() and p.numel():
        # sum_c p_c b_c as a batched matrix-vector product: it reads p in place.
        by_class = p.view(n, classes, locations)
        total = torch.bmm(b_table.unsqueeze(1), by_class)
        total.add_(weighted.view(n, 1, locations))
        step = -(-locations // GRADIENT_PIECES)
        scratch = p.new_empty((n, classes, step))
        by_column = b_table.unsqueeze(2)
        for start in range(0, locations, step):
            width = min(step, locations - start)
            piece = scratch[:, :, :width]
            torch.sub(by_column, total[:, :, start : start + width], out=piece)
            by_class[:, :, start : start + width].mul_(piece)
        grad = p
    else:
        total = torch.einsum("n...c,nc->n...", p.movedim(dim, -1), b_table).unsqueeze(dim)
        grad = (b - total.add_(weighted)).mul_(p)
    grad.scatter_add_(dim, index, weighted)
    if batch.valid is not None:
        grad.mul_(batch.valid)  # an ignored location has g = 0, so no gradient
    return grad


def _global(value: Tensor, distributed: bool) -> Tensor:
    """A batch sum made global over the process group; its gradient stays the local one
    (each rank differentiates its own shard's contribution)."""
    if not distributed:
        return value
    total = reducing.sum_over_process_group(value.detach())
    return value + (total - value.detach())


def _entry_weight(
    math: RegionMath, counted: Tensor, class_weight: Tensor | None, first: int, classes: int
) -> Tensor:
    """e per entry: counted per sample, times the class weight for a per-class loss."""
    if not math.per_class:
        return counted
    weight = counted.unsqueeze(1).expand(-1, classes - first)
    if class_weight is not None:
        weight = weight * class_weight.reshape(-1)[first:]
    return weight


def _batch_sums(
    batch: RegionBatch, sums: tuple[Tensor, Tensor, Tensor], counts: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The (N, C) sums and (N,) counts, summed over the batch with ``batch=True`` (and over
    the process group with ``distributed=True``)."""
    intersection, predicted, target = sums
    if batch.batch:
        intersection, predicted, target = (s.sum(dim=0, keepdim=True) for s in sums)
        counts = counts.sum(dim=0, keepdim=True)
        intersection = _global(intersection, batch.distributed)
        predicted = _global(predicted, batch.distributed)
        target = _global(target, batch.distributed)
        counts = _global(counts, batch.distributed)
    return intersection, predicted, target, counts


class Entries(NamedTuple):
    """The batch sums (I, P, T) of the counted classes, (Nb, K) each, the entries' values
    and their weights."""

    intersection: Tensor
    predicted: Tensor
    target: Tensor
    values: Tensor
    weight: Tensor


def _run_triton(
    batch: RegionBatch,
    math: RegionMath,
    entries: Callable[[tuple[Tensor, Tensor, Tensor], Tensor], Entries],
    first: int,
    reduction: str,
    naive: Callable[[Tensor], Tensor],
    class_weight: Tensor | None,
) -> autograd.Call:
    """The call through the Triton kernels (:mod:`torchfocal._triton.regions`):
    forward launches the sums kernel (which also gives the counted locations of index
    targets and checks their range), the ratio and reduction are torch operations on the
    (N, C) sums, backward launches the gradient kernel with the vjp of those sums."""
    kernels = triton_runner.region_kernels()
    input = batch.input
    split = triton_runner.split_shape(input.shape, batch.dim)
    samples = input.shape[0]
    location_split = (split[0], split[2])
    target = (
        batch.target.reshape(location_split).contiguous()
        if batch.is_index
        else batch.target.detach().reshape(split).contiguous()
    )
    options = {
        "activation": batch.activation,
        "squared": math.squared,
        "samples": samples,
        "ignore_index": batch.ignore_index,
    }
    message = (
        f"target class indices must be in [0, {batch.largest}]"
        f"{f' ({batch.largest} = background)' if batch.background is not None else ''} or "
        f"ignore_index={batch.ignore_index}; got {{bad}}"
    )

    def forward(x: Tensor) -> tuple[Tensor, tuple[Entries, Tensor]]:
        found_sums = kernels.sums(
            x.detach().reshape(split).contiguous(),
            target,
            largest=batch.largest,
            check_index=batch.check_in_kernel,
            **options,
        )
        if found_sums.flags is not None:
            v.require(found_sums.flags == 0, message)
        count = found_sums.locations
        if count is None:  # a dense target: every location counts
            count = location_count(batch)
        found = entries((found_sums.intersection, found_sums.predicted, found_sums.target), count)
        loss, upstream = _reduced(found.values, found.weight, reduction)
        return loss.to(input.dtype), (found, upstream)

    def backward(x: Tensor, grad_output: Tensor, state: tuple[Entries, Tensor]) -> Tensor:
        found, upstream = state
        upstream = upstream * grad_output.to(upstream.dtype)
        d_i, d_p = math.vjp(found.intersection, found.predicted, found.target, upstream)
        if first:
            d_i = torch.nn.functional.pad(d_i, (first, 0))
            d_p = torch.nn.functional.pad(d_p, (first, 0))
        # A batch sum (batch=True) has one row of (dI, dP) for every sample.
        d_i, d_p = d_i.expand(samples, -1), d_p.expand(samples, -1)
        x_split = x.detach().reshape(split).contiguous()
        grad: Tensor = kernels.gradient(x_split, target, d_i, d_p, **options)
        return grad.view(input.shape)

    return autograd.Call(
        input,
        autograd.Relaunched(naive, forward, backward),
        constants=(batch.target, class_weight),
    )


def _reduced(values: Tensor, weight: Tensor, reduction: str) -> tuple[Tensor, Tensor]:
    """(reduced loss, d loss / d values)."""
    if reduction == "sum":
        return (values * weight).sum(), weight
    total_weight = weight.sum()
    divisor = torch.where(total_weight > 0, total_weight, torch.ones_like(total_weight))
    return (values * weight).sum() / divisor, weight / divisor


def call(
    batch: RegionBatch,
    math: RegionMath,
    *,
    class_weight: Tensor | None,
    include_background: bool,
    reduction: str,
    backend: str,
) -> autograd.Call:
    """The call of a prepared batch through the chosen backend (module docstring), for the
    engine's :func:`~torchfocal._engine.engine.run` (the :class:`~.engine.Region` request).
    A batch prepared for the Triton kernels (``raw_index``) takes the others' form here
    where they run instead (and, for the naive form's fallback, only when it runs)."""
    first = 0 if include_background else 1
    triton = backend == "triton" and reduction != "none"
    if not triton:
        batch = torch_form(batch)
    input = batch.input
    dtype = batch.compute_dtype

    def entries(local: tuple[Tensor, Tensor, Tensor], counts_local: Tensor) -> Entries:
        """The counted classes' batch sums, the entries' values and weights."""
        i, pp, t, counts = _batch_sums(batch, local, counts_local)
        counted = (counts > 0).to(dtype)
        i, pp, t = i[:, first:], pp[:, first:], t[:, first:]
        return Entries(
            i,
            pp,
            t,
            math.value(i, pp, t),
            _entry_weight(math, counted, class_weight, first, batch.num_classes),
        )

    def values_of(
        prepared: RegionBatch,
        x: Tensor,
        sums: Callable[[Tensor], tuple[Tensor, Tensor, Tensor, Tensor | None]],
    ) -> tuple[Tensor, Tensor | None, Tensor, Tensor, Tensor, Tensor, Tensor]:
        p = activate(x, prepared.activation, prepared.dim)
        *local, p_y = sums(p)
        found = entries((local[0], local[1], local[2]), location_count(prepared))
        return (p, p_y, *found)

    def naive(x_in: Tensor) -> Tensor:
        prepared = torch_form(batch)
        _, _, _, _, _, values, weight = values_of(
            prepared,
            x_in.to(dtype),
            lambda p: (*naive_sums(prepared, p, math.squared), None),
        )
        if reduction == "none":
            out = values * weight
            return (out.squeeze(0) if batch.batch else out).to(x_in.dtype)
        loss, _ = _reduced(values, weight, reduction)
        return loss.to(x_in.dtype)

    def fused(x_in: Tensor, need_grad: bool) -> tuple[Tensor, Tensor | None]:
        with torch.no_grad():
            p, p_y, i, pp, t, values, weight = values_of(
                batch, x_in.to(dtype), lambda p: fused_sums(batch, p, math.squared)
            )
            loss, upstream = _reduced(values, weight, reduction)
            if not need_grad:
                return loss.to(x_in.dtype), None
            d_i, d_p = math.vjp(i, pp, t, upstream)
            if first:
                d_i = torch.nn.functional.pad(d_i, (first, 0))
                d_p = torch.nn.functional.pad(d_p, (first, 0))
            grad = assemble_gradient(batch, p, d_i, d_p, math.squared, p_y)
            return loss.to(x_in.dtype), grad.to(x_in.dtype)

    if triton:
        return _run_triton(batch, math, entries, first, reduction, naive, class_weight)
    # reduction="none" returns one value per entry, not a number: its upstream gradient is
    # known only in backward, so it takes the naive form (see the function's docstring).
    return autograd.Call(
        input,
        autograd.SavedGradient(naive, fused),
        constants=(batch.target, class_weight),
        naive=reduction == "none" or backend == "naive",
    )
