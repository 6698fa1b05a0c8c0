"""torchfocal.boosting: the NumPy objectives against torchfocal's torch losses (autograd, second
derivatives with create_graph), finite differences, and the real LightGBM, XGBoost and CatBoost.

The torch losses are the one source of truth: every gradient and Hessian here is compared with
torch.autograd on sigmoid_focal_loss / softmax_focal_loss. Data are small (a few hundred rows,
a few dozen rounds) so that the whole file runs in seconds on a 2-core machine.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np
import pytest
import torch

import torchfocal
from conftest import installed
from torchfocal.boosting import (
    HESSIAN_MODES,
    BalancedLogLoss,
    FocalLossMetric,
    FocalObjective,
    class_balanced_weights,
)


class _Framework:
    """A boosting library, imported on its first use: every pytest-xdist worker collects
    this module, and importing the three after torch took 1.8 s (three runs, 1.79 to
    1.85 s, on the 2-core CI machine) of each worker's start."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):  # pytest's collection asks for __test__ and the like
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self.name), attribute)


pytestmark = installed("lightgbm", "xgboost", "catboost")
lgb, xgb, cb = _Framework("lightgbm"), _Framework("xgboost"), _Framework("catboost")

GAMMAS = [0.0, 0.5, 2.0, 4.0]


def _binary_data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 4.0, n)
    y = rng.integers(0, 2, n)
    w = rng.uniform(0.2, 2.0, n)
    return x, y, w


def _multi_data(n: int = 40, k: int = 4, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 3.0, (n, k)), rng.integers(0, k, n), rng.uniform(0.2, 2.0, n)


def _torch_binary(x, y, w, gamma, alpha, eps):  # type: ignore[no-untyped-def]
    """Gradient, Hessian diagonal and per-sample loss of sigmoid_focal_loss by autograd."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    per = torchfocal.sigmoid_focal_loss(
        xt,
        torch.tensor(y, dtype=torch.float64),
        alpha=alpha,
        gamma=gamma,
        label_smoothing=eps,
        reduction="none",
    )
    total = (per * torch.tensor(w)).sum()
    (grad,) = torch.autograd.grad(total, xt, create_graph=True)
    (hess,) = torch.autograd.grad(grad.sum(), xt)  # elementwise loss: the Hessian is diagonal
    return grad.detach().numpy(), hess.numpy(), per.detach().numpy()


def _torch_multi(z, y, w, gamma, alpha, eps):  # type: ignore[no-untyped-def]
    """Gradient, full Hessian (n, K, K) and per-sample loss of softmax_focal_loss by autograd."""
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    per = torchfocal.softmax_focal_loss(
        zt,
        torch.tensor(y),
        alpha=None if alpha is None else torch.tensor(alpha, dtype=torch.float64),
        gamma=gamma,
        label_smoothing=eps,
        reduction="none",
    )
    total = (per * torch.tensor(w)).sum()
    (grad,) = torch.autograd.grad(total, zt, create_graph=True)
    rows = [
        torch.autograd.grad(grad[:, j].sum(), zt, retain_graph=True)[0] for j in range(z.shape[1])
    ]
    return grad.detach().numpy(), torch.stack(rows, 1).numpy(), per.detach().numpy()


# --------------------------------------------------------------------------------------
# The math against torch autograd and finite differences


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_binary_matches_torch_autograd(gamma: float, alpha: float | None, eps: float) -> None:
    x, y, w = _binary_data()
    grad_t, hess_t, loss_t = _torch_binary(x, y, w, gamma, alpha, eps)
    focal = FocalObjective(gamma, alpha, label_smoothing=eps, hessian="exact")
    grad, hess = focal.gradient_hessian(x, y, w)
    np.testing.assert_allclose(focal.loss(x, y), loss_t, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(hess, hess_t, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", [None, [0.1, 0.2, 0.3, 0.4]])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_multiclass_matches_torch_autograd(
    gamma: float, alpha: list[float] | None, eps: float
) -> None:
    z, y, w = _multi_data()
    grad_t, full_t, loss_t = _torch_multi(z, y, w, gamma, alpha, eps)
    focal = FocalObjective(gamma, alpha, num_class=4, label_smoothing=eps, hessian="exact")
    np.testing.assert_allclose(focal.loss(z, y), loss_t, rtol=1e-12, atol=1e-14)
    grad, diag = focal.gradient_hessian(z, y, w)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(diag, np.diagonal(full_t, axis1=1, axis2=2), rtol=1e-9, atol=1e-13)
    _, full = focal.gradient_hessian(z, y, w, full=True)
    np.testing.assert_allclose(full, full_t, rtol=1e-9, atol=1e-13)


def test_class_weight_matches_torch() -> None:
    """Binary: class_weight[y] scales each sample; multi-class: it multiplies alpha_c, which is
    softmax_focal_loss's alpha times F.cross_entropy-style class weights."""
    x, y, _ = _binary_data()
    cw = np.array([0.3, 1.7])
    grad_t, hess_t, _ = _torch_binary(x, y, cw[y], 2.0, 0.25, 0.0)
    grad, hess = FocalObjective(2.0, 0.25, class_weight=cw, hessian="exact").gradient_hessian(x, y)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-10)
    np.testing.assert_allclose(hess, hess_t, rtol=1e-10, atol=1e-14)
    z, yk, w = _multi_data()
    alpha, cwk = np.array([0.1, 0.2, 0.3, 0.4]), np.array([2.0, 1.0, 0.5, 3.0])
    grad_t, full_t, _ = _torch_multi(z, yk, w, 2.0, (alpha * cwk).tolist(), 0.0)
    focal = FocalObjective(2.0, alpha, num_class=4, class_weight=cwk, hessian="exact")
    grad, diag = focal.gradient_hessian(z, yk, w)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(diag, np.diagonal(full_t, axis1=1, axis2=2), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_finite_differences(gamma: float) -> None:
    """Central differences of the loss give the gradient, of the gradient the Hessian."""
    h = 1e-5
    x, y, _ = _binary_data(20)
    focal = FocalObjective(gamma, 0.25, label_smoothing=0.05, hessian="exact")
    grad, hess = focal.gradient_hessian(x, y)
    np.testing.assert_allclose(
        (focal.loss(x + h, y) - focal.loss(x - h, y)) / (2 * h), grad, rtol=1e-6, atol=1e-9
    )
    g_plus, _ = focal.gradient_hessian(x + h, y)
    g_minus, _ = focal.gradient_hessian(x - h, y)
    np.testing.assert_allclose((g_plus - g_minus) / (2 * h), hess, rtol=1e-5, atol=1e-8)
    z, yk, _ = _multi_data(10, 3)
    multi = FocalObjective(gamma, [0.2, 0.3, 0.5], num_class=3, hessian="exact")
    grad, full = multi.gradient_hessian(z, yk, full=True)
    for j in range(3):
        step = np.zeros(3)
        step[j] = h
        numeric = (multi.loss(z + step, yk) - multi.loss(z - step, yk)) / (2 * h)
        np.testing.assert_allclose(numeric, grad[:, j], rtol=1e-6, atol=1e-9)
        g_plus, _ = multi.gradient_hessian(z + step, yk)
        g_minus, _ = multi.gradient_hessian(z - step, yk)
        np.testing.assert_allclose((g_plus - g_minus) / (2 * h), full[:, :, j], atol=1e-7)


@pytest.mark.parametrize("gamma", [0.0, 0.2, 0.5, 2.0, 10.0])
@pytest.mark.parametrize("mode", HESSIAN_MODES)
def test_finite_at_extreme_scores(gamma: float, mode: str) -> None:
    """gamma < 1 included: (1 - p_t)^(gamma - 1) never appears unguarded."""
    big = np.finfo(np.float64).max
    x = np.array([-big, -1e5, -40.0, -1e-12, 0.0, 40.0, 1e5, big])
    for y in (0, 1):
        for eps in (0.0, 0.1):
            focal = FocalObjective(gamma, 0.25, label_smoothing=eps, hessian=mode)  # type: ignore[arg-type]
            for value in (*focal.gradient_hessian(x, np.full(8, y)), focal.loss(x, np.full(8, y))):
                assert np.isfinite(value).all(), (y, eps, value)
    z = np.array([[1e5, 0.0, -1e5], [-800.0, 0.0, 800.0], [0.0, 0.0, 0.0], [1e300, -1e300, 0]])
    multi = FocalObjective(gamma, num_class=3, hessian=mode)  # type: ignore[arg-type]
    for y in range(3):
        labels = np.full(4, y)
        for full in (False, True):
            for value in multi.gradient_hessian(z, labels, full=full):
                assert np.isfinite(value).all(), (y, full, value)


# --------------------------------------------------------------------------------------
# Hessian modes


def test_exact_hessian_is_negative_where_the_theory_says() -> None:
    """The reason for the modes: d2L/dx2 < 0 for a badly wrong positive at gamma 2
    (x_t < -(1 + 2 gamma) / gamma roughly), and >= 0 at gamma 0."""
    x = np.linspace(-12, 12, 241)
    y = np.ones_like(x, dtype=int)
    _, exact = FocalObjective(2.0, hessian="exact").gradient_hessian(x, y)
    assert exact.min() < 0
    assert (exact[x > 0] > 0).all()
    _, logistic = FocalObjective(0.0, hessian="exact").gradient_hessian(x, y)
    assert (logistic > 0).all()


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_hessian_modes(gamma: float) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 6, 500), rng.integers(0, 2, 500)
    z, yk = rng.normal(0, 6, (300, 4)), rng.integers(0, 4, 300)
    for eps in (0.0, 0.1):
        for k, raw, labels in ((None, x, y), (4, z, yk)):
            alpha: Any = 0.25 if k is None else [0.1, 0.2, 0.3, 0.4]
            modes = {
                mode: FocalObjective(
                    gamma,
                    alpha,
                    num_class=k,
                    label_smoothing=eps,
                    hessian=mode,  # type: ignore[arg-type]
                ).gradient_hessian(raw, labels)[1]
                for mode in HESSIAN_MODES
            }
            exact, fisher = modes["exact"], modes["fisher"]
            assert (fisher >= 0).all()
            assert (modes["clipped"] >= 1e-6).all()
            np.testing.assert_array_equal(modes["clipped"], np.maximum(exact, 1e-6))
            assert (modes["upper"] >= exact - 1e-15).all()
            np.testing.assert_allclose(modes["upper"], np.maximum((1 + gamma) ** 2 * fisher, exact))
            if k is None and eps == 0:  # the bound is proven there: no max needed
                assert (exact <= (1 + gamma) ** 2 * fisher + 1e-15).all()
            if gamma == 0:
                np.testing.assert_allclose(fisher, exact, rtol=1e-12, atol=1e-15)


def test_full_hessian_modes_for_catboost() -> None:
    z, y, _ = _multi_data(30, 3)
    for mode in ("fisher", "upper", "clipped"):
        focal = FocalObjective(2.0, num_class=3, hessian=mode)  # type: ignore[arg-type]
        _, full = focal.gradient_hessian(z, y, full=True)
        eigenvalues = np.linalg.eigvalsh(full)
        assert (eigenvalues >= -1e-12).all(), mode
        np.testing.assert_allclose(full, full.transpose(0, 2, 1), atol=1e-15)
    _, clipped = FocalObjective(2.0, num_class=3, hessian="clipped").gradient_hessian(
        z, y, full=True
    )
    assert np.linalg.eigvalsh(clipped).min() >= 1e-6 * (1 - 1e-9)


# --------------------------------------------------------------------------------------
# Library conventions


def test_library_factors_layouts_and_signs() -> None:
    z, y, w = _multi_data(30, 3)
    focal = FocalObjective(2.0, [0.2, 0.3, 0.5], num_class=3, hessian="exact")
    grad, hess = focal.gradient_hessian(z, y, w)

    class Data:
        def get_label(self) -> np.ndarray:
            return y.astype(np.float32)

        def get_weight(self) -> np.ndarray:
            return w

    g, h = focal.lightgbm(z, Data())
    np.testing.assert_allclose(g, grad)
    np.testing.assert_allclose(h, 3 / 2 * hess)
    # LightGBM 3's layout: one flat array, class by class
    g_flat, h_flat = focal.lightgbm(z.T.ravel(), Data())
    np.testing.assert_allclose(g_flat, grad.T.ravel())
    np.testing.assert_allclose(h_flat, 3 / 2 * hess.T.ravel())
    g, h = focal.xgboost(z, Data())
    np.testing.assert_allclose(h, 2 * hess)
    g, h = focal.xgboost_sklearn(y, z, sample_weight=w)
    np.testing.assert_allclose(g, grad)
    derivatives = focal.catboost().calc_ders_multi(z[0].tolist(), float(y[0]), float(w[0]))
    _, full = focal.gradient_hessian(z[:1], y[:1], w[:1], full=True)
    np.testing.assert_allclose(derivatives[0], -grad[0])
    np.testing.assert_allclose(derivatives[1], -full[0])
    x, yb, wb = _binary_data(10)
    binary = FocalObjective(2.0, 0.25)
    grad, hess = binary.gradient_hessian(x, yb, wb)
    pairs = binary.catboost().calc_ders_range(x.tolist(), yb.tolist(), wb.tolist())
    np.testing.assert_allclose(np.array(pairs), -np.stack([grad, hess], 1))


LGB_PARAMS = {
    "learning_rate": 0.2,
    "num_leaves": 7,
    "min_data_in_leaf": 5,
    "verbose": -1,
    "deterministic": True,
    "num_threads": 1,
    "seed": 0,
}
XGB_PARAMS = {"max_depth": 3, "eta": 0.2, "nthread": 1, "seed": 0}
CB_PARAMS = {
    "iterations": 15,
    "learning_rate": 0.2,
    "depth": 3,
    "random_seed": 0,
    "verbose": 0,
    "thread_count": 1,
    "bootstrap_type": "No",
    "random_strength": 0,
    "leaf_estimation_iterations": 1,
    "leaf_estimation_method": "Newton",
    "boost_from_average": False,
    "allow_writing_files": False,
}


@pytest.fixture(autouse=True)
def _no_files_written(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every test runs in an empty folder and leaves it empty: CatBoost writes its
    catboost_info/ logs into the working directory unless told not to."""
    monkeypatch.chdir(tmp_path)
    yield
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        300, 6, n_informative=4, n_classes=3, weights=[0.7, 0.2, 0.1], random_state=0
    )
    return {"X": x, "y": y, "yb": (y == 2).astype(int), "w": np.linspace(0.5, 1.5, 300)}


@pytest.mark.parametrize("k", [None, 3])
def test_gamma0_is_lightgbms_own_objective(data: dict[str, np.ndarray], k: int | None) -> None:
    y = data["yb"] if k is None else data["y"]
    builtin = {"objective": "binary"} if k is None else {"objective": "multiclass", "num_class": k}
    focal = FocalObjective(0.0, num_class=k, hessian="exact")
    custom = (
        {"objective": focal.lightgbm}
        if k is None
        else {"objective": focal.lightgbm, "num_class": k}
    )
    train = lgb.Dataset(data["X"], y, weight=data["w"])
    a = lgb.train({**LGB_PARAMS, **builtin, "boost_from_average": False}, train, 15)
    train = lgb.Dataset(data["X"], y, weight=data["w"])
    b = lgb.train({**LGB_PARAMS, **custom}, train, 15)
    np.testing.assert_allclose(
        a.predict(data["X"], raw_score=True), b.predict(data["X"], raw_score=True), atol=1e-6
    )
    # the scikit-learn interface, weight passed as the third argument
    sk_a = lgb.LGBMClassifier(n_estimators=15, boost_from_average=False, **LGB_PARAMS)
    sk_b = lgb.LGBMClassifier(n_estimators=15, objective=focal.lightgbm_sklearn, **LGB_PARAMS)
    sk_a.fit(data["X"], y, sample_weight=data["w"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "returning raw scores" for the custom objective
        sk_b.fit(data["X"], y, sample_weight=data["w"])
        raw_b = sk_b.predict(data["X"], raw_score=True)
    np.testing.assert_allclose(sk_a.predict(data["X"], raw_score=True), raw_b, atol=1e-6)


@pytest.mark.parametrize("k", [None, 3])
def test_gamma0_is_xgboosts_own_objective(data: dict[str, np.ndarray], k: int | None) -> None:
    y, n = (data["yb"] if k is None else data["y"]), len(data["y"])
    zero = np.zeros(n) if k is None else np.zeros((n, k))
    builtin = (
        {"objective": "binary:logistic"}
        if k is None
        else {"objective": "multi:softprob", "num_class": k}
    )
    focal = FocalObjective(0.0, num_class=k, hessian="exact")
    extra = {} if k is None else {"num_class": k}
    train = xgb.DMatrix(data["X"], y, weight=data["w"], base_margin=zero)
    a = xgb.train({**XGB_PARAMS, **builtin}, train, 15)
    b = xgb.train(
        {**XGB_PARAMS, **extra, "disable_default_eval_metric": 1}, train, 15, obj=focal.xgboost
    )
    np.testing.assert_allclose(
        a.predict(train, output_margin=True), b.predict(train, output_margin=True), atol=1e-6
    )
    sk_a = xgb.XGBClassifier(n_estimators=15, max_depth=3, learning_rate=0.2, n_jobs=1)
    sk_b = xgb.XGBClassifier(
        n_estimators=15, max_depth=3, learning_rate=0.2, n_jobs=1, objective=focal.xgboost_sklearn
    )
    sk_a.fit(data["X"], y, sample_weight=data["w"], base_margin=zero)
    sk_b.fit(data["X"], y, sample_weight=data["w"], base_margin=zero)
    np.testing.assert_allclose(
        sk_a.predict_proba(data["X"], base_margin=zero),
        sk_b.predict_proba(data["X"], base_margin=zero),
        atol=1e-6,
    )


@pytest.mark.parametrize("k", [None, 3])
def test_gamma0_is_catboosts_own_objective(data: dict[str, np.ndarray], k: int | None) -> None:
    rows = slice(0, 150) if k is not None else slice(None)  # per-object Python calls: keep small
    x, y = data["X"][rows], (data["yb"] if k is None else data["y"])[rows]
    focal = FocalObjective(0.0, num_class=k, hessian="exact")
    builtin = "Logloss" if k is None else "MultiClass"
    a = cb.CatBoostClassifier(loss_function=builtin, **CB_PARAMS).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba is not installed: the Python callbacks run as is
        b = cb.CatBoostClassifier(loss_function=focal.catboost(), eval_metric=builtin, **CB_PARAMS)
        b.fit(x, y)
    np.testing.assert_allclose(
        a.predict(x, prediction_type="RawFormulaVal"),
        b.predict(x, prediction_type="RawFormulaVal"),
        atol=1e-6,
    )


def test_catboost_focal_is_the_exact_mode(data: dict[str, np.ndarray]) -> None:
    """docs/migration.md: CatBoost's own Focal loss is FocalObjective(g, a, hessian="exact"),
    the same metric value and, with Newton leaves, the same trees."""
    from catboost.utils import eval_metric

    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 3, 200), rng.integers(0, 2, 200)
    for a, g in ((0.25, 2.0), (0.5, 0.5)):
        theirs = eval_metric(y.astype(float), x, f"Focal:focal_alpha={a};focal_gamma={g}")[0]
        assert FocalLossMetric(FocalObjective(g, a)).value(x, y) == pytest.approx(theirs)
    x, y = data["X"], data["yb"]
    builtin = cb.CatBoostClassifier(
        loss_function="Focal:focal_alpha=0.25;focal_gamma=2", **CB_PARAMS
    )
    focal = FocalObjective(2.0, 0.25, hessian="exact")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = cb.CatBoostClassifier(
            loss_function=focal.catboost(), eval_metric="Logloss", **CB_PARAMS
        )
        ours.fit(x, y)
    builtin.fit(x, y)
    np.testing.assert_allclose(
        builtin.predict(x, prediction_type="RawFormulaVal"),
        ours.predict(x, prediction_type="RawFormulaVal"),
        atol=1e-6,
    )


def test_docs_page_examples_run() -> None:
    """docs/boosting.md's Python blocks run as a reader copies them (one per library)."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "boosting.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 3
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"docs/boosting.md, block {number}", "exec"), {"__name__": "docs"})


# --------------------------------------------------------------------------------------
# Initial score and training


def test_init_score() -> None:
    y = np.array([1] * 10 + [0] * 90)
    # gamma 0, no alpha: the log odds
    assert FocalObjective(0.0).init_score(y) == pytest.approx(np.log(10 / 90), abs=1e-10)
    for gamma, alpha in ((2.0, 0.25), (0.5, None), (2.0, 0.9)):
        focal = FocalObjective(gamma, alpha)
        b = focal.init_score(y)
        assert isinstance(b, float)
        grad, _ = focal.gradient_hessian(np.full(100, b), y)
        assert abs(grad.sum()) < 1e-9
        for delta in (-1e-3, 1e-3):  # a minimum, not a maximum
            assert (
                focal.loss(np.full(100, b + delta), y).sum() > focal.loss(np.full(100, b), y).sum()
            )
    yk = np.array([0] * 70 + [1] * 20 + [2] * 10)
    priors = np.log([0.7, 0.2, 0.1])
    np.testing.assert_allclose(
        FocalObjective(0.0, num_class=3).init_score(yk), priors - priors.mean(), atol=1e-8
    )
    focal = FocalObjective(2.0, [0.2, 0.3, 0.5], num_class=3)
    b = np.asarray(focal.init_score(yk))
    grad, _ = focal.gradient_hessian(np.tile(b, (100, 1)), yk)
    np.testing.assert_allclose(grad.sum(axis=0), 0.0, atol=1e-10)
    assert focal.init_scores(yk).shape == (100, 3)
    assert FocalObjective().init_scores(y, rows=7).shape == (7,)
    # a class absent from the labels: far below the others, which keep their optimum
    absent = FocalObjective(0.0, num_class=4).init_score(yk)
    np.testing.assert_allclose(absent[:3] - absent[:3].mean(), priors - priors.mean(), atol=1e-8)
    assert absent[3] <= absent[:3].min() - 30 + 1e-9
    with pytest.raises(ValueError, match="labels must hold both classes"):
        FocalObjective().init_score(np.zeros(5, dtype=int))


@pytest.mark.parametrize("mode", HESSIAN_MODES)
def test_training_converges(data: dict[str, np.ndarray], mode: str) -> None:
    """gamma 2 focal training lowers the focal loss on the training data from the init score
    in all three libraries, and early stopping on the focal metric works."""
    x, y = data["X"], data["yb"]
    focal = FocalObjective(2.0, 0.25, hessian=mode)  # type: ignore[arg-type]
    metric = FocalLossMetric(focal)
    start = metric.value(focal.init_scores(y), y)
    init = focal.init_scores(y)
    history: dict[str, Any] = {}
    booster = lgb.train(
        {**LGB_PARAMS, "objective": focal.lightgbm, "metric": "None"},
        lgb.Dataset(x, y, init_score=init),
        30,
        valid_sets=[lgb.Dataset(x, y, init_score=init)],
        feval=metric.lightgbm,
        callbacks=[lgb.record_evaluation(history)],
    )
    curve = history["valid_0"]["focal_loss"]
    assert curve[-1] < 0.5 * start and curve[-1] <= min(curve[:5])
    raw = booster.predict(x, raw_score=True) + init
    assert metric.value(raw, y) == pytest.approx(curve[-1], rel=1e-9)
    train = xgb.DMatrix(x, y, base_margin=init)
    log: dict[str, Any] = {}
    xgb.train(
        {**XGB_PARAMS, "disable_default_eval_metric": 1},
        train,
        30,
        obj=focal.xgboost,
        custom_metric=metric.xgboost,
        evals=[(train, "train")],
        evals_result=log,
        verbose_eval=False,
    )
    assert log["train"]["focal_loss"][-1] < 0.7 * start  # XGBoost: lambda = 1 by default
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # CatBoost's default L2 leaf penalty (3) shrinks the small focal steps: 30 rounds
        model = cb.CatBoostClassifier(
            loss_function=focal.catboost(),
            eval_metric=metric.catboost(),
            **{**CB_PARAMS, "iterations": 30},
        ).fit(cb.Pool(x, y, baseline=init), eval_set=cb.Pool(x, y, baseline=init))
    # (the Fisher mode's smaller Hessians feel that penalty most: a looser bar)
    assert model.get_best_score()["validation"]["CatBoostMetric"] < 0.7 * start


def test_multiclass_training_converges(data: dict[str, np.ndarray]) -> None:
    x, y = data["X"], data["y"]
    focal = FocalObjective(2.0, [0.2, 0.3, 0.5], num_class=3)
    metric = FocalLossMetric(focal)
    init = focal.init_scores(y)
    start = metric.value(init, y)
    booster = lgb.train(
        {**LGB_PARAMS, "objective": focal.lightgbm, "num_class": 3},
        lgb.Dataset(x, y, init_score=init),
        30,
    )
    assert metric.value(booster.predict(x, raw_score=True) + init, y) < 0.5 * start
    train = xgb.DMatrix(x, y, base_margin=init)
    booster_x = xgb.train({**XGB_PARAMS, "num_class": 3}, train, 30, obj=focal.xgboost)
    assert metric.value(booster_x.predict(train, output_margin=True), y) < 0.5 * start


# --------------------------------------------------------------------------------------
# Metrics and weights


def test_metrics() -> None:
    from sklearn.metrics import log_loss

    x, y, w = _binary_data(200)
    focal = FocalObjective(2.0, 0.25)
    _, _, per = _torch_binary(x, y, w, 2.0, 0.25, 0.0)
    assert FocalLossMetric(focal).value(x, y, w) == pytest.approx((per * w).sum() / w.sum())
    # balanced log loss: sklearn's log loss with each class's weights scaled to the same total
    p = 1 / (1 + np.exp(-x))
    balanced = w / np.bincount(y, weights=w)[y]
    expected = log_loss(y, p, sample_weight=balanced)
    assert BalancedLogLoss().value(x, y, w) == pytest.approx(expected, rel=1e-9)
    z, yk, wk = _multi_data(100, 3)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    balanced = wk / np.bincount(yk, weights=wk)[yk]
    assert BalancedLogLoss(3).value(z, yk, wk) == pytest.approx(
        log_loss(yk, probs, sample_weight=balanced), rel=1e-9
    )
    name, value, higher = BalancedLogLoss(3).lightgbm_sklearn(yk, z.T.ravel(), wk)
    assert (name, higher) == ("balanced_logloss", False)
    assert value == pytest.approx(BalancedLogLoss(3).value(z, yk, wk))
    assert BalancedLogLoss(3).xgboost_sklearn.__name__ == "balanced_logloss"
    error, weight = BalancedLogLoss(3).catboost().evaluate(z.T.tolist(), yk.tolist(), None)
    assert error / weight == pytest.approx(BalancedLogLoss(3).value(z, yk))


def test_class_balanced_weights_match_torchfocal() -> None:
    counts = [5000, 120, 7, 1]
    for beta in (0.0, 0.9, 0.999, 0.9999):
        np.testing.assert_allclose(
            class_balanced_weights(counts, beta),
            torchfocal.class_balanced_weights(counts, beta=beta).double().numpy(),
            rtol=1e-6,
        )
    with pytest.raises(ValueError, match="beta must be in"):
        class_balanced_weights(counts, 1.0)


# --------------------------------------------------------------------------------------
# Errors: one line, naming the argument


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: FocalObjective(gamma=-1.0), ValueError, "gamma must be >= 0"),
        (lambda: FocalObjective(gamma="2"), TypeError, "gamma must be a number"),
        (lambda: FocalObjective(gamma=float("nan")), ValueError, "gamma must be finite"),
        (lambda: FocalObjective(alpha=1.5), ValueError, "alpha must be in"),
        (lambda: FocalObjective(alpha=[0.25, 0.75]), TypeError, "alpha must be a float"),
        (lambda: FocalObjective(alpha=0.25, num_class=3), ValueError, "alpha must be 3 per-class"),
        (lambda: FocalObjective(alpha=[1, 2], num_class=3), ValueError, "alpha must have 3 values"),
        (lambda: FocalObjective(alpha=[1, -2, 1], num_class=3), ValueError, "alpha must be finite"),
        (lambda: FocalObjective(num_class=1), ValueError, "num_class must be >= 2"),
        (lambda: FocalObjective(num_class=2.0), TypeError, "num_class must be an int"),
        (lambda: FocalObjective(label_smoothing=1.0), ValueError, "label_smoothing must be in"),
        (lambda: FocalObjective(hessian="newton"), ValueError, "hessian must be one of"),
        (lambda: FocalObjective(hessian_floor=0.0), ValueError, "hessian_floor must be > 0"),
        (lambda: FocalObjective(class_weight=[1.0]), ValueError, "class_weight must have 2"),
    ],
)
def test_bad_arguments(make: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as info:
        make()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "labels", "weight", "message"),
    [
        (np.zeros(3), np.array([0, 1, 2]), None, r"labels must be integers in \[0, 1\]; got 2"),
        (np.zeros(3), np.array([0, 1, 0.5]), None, "labels must be integers"),
        (np.zeros(3), np.array([0, 1, -1]), None, "labels must be integers"),
        (np.array([0.0, np.nan, 0.0]), np.array([0, 1, 0]), None, "raw scores must be finite"),
        (np.array([0.0, np.inf, 0.0]), np.array([0, 1, 0]), None, "raw scores must be finite"),
        (np.zeros(4), np.array([0, 1, 0]), None, r"raw scores must have shape \(3,\)"),
        (np.zeros(3), np.array([0, 1, 0]), np.ones(2), "weight must have shape"),
        (np.zeros(3), np.array([0, 1, 0]), np.array([1, -1, 1]), "weight must be finite"),
    ],
)
def test_bad_inputs(raw: Any, labels: Any, weight: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        FocalObjective().gradient_hessian(raw, labels, weight)
    assert "\n" not in str(info.value)


def test_bad_multiclass_inputs() -> None:
    focal = FocalObjective(num_class=3)
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 2\]; got 3"):
        focal.gradient_hessian(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"raw scores must have shape \(2, 3\)"):
        focal.gradient_hessian(np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="calc_ders_range is the binary protocol"):
        focal.catboost().calc_ders_range([0.0], [0.0], None)
    with pytest.raises(ValueError, match="calc_ders_multi is the multi-class protocol"):
        FocalObjective().catboost().calc_ders_multi([0.0, 0.0], 0.0, None)
    with pytest.raises(TypeError, match="objective must be a FocalObjective"):
        FocalLossMetric("focal")  # type: ignore[arg-type]
