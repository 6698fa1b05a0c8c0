"""Focal and class-balanced objectives for gradient boosting: LightGBM, XGBoost, CatBoost.

NumPy only at run time: ``import torchfocal.boosting`` imports no torch (the package's top
level is lazy), so a boosting job does not pay torch's import and runs where torch cannot be
imported. The math is torchfocal's own: the tests check every gradient and Hessian here
against :func:`torchfocal.sigmoid_focal_loss` and :func:`torchfocal.softmax_focal_loss`
under torch autograd.

Example (LightGBM, binary)::

    import lightgbm as lgb
    from torchfocal.boosting import FocalObjective

    focal = FocalObjective(gamma=2.0, alpha=0.25)
    train = lgb.Dataset(X, y, init_score=focal.init_scores(y))
    booster = lgb.train({"objective": focal.lightgbm}, train)
    p = 1 / (1 + np.exp(-(booster.predict(X_test, raw_score=True) + focal.init_score(y))))

See docs/boosting.md for XGBoost, CatBoost, the Hessian modes and the evidence behind the
default.
"""

from ._math import HESSIAN_MODES
from ._metrics import BalancedLogLoss, CatBoostMetric, FocalLossMetric
from ._objective import CatBoostObjective, FocalObjective, class_balanced_weights

__all__ = [
    "HESSIAN_MODES",
    "BalancedLogLoss",
    "CatBoostMetric",
    "CatBoostObjective",
    "FocalLossMetric",
    "FocalObjective",
    "class_balanced_weights",
]
