"""Which Hessian should a focal objective hand a Newton booster? Evidence on real data.

For each data set, library (LightGBM, XGBoost) and Hessian mode of
``torchfocal.boosting.FocalObjective`` (gamma 2; alpha 0.25, and no alpha), trains from the
optimal constant score over 3 seeds and records the training focal loss at a few rounds, the
held-out focal
loss and average precision, the share of exact second derivatives that were negative at the
start or the end, and the seconds per run. Two starts: the focal loss's optimal constant, and
the log prior (where log loss's boost_from_average starts). Every mode gets the same
regularisation (L2 leaf penalty and minimum leaf Hessian scaled by the Fisher form's mean
Hessian at the initial score), so the modes differ only in the Hessian.

Data (bundled with scikit-learn, no download), each made imbalanced by subsampling the
positives in training to 1 per 20 negatives; the held-out split keeps its natural ratio:
- breast_cancer: malignant vs benign, 30 features;
- digits_8: the digit 8 against the other nine, 64 pixel features (a harder problem);
- digits_8_noisy: the same with 5% of the training labels flipped (seeded), so that some
  samples stay badly misclassified: where the exact second derivative turns negative.

    python benchmarks/boosting_hessian.py          # writes results-boosting-hessian.json here
    python benchmarks/boosting_hessian.py --quick  # fewer rounds, not written
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split

from torchfocal.boosting import HESSIAN_MODES, FocalLossMetric, FocalObjective

GAMMA = 2.0
OUT = Path(__file__).with_name("results-boosting-hessian.json")
# (alpha, learning rate, start): "focal" starts from FocalObjective.init_score, "log_prior"
# from log(pi / (1 - pi)), where log loss's boost_from_average starts; there every positive
# has x_t below -2.79, where the exact second derivative of gamma 2 is negative.
CONFIGS = (
    (0.25, 0.1, "focal"),
    (0.25, 0.3, "focal"),
    (None, 0.1, "focal"),
    (None, 0.3, "focal"),
    (None, 0.1, "log_prior"),
)


def dataset(name: str, seed: int) -> tuple[np.ndarray, ...]:
    if name == "breast_cancer":
        bunch = load_breast_cancer()
        x, y = bunch.data, (bunch.target == 0).astype(np.int64)
    else:
        bunch = load_digits()
        x, y = bunch.data, (bunch.target == 8).astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.4, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    positives = np.flatnonzero(y_tr == 1)
    keep = max(3, round((y_tr == 0).sum() / 20))
    rows = np.sort(np.concatenate([np.flatnonzero(y_tr == 0), rng.choice(positives, keep, False)]))
    x_tr, y_tr = x_tr[rows], y_tr[rows].copy()
    if name == "digits_8_noisy":
        flip = rng.choice(len(y_tr), round(0.05 * len(y_tr)), replace=False)
        y_tr[flip] = 1 - y_tr[flip]
    return x_tr, y_tr, x_te, y_te


def run_one(
    library: str,
    mode: str,
    data: tuple[np.ndarray, ...],
    seed: int,
    rounds: int,
    lr: float,
    alpha: float | None,
    start: str = "focal",
) -> dict[str, Any]:
    x, y, x_te, y_te = data
    focal = FocalObjective(GAMMA, alpha, hessian=mode)  # type: ignore[arg-type]
    metric = FocalLossMetric(focal)
    if start == "focal":  # the constant that minimises the focal loss
        init = focal.init_scores(y)
    else:  # the log prior, where boost_from_average would start log loss
        init = np.full(len(y), np.log(y.mean() / (1 - y.mean())))
    init_te = np.full(len(y_te), float(init[0]))
    fisher = FocalObjective(GAMMA, alpha, hessian="fisher")
    exact = FocalObjective(GAMMA, alpha, hessian="exact")
    _, h_fisher = fisher.gradient_hessian(init, y)
    _, h_exact = exact.gradient_hessian(init, y)
    scale = float(h_fisher.mean())  # the same for every mode
    checkpoints = [c for c in (5, 10, 25, 50, 100, 200) if c <= rounds]
    started = time.perf_counter()
    if library == "lightgbm":
        import lightgbm as lgb

        params = {
            "objective": focal.lightgbm,
            "learning_rate": lr,
            "num_leaves": 8,
            "min_data_in_leaf": 5,
            "lambda_l2": scale,
            "min_sum_hessian_in_leaf": 1e-3 * scale,
            "num_threads": 1,
            "deterministic": True,
            "seed": seed,
            "verbose": -1,
        }
        booster = lgb.train(params, lgb.Dataset(x, y, init_score=init), rounds)
        seconds = time.perf_counter() - started
        curve = [
            metric.value(booster.predict(x, raw_score=True, num_iteration=c) + init, y)
            for c in checkpoints
        ]
        raw_te = booster.predict(x_te, raw_score=True) + init_te
        raw_end = booster.predict(x, raw_score=True) + init
    else:
        import xgboost as xgb

        params = {
            "eta": lr,
            "max_depth": 3,
            "lambda": scale,
            "min_child_weight": 1e-3 * scale,
            "nthread": 1,
            "seed": seed,
            "tree_method": "hist",
            "disable_default_eval_metric": 1,
        }
        train = xgb.DMatrix(x, y, base_margin=init)
        booster = xgb.train(params, train, rounds, obj=focal.xgboost)
        seconds = time.perf_counter() - started
        curve = [
            metric.value(booster.predict(train, output_margin=True, iteration_range=(0, c)), y)
            for c in checkpoints
        ]
        raw_te = booster.predict(xgb.DMatrix(x_te, base_margin=init_te), output_margin=True)
        raw_end = booster.predict(train, output_margin=True)
    _, h_end = exact.gradient_hessian(np.clip(np.nan_to_num(raw_end), -700, 700), y)
    raw_te = np.nan_to_num(np.asarray(raw_te, dtype=np.float64), nan=0.0)
    return {
        "checkpoints": checkpoints,
        "train_focal_loss": curve,
        "test_focal_loss": metric.value(np.clip(raw_te, -700, 700), y_te),
        "test_average_precision": float(average_precision_score(y_te, raw_te)),
        "negative_exact_share_at_init": float((h_exact < 0).mean()),
        "negative_exact_share_at_end": float((h_end < 0).mean()),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    rounds = 25 if args.quick else 200
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "config": {"gamma": GAMMA, "rounds": rounds, "seeds": args.seeds},
        "runs": {},
    }
    rows = []
    for name in ("breast_cancer", "digits_8", "digits_8_noisy"):
        datas = [dataset(name, seed) for seed in range(args.seeds)]
        for alpha, lr, start in CONFIGS:
            for library in ("lightgbm", "xgboost"):
                for mode in HESSIAN_MODES:
                    runs = [
                        run_one(library, mode, datas[s], s, rounds, lr, alpha, start)
                        for s in range(args.seeds)
                    ]
                    key = f"{name}/alpha{alpha}/lr{lr}/{start}/{library}/{mode}"
                    results["runs"][key] = runs
                    mean = [statistics.fmean(r["train_focal_loss"][i] for r in runs)
                            for i in range(len(runs[0]["checkpoints"]))]  # fmt: skip
                    ap = [r["test_average_precision"] for r in runs]
                    test = [r["test_focal_loss"] for r in runs]
                    negative = statistics.fmean(
                        max(r["negative_exact_share_at_init"], r["negative_exact_share_at_end"])
                        for r in runs
                    )
                    rows.append(
                        f"| {name} | {alpha} | {lr} | {start} | {library} | {mode} | "
                        f"{100 * negative:.1f} | "
                        + " | ".join(f"{m:.2e}" for m in mean)
                        + f" | {statistics.fmean(test):.4f} ± {statistics.stdev(test):.4f}"
                        f" | {100 * statistics.fmean(ap):.1f} ± {100 * statistics.stdev(ap):.1f}"
                        f" | {statistics.fmean(r['seconds'] for r in runs):.2f} |"
                    )
    checkpoints = next(iter(results["runs"].values()))[0]["checkpoints"]
    print(
        "| data | alpha | lr | start | library | hessian | exact < 0 % | "
        + " | ".join(f"train loss @{c}" for c in checkpoints)
        + " | test focal loss | test AP % | s / run |"
    )
    print("|---" * (7 + len(checkpoints) + 3) + "|")
    print("\n".join(rows))
    if not args.quick:
        OUT.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
