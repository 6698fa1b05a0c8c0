"""FocalObjective: the focal loss as a LightGBM, XGBoost or CatBoost objective and metric.

No boosting library is imported here: each adapter reads what the library hands it (arrays,
and a Dataset / DMatrix through ``get_label`` / ``get_weight``), so this module runs with
NumPy alone and works with whichever of the three is installed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _checks as check
from . import _math
from ._math import HESSIAN_MODES, Array, HessianMode

GradHess = tuple[Array, Array]


def class_balanced_weights(counts: npt.ArrayLike, beta: float = 0.9999) -> Array:
    """Cui et al.'s class-balanced weights, as :func:`torchfocal.class_balanced_weights`.

    w_c proportional to (1 - beta) / (1 - beta^n_c), normalised to sum to C, in float64
    (NumPy, so that a boosting job needs no torch). Pass the result as ``class_weight``.

    Args:
        counts: C positive class counts (e.g. ``np.bincount(labels)``).
        beta: in [0, 1).

    Returns:
        C float64 weights summing to C.
    """
    array = check.counts("counts", counts)
    b = check.number("beta", beta)
    if not 0.0 <= b < 1.0:
        raise ValueError(f"beta must be in [0, 1); got {beta!r}")
    if b == 0.0:
        return np.ones_like(array)
    # 1 - beta^n = -expm1(n log beta): exact for beta close to 1 and any n.
    raw = 1.0 / -np.expm1(array * math.log(b))
    return np.asarray(raw * (array.size / raw.sum()))


# --------------------------------------------------------------------------------------
# The objective


class FocalObjective:
    r"""The focal loss as a gradient-boosting objective, with exact gradients and Hessians.

    Binary (``num_class=None``, one raw score per sample, p = sigmoid(x)): the loss of
    :func:`torchfocal.sigmoid_focal_loss`, alpha_t (1 - p_t)^gamma BCE(x, y'). Multi-class
    (``num_class=K``, K raw scores, p = softmax(z)): the loss of
    :func:`torchfocal.softmax_focal_loss`, -sum_c alpha_c t_c (1 - p_c)^gamma log p_c.
    gamma = 0 and no alpha is each library's own logloss / softmax objective, gradient and
    Hessian in that library's convention.

    Args:
        gamma: focusing parameter, a finite number >= 0 (gamma < 1 allowed, finite everywhere).
        alpha: binary: None or a float in [0, 1] (weight of the positive class); multi-class:
            None or K non-negative per-class values (a float is a ValueError there).
        num_class: None for binary; K >= 2 for the softmax objective.
        label_smoothing: eps in [0, 1). Binary: y' = y (1 - eps) + eps / 2 with alpha_t on
            y', as ``sigmoid_focal_loss``; multi-class: (1 - eps) one_hot + eps / K, as
            ``softmax_focal_loss`` (and F.cross_entropy).
        class_weight: None or per-class weights (2 for binary, K for multi-class), e.g. from
            :func:`class_balanced_weights`; binary: class_weight[y_i] scales sample i;
            multi-class: they multiply alpha_c (as F.cross_entropy's ``weight``).
        hessian: "exact" (the true second derivative, negative in places), "clipped"
            (max(exact, hessian_floor)), "fisher" (alpha_t (1 - p_t)^gamma p (1 - p): >= 0,
            equal to exact at gamma = 0) or "upper" (the default: (1 + gamma)^2 times the
            Fisher form, at least the exact value). docs/boosting.md has the formulas and the
            benchmark behind the default: "upper" was the one mode that converged from every
            start without overfitting at a large learning rate.
        hessian_floor: the positive floor of "clipped". (Every mode but "exact" also hands a
            library at least 1e-16, XGBoost's own floor, where p (1 - p) underflows.)

    Sample weights multiply each sample's gradient and Hessian. The libraries' layouts and
    signs are handled by the adapters: :attr:`lightgbm`, :attr:`lightgbm_sklearn`,
    :attr:`xgboost`, :attr:`xgboost_sklearn`, :meth:`catboost`.

    Example:
        >>> import numpy as np
        >>> from torchfocal.boosting import FocalObjective
        >>> focal = FocalObjective(gamma=2.0, alpha=0.25)
        >>> grad, hess = focal.gradient_hessian(np.array([0.0, 2.0]), np.array([1, 0]))
        >>> grad.round(4).tolist(), hess.round(4).tolist()
        ([-0.0746, 0.8075], [0.1406, 0.5498])
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | Array | None = None,
        *,
        num_class: int | None = None,
        label_smoothing: float = 0.0,
        class_weight: Sequence[float] | Array | None = None,
        hessian: HessianMode = "upper",
        hessian_floor: float = 1e-6,
    ) -> None:
        self.gamma = check.number("gamma", gamma)
        if self.gamma < 0:
            raise ValueError(f"gamma must be >= 0; got {gamma!r}")
        if num_class is not None:
            if isinstance(num_class, bool) or not isinstance(num_class, (int, np.integer)):
                raise TypeError(f"num_class must be an int or None; got {type(num_class).__name__}")
            if num_class < 2:
                raise ValueError(f"num_class must be >= 2 (None for binary); got {num_class}")
        self.num_class = None if num_class is None else int(num_class)
        k = 2 if self.num_class is None else self.num_class
        self.alpha: float | None = None
        self.alpha_per_class: Array | None = None
        if alpha is not None:
            if self.num_class is None:
                if isinstance(alpha, (Sequence, np.ndarray)):
                    raise TypeError(
                        f"alpha must be a float in [0, 1] for binary; got {type(alpha).__name__}"
                    )
                self.alpha = check.number("alpha", alpha)
                if not 0.0 <= self.alpha <= 1.0:
                    raise ValueError(f"alpha must be in [0, 1]; got {alpha!r}")
            else:
                if not isinstance(alpha, (Sequence, np.ndarray)):
                    raise ValueError(
                        f"alpha must be {k} per-class values for num_class={k}; got {alpha!r} "
                        "(a float is the binary convention)"
                    )
                self.alpha_per_class = check.per_class("alpha", alpha, k, 0.0, None)
        self.label_smoothing = check.number("label_smoothing", label_smoothing)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1); got {label_smoothing!r}")
        self.class_weight = None
        if class_weight is not None:
            self.class_weight = check.per_class("class_weight", class_weight, k, 0.0, None)
        if hessian not in HESSIAN_MODES:
            raise ValueError(f"hessian must be one of {', '.join(HESSIAN_MODES)}; got {hessian!r}")
        self.hessian: HessianMode = hessian
        self.hessian_floor = check.number("hessian_floor", hessian_floor)
        if self.hessian_floor <= 0:
            raise ValueError(f"hessian_floor must be > 0; got {hessian_floor!r}")

    def __repr__(self) -> str:
        alpha = self.alpha if self.alpha_per_class is None else self.alpha_per_class.tolist()
        return (
            f"FocalObjective(gamma={self.gamma:g}, alpha={alpha!r}, num_class={self.num_class}, "
            f"label_smoothing={self.label_smoothing:g}, hessian={self.hessian!r})"
        )

    @property
    def _k(self) -> int:
        return 2 if self.num_class is None else self.num_class

    # ---- the math in the natural layout: (n,) binary, (n, K) multi-class ----------------

    def _prepare(
        self, raw: object, labels: object, weight: object
    ) -> tuple[Array, npt.NDArray[np.int64], Array | None]:
        y = check.labels(labels, self._k)
        x = check.raw(raw, y.shape[0], self.num_class)
        w = check.weights(weight, y.shape[0])
        if self.class_weight is not None and self.num_class is None:
            # binary: the weight of each sample's class
            cw = self.class_weight[y]
            w = cw if w is None else w * cw
        return x, y, w

    def _multi_weights(self, y: npt.NDArray[np.int64]) -> Array:
        k = self._k
        t = _math.smoothed_targets(y, k, self.label_smoothing)
        if self.alpha_per_class is not None:
            t = t * self.alpha_per_class
        if self.class_weight is not None:
            t = t * self.class_weight
        return t

    def loss(self, raw: object, labels: object, weight: object = None) -> Array:
        """Per-sample focal loss (times the sample weight), shape (n,)."""
        x, y, w = self._prepare(raw, labels, weight)
        if self.num_class is None:
            value = _math.binary_loss(x, y.astype(np.float64), self.alpha, self.gamma,
                                      self.label_smoothing)  # fmt: skip
        else:
            value = _math.softmax_loss(x, self._multi_weights(y), self.gamma)
        return value if w is None else value * w

    def gradient_hessian(
        self, raw: object, labels: object, weight: object = None, *, full: bool = False
    ) -> GradHess:
        """Gradient and Hessian (diagonal; ``full=True``: (n, K, K), multi-class) in raw score.

        The plain mathematical convention (no library factor, minimising): the adapters apply
        each library's layout, factor and sign.
        """
        x, y, w = self._prepare(raw, labels, weight)
        if self.num_class is None:
            grad, hess = self._binary(x, y)
        else:
            grad, hess = self._multi(x, y, full)
        if w is not None:
            grad = grad * w[:, None] if grad.ndim == 2 else grad * w
            hess = hess * w.reshape((-1,) + (1,) * (hess.ndim - 1))
        return grad, hess

    def _binary(self, x: Array, y: npt.NDArray[np.int64]) -> GradHess:
        grad, exact, fisher = _math.binary_derivatives(
            x, y.astype(np.float64), self.alpha, self.gamma, self.label_smoothing
        )
        return grad, self._mode(exact, fisher)

    def _mode(self, exact: Array, fisher: Array) -> Array:
        if self.hessian == "exact":
            return exact
        if self.hessian == "clipped":
            return np.maximum(exact, self.hessian_floor)
        if self.hessian == "fisher":
            return fisher
        # "upper": (1 + gamma)^2 Fisher >= exact is proven for hard labels (docs/math.md);
        # the max makes it an upper bound by construction for smoothed labels too.
        return np.maximum((1.0 + self.gamma) ** 2 * fisher, exact)

    def _multi(self, z: Array, y: npt.NDArray[np.int64], full: bool) -> GradHess:
        t = self._multi_weights(y)
        parts = _math.softmax_parts(z, t, self.gamma)
        grad = _math.softmax_gradient(parts)
        p, q = parts["p"], parts["q"]
        scale = _math.softmax_fisher_scale(parts, t)
        if not full:
            if self.hessian == "fisher":  # the exact Hessian is not needed
                return grad, scale[:, None] * p * q
            return grad, self._mode(_math.softmax_hessian_diagonal(parts), scale[:, None] * p * q)
        # The full matrix (CatBoost): the Fisher form is scale (diag(p) - p p^T), positive
        # semi-definite; "clipped" lifts the exact matrix's eigenvalues to the floor.
        fisher = scale[:, None, None] * (
            np.einsum("nj,jk->njk", p, np.eye(p.shape[1])) - p[:, :, None] * p[:, None, :]
        )
        if self.hessian == "fisher":
            return grad, fisher
        exact = _math.softmax_hessian_full(parts)
        if self.hessian == "exact":
            return grad, exact
        if self.hessian == "upper":
            return grad, (1.0 + self.gamma) ** 2 * fisher
        values, vectors = np.linalg.eigh(exact)
        values = np.maximum(values, self.hessian_floor)
        return grad, np.einsum("nij,nj,nkj->nik", vectors, values, vectors)

    # ---- initial score -------------------------------------------------------------------

    def init_score(self, labels: object, weight: object = None) -> float | Array:
        """The constant raw score that minimises the (weighted) focal loss on ``labels``.

        Boosting from the wrong constant is the most common silent failure of custom
        objectives (LightGBM ignores ``boost_from_average`` for them, XGBoost starts from
        ``base_score``): pass this as ``init_score`` / ``base_margin`` / ``baseline``
        (see :meth:`init_scores`). Binary: a float, the root of the summed gradient found by
        bisection (it is -sum_pos a < 0 far left and sum_neg (1 - a) > 0 far right, so the
        bracket holds a sign change from - to +, a minimum). Multi-class: K scores (mean 0
        over the classes present), by Newton steps on the exact Hessian with backtracking
        from the log class priors; a class absent from the labels (and no label smoothing)
        gets the lowest score less 30, as its best score is -inf.
        """
        y = check.labels(labels, self._k)
        if y.size == 0:
            raise ValueError("labels must hold at least one sample; got 0")
        w = check.weights(weight, y.shape[0])
        # The loss of a constant score depends on the labels only through each class's total
        # weight: one representative per class, weighted.
        totals = np.bincount(y, weights=w, minlength=self._k).astype(np.float64)
        present = np.flatnonzero(totals > 0)
        classes = present.astype(np.int64)
        mass = totals[present]
        if self.num_class is None:
            return self._binary_root(classes, mass)
        return self._multi_minimum(classes, mass)

    def init_scores(self, labels: object, weight: object = None, rows: int | None = None) -> Array:
        """:meth:`init_score` repeated for ``rows`` samples (default: one per label), in the
        natural layout, (rows,) or (rows, K): LightGBM's ``init_score``, XGBoost's
        ``base_margin``, CatBoost's ``baseline``."""
        score = self.init_score(labels, weight)
        n = int(np.asarray(labels).shape[0]) if rows is None else int(rows)
        if self.num_class is None:
            return np.full(n, float(score))
        return np.tile(np.asarray(score, dtype=np.float64), (n, 1))

    def _binary_root(self, classes: npt.NDArray[np.int64], mass: Array) -> float:
        def total_grad(b: float) -> float:
            x = np.full(classes.shape[0], b)
            g, _ = self.gradient_hessian(x, classes, mass)
            return float(g.sum())

        if classes.size == 1:
            raise ValueError(
                f"labels must hold both classes for a binary init score; got only {classes[0]}"
            )
        low, high = -1.0, 1.0
        while total_grad(low) > 0 and low > -700:
            low *= 2
        while total_grad(high) < 0 and high < 700:
            high *= 2
        for _ in range(200):
            mid = 0.5 * (low + high)
            if total_grad(mid) < 0:
                low = mid
            else:
                high = mid
            if high - low <= 1e-13 * max(1.0, abs(mid)):
                break
        return 0.5 * (low + high)

    def _multi_minimum(self, classes: npt.NDArray[np.int64], mass: Array) -> Array:
        k = self._k
        if classes.size == 1:
            raise ValueError(
                f"labels must hold at least two classes for an init score; got only {classes[0]}"
            )

        # Without label smoothing a class absent from the labels only lowers the others'
        # probabilities: its best score is -inf. It is left out of the search and placed 30
        # below the lowest present score (its probability < 1e-13 of theirs).
        free = np.arange(k) if self.label_smoothing > 0 else classes
        exact = FocalObjective(
            self.gamma,
            None if self.alpha_per_class is None else self.alpha_per_class,
            num_class=k,
            label_smoothing=self.label_smoothing,
            class_weight=self.class_weight,
            hessian="exact",
        )

        def scores(b_free: Array) -> Array:
            b = np.full(k, float(b_free.min()) - 30.0)
            b[free] = b_free
            return b

        def value_grad_hessian(b_free: Array) -> tuple[float, Array, Array]:
            z = np.tile(scores(b_free), (classes.shape[0], 1))
            g, h = exact.gradient_hessian(z, classes, mass, full=True)
            value = float(self.loss(z, classes, mass).sum())
            return value, g.sum(axis=0)[free], h.sum(axis=0)[np.ix_(free, free)]

        # start from the log class priors (absent classes, smoothing only: a small prior)
        prior = np.bincount(classes, weights=mass / mass.sum(), minlength=k)
        b_free = np.log(np.maximum(prior, 1e-3 / k))[free]
        value, grad, hess = value_grad_hessian(b_free)
        total = float(mass.sum())
        ones = np.ones((free.size, free.size)) / free.size
        for _ in range(100):
            if float(np.abs(grad).max()) <= 1e-12 * total:
                break
            # Newton on the exact Hessian where it is positive definite (the shift of all
            # scores, which changes nothing, is given curvature by the ones term); else a
            # gradient step scaled by the diagonal. Backtracking (Armijo) either way: the
            # focal loss of a constant need not be convex in the scores.
            scale = float(np.abs(np.diag(hess)).max()) + 1e-300
            try:
                factor = np.linalg.cholesky(hess + scale * ones)
                direction = -np.linalg.solve(factor.T, np.linalg.solve(factor, grad))
            except np.linalg.LinAlgError:
                direction = -grad / scale
            slope = float(grad @ direction)
            step = 1.0
            while True:
                trial = b_free + step * direction
                t_value, t_grad, t_hess = value_grad_hessian(trial)
                # near the minimum the loss stops changing in float64: a smaller gradient
                # then counts as progress
                if t_value <= value + 1e-4 * step * slope or (
                    t_value <= value + 1e-13 * abs(value)
                    and np.abs(t_grad).max() < np.abs(grad).max()
                ):
                    break
                step *= 0.5
                if step < 1e-12:
                    break
            if step < 1e-12:
                break
            b_free, value, grad, hess = trial, t_value, t_grad, t_hess
        b = scores(b_free)
        return np.asarray(b - b[free].mean())

    # ---- library adapters ----------------------------------------------------------------

    @property
    def lightgbm(self) -> Callable[[Array, Any], GradHess]:
        """``lgb.train(params={"objective": focal.lightgbm, "num_class": K})``.

        LightGBM 4 passes (n,) or (n, K) raw scores and takes the same shape back; LightGBM 3
        passed multi-class scores flattened class by class (column-major), which is handed
        back the same way. Multi-class Hessians carry LightGBM's factor K / (K - 1) (its own
        softmax objective's), at every gamma and in every mode.
        """

        def objective(preds: Array, train_data: Any) -> GradHess:
            return self._lightgbm(preds, train_data.get_label(), train_data.get_weight())

        return objective

    @property
    def lightgbm_sklearn(self) -> Callable[[Array, Array, Array | None], GradHess]:
        """``LGBMClassifier(objective=focal.lightgbm_sklearn)``: (y_true, y_pred, weight).

        With a custom objective, ``LGBMClassifier.predict_proba`` returns raw scores
        (LightGBM warns): apply the sigmoid / softmax yourself.
        """

        def objective(y_true: Array, y_pred: Array, weight: Array | None) -> GradHess:
            return self._lightgbm(y_pred, y_true, weight)

        return objective

    def _lightgbm(self, preds: Array, labels: Array, weight: Array | None) -> GradHess:
        preds = np.asarray(preds)
        n = np.asarray(labels).shape[0]
        k = self.num_class
        flat = k is not None and preds.ndim == 1
        raw = preds.reshape(k, n).T if flat and k is not None else preds
        grad, hess = self.gradient_hessian(raw, labels, weight)
        if k is not None:
            hess = hess * (k / (k - 1.0))
        hess = np.maximum(hess, self._library_floor())
        if flat:
            return grad.T.ravel(), hess.T.ravel()
        return grad, hess

    @property
    def xgboost(self) -> Callable[[Array, Any], GradHess]:
        """``xgb.train(params, dtrain, obj=focal.xgboost)``, with ``num_class`` = K in params
        for multi-class: XGBoost passes (n, K) margins and takes (n, K) back. Multi-class
        Hessians carry XGBoost's factor 2 (its multi:softprob's 2 p (1 - p))."""

        def objective(predt: Array, dtrain: Any) -> GradHess:
            return self._xgboost(predt, dtrain.get_label(), dtrain.get_weight())

        return objective

    @property
    def xgboost_sklearn(self) -> Callable[..., GradHess]:
        """``XGBClassifier(objective=focal.xgboost_sklearn)``: (y_true, y_pred, sample_weight)."""

        def objective(y_true: Array, y_pred: Array, sample_weight: Array | None = None) -> GradHess:
            return self._xgboost(y_pred, y_true, sample_weight)

        return objective

    def _xgboost(self, predt: Array, labels: Array, weight: Array | None) -> GradHess:
        grad, hess = self.gradient_hessian(predt, labels, weight)
        if self.num_class is not None:
            hess = hess * 2.0
        return grad, np.maximum(hess, self._library_floor())

    def _library_floor(self) -> float:
        # "exact" hands the library the true value, negative or not; the others get
        # XGBoost's own floor, which only matters where p (1 - p) underflows (a leaf of
        # zero Hessian would divide by zero without an L2 penalty).
        return -np.inf if self.hessian == "exact" else 1e-16

    def catboost(self) -> CatBoostObjective:
        """An object for ``CatBoostClassifier(loss_function=focal.catboost())``.

        CatBoost maximises: it is handed the negated gradient and Hessian. Binary objects
        implement ``calc_ders_range``; multi-class ones ``calc_ders_multi`` with the full
        K x K Hessian (CatBoost's own MultiClass uses the full matrix too).
        """
        return CatBoostObjective(self)


class CatBoostObjective:
    """CatBoost's custom objective protocol around a :class:`FocalObjective`."""

    def __init__(self, focal: FocalObjective) -> None:
        self.focal = focal

    def calc_ders_range(
        self, approxes: Sequence[float], targets: Sequence[float], weights: Sequence[float] | None
    ) -> list[tuple[float, float]]:
        if self.focal.num_class is not None:
            raise ValueError(
                "calc_ders_range is the binary protocol; got a multi-class FocalObjective "
                f"(num_class={self.focal.num_class}): CatBoost calls calc_ders_multi for it"
            )
        grad, hess = self.focal.gradient_hessian(
            np.asarray(approxes, dtype=np.float64), np.asarray(targets), weights
        )
        return list(zip((-grad).tolist(), (-hess).tolist(), strict=True))

    def calc_ders_multi(
        self, approx: Sequence[float], target: float, weight: float | None
    ) -> tuple[list[float], list[list[float]]]:
        if self.focal.num_class is None:
            raise ValueError(
                "calc_ders_multi is the multi-class protocol; got a binary FocalObjective"
            )
        raw = np.asarray(approx, dtype=np.float64)[None, :]
        w = None if weight is None else np.asarray([weight], dtype=np.float64)
        grad, hess = self.focal.gradient_hessian(raw, np.asarray([target]), w, full=True)
        return (-grad[0]).tolist(), (-hess[0]).tolist()
