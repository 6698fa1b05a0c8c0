"""Evaluation metrics for early stopping: the focal loss itself and the balanced log loss.

Each metric is computed on raw scores (what a custom objective's model outputs) and handed
to each library in its own metric convention; lower is better for both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _checks as check
from . import _math
from ._math import Array
from ._objective import FocalObjective


class _Metric:
    """Shared adapters; subclasses define ``name`` and ``value(raw, labels, weight)``."""

    name = ""
    num_class: int | None = None

    def value(self, raw: object, labels: object, weight: object = None) -> float:
        raise NotImplementedError

    def _natural(self, preds: Any, n: int) -> Array:
        """LightGBM 3's multi-class scores come flattened class by class."""
        array = np.asarray(preds, dtype=np.float64)
        k = self.num_class
        if k is not None and array.ndim == 1:
            return np.asarray(array.reshape(k, n).T)
        return array

    @property
    def lightgbm(self) -> Callable[[Array, Any], tuple[str, float, bool]]:
        """``lgb.train(..., feval=metric.lightgbm)`` (with ``"metric": "None"`` in params to
        leave LightGBM's own metric out): (name, value, is_higher_better=False)."""

        def feval(preds: Array, data: Any) -> tuple[str, float, bool]:
            labels = data.get_label()
            raw = self._natural(preds, len(labels))
            return self.name, self.value(raw, labels, data.get_weight()), False

        return feval

    @property
    def lightgbm_sklearn(self) -> Callable[[Array, Array, Array | None], tuple[str, float, bool]]:
        """``LGBMClassifier(...).fit(..., eval_metric=metric.lightgbm_sklearn)``."""

        def feval(y_true: Array, y_pred: Array, weight: Array | None) -> tuple[str, float, bool]:
            raw = self._natural(y_pred, len(y_true))
            return self.name, self.value(raw, y_true, weight), False

        return feval

    @property
    def xgboost(self) -> Callable[[Array, Any], tuple[str, float]]:
        """``xgb.train(..., custom_metric=metric.xgboost)`` (with ``disable_default_eval_metric``
        in params): (name, value); XGBoost minimises it unless told otherwise."""

        def feval(predt: Array, dmatrix: Any) -> tuple[str, float]:
            return self.name, self.value(predt, dmatrix.get_label(), dmatrix.get_weight())

        return feval

    @property
    def xgboost_sklearn(self) -> Callable[..., float]:
        """``XGBClassifier(eval_metric=metric.xgboost_sklearn)``: a scikit-learn style metric
        named after the metric. With a custom objective (``focal.xgboost_sklearn``)
        XGBClassifier hands it margins (raw scores), which is what it expects."""

        def feval(y_true: Array, y_pred: Array, sample_weight: Array | None = None) -> float:
            return self.value(y_pred, y_true, sample_weight)

        feval.__name__ = self.name
        return feval

    def catboost(self) -> CatBoostMetric:
        """An object for ``CatBoostClassifier(eval_metric=metric.catboost())``."""
        return CatBoostMetric(self)


class FocalLossMetric(_Metric):
    """The weighted mean focal loss of a :class:`FocalObjective`, named ``focal_loss``."""

    name = "focal_loss"

    def __init__(self, objective: FocalObjective) -> None:
        if not isinstance(objective, FocalObjective):
            raise TypeError(f"objective must be a FocalObjective; got {type(objective).__name__}")
        self.objective = objective
        self.num_class = objective.num_class

    def value(self, raw: object, labels: object, weight: object = None) -> float:
        losses = self.objective.loss(raw, labels, weight)
        n = losses.shape[0]
        w = check.weights(weight, n)
        total = float(n) if w is None else float(w.sum())
        return float(losses.sum() / total) if total > 0 else float("nan")


class BalancedLogLoss(_Metric):
    """The balanced log loss: the mean over classes of each class's mean log loss.

    -(1 / C) sum_c (1 / W_c) sum_{i: y_i = c} w_i log p_{i, c}, W_c the weight of class c
    (classes absent from the labels are left out). Every class counts the same however rare,
    which is what an imbalanced problem's early stopping should watch.

    Args:
        num_class: None for binary (raw score = logit), K for softmax raw scores.
    """

    name = "balanced_logloss"

    def __init__(self, num_class: int | None = None) -> None:
        if num_class is not None and (
            isinstance(num_class, bool) or not isinstance(num_class, int) or num_class < 2
        ):
            raise ValueError(f"num_class must be None or an int >= 2; got {num_class!r}")
        self.num_class = num_class

    def value(self, raw: object, labels: object, weight: object = None) -> float:
        k = 2 if self.num_class is None else self.num_class
        y = check.labels(labels, k)
        x = check.raw(raw, y.shape[0], self.num_class)
        w = check.weights(weight, y.shape[0])
        if self.num_class is None:
            # -log p_y = softplus(-x) for y = 1, softplus(x) for y = 0
            nll = np.logaddexp(0.0, np.where(y == 1, -x, x))
        else:
            nll = -_math._log_softmax(x)[np.arange(y.shape[0]), y]
        ones = np.ones_like(nll) if w is None else w
        per_class_weight = np.bincount(y, weights=ones, minlength=k)
        per_class_loss = np.bincount(y, weights=ones * nll, minlength=k)
        present = per_class_weight > 0
        return float((per_class_loss[present] / per_class_weight[present]).mean())


class CatBoostMetric:
    """CatBoost's custom metric protocol (``evaluate`` / ``get_final_error``), lower better."""

    def __init__(self, metric: _Metric) -> None:
        self.metric = metric

    def is_max_optimal(self) -> bool:
        return False

    def evaluate(
        self,
        approxes: Sequence[Sequence[float]],
        target: Sequence[float],
        weight: Sequence[float] | None,
    ) -> tuple[float, float]:
        # CatBoost hands one sequence per dimension; the value is already a mean, so it is
        # returned with weight 1 and get_final_error divides by that.
        raw = np.asarray([np.asarray(a, dtype=np.float64) for a in approxes])
        raw = raw[0] if self.metric.num_class is None else raw.T
        return self.metric.value(raw, np.asarray(target), weight), 1.0

    def get_final_error(self, error: float, weight: float) -> float:
        return error / weight if weight else error
