"""``torchfocal demo --task tabular``: focal objectives for gradient-boosted trees.

scikit-learn's bundled breast-cancer data (569 real tumours, 30 features, no download), made
imbalanced by subsampling the malignant class in the training split to 1 in ``--imbalance``
(20 by default, about 5%), as the long-tail demo subsamples its digits. Each installed library
of LightGBM, XGBoost and CatBoost is trained with its own log loss, with log loss and Cui et
al.'s class-balanced weights, and with torchfocal's focal objective (gamma 2) in each Hessian
mode, over several seeds; the held-out split keeps its natural class ratio.

Fair regularisation: a fixed L2 leaf penalty (and a fixed minimum Hessian per leaf) shrinks
the focal loss's Newton steps more than log loss's, because its Hessians are smaller (by
(1 - p_t)^gamma). Each objective's penalty and minimum leaf Hessian are therefore scaled by
the ratio of its mean Hessian at the initial score to log loss's (the Fisher form for every
focal mode, so that the modes differ in nothing but the Hessian they hand the library).

NumPy, scikit-learn and the boosting libraries are imported here only; torch is not used.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from ._common import CLIError, compare, plain_table, print_table, require, writable_dir

LIBRARIES = ("lightgbm", "xgboost", "catboost")
OBJECTIVES: dict[str, str] = {
    "logloss": "log loss",
    "class_weight": "log loss + class-balanced weights",
    "focal_fisher": "focal, Fisher Hessian",
    "focal_upper": "focal, upper-bound Hessian",
    "focal_clipped": "focal, clipped Hessian",
    "focal_exact": "focal, exact Hessian",
}
METRICS: dict[str, str] = {
    "average_precision": "average precision",
    "balanced_accuracy": "balanced accuracy",
    "rare_recall": "recall of the rare class",
}
GAMMA = 2.0
CHECKPOINTS = (10, 25, 50, 100, 200, 400)


def _mean_std(values: list[float]) -> list[float]:
    return [statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0]


def tabular_data(seed: int, imbalance: float) -> dict[str, Any]:
    """Stratified 60/40 split of breast cancer; the training malignant cases subsampled to
    one per ``imbalance`` benign ones (at least 3). Label 1 = malignant (the rare class)."""
    import numpy as np

    datasets = require("sklearn.datasets")
    selection = require("sklearn.model_selection")
    bunch = datasets.load_breast_cancer()
    x, y = bunch.data, (bunch.target == 0).astype(np.int64)  # sklearn: 0 = malignant
    x_train, x_test, y_train, y_test = selection.train_test_split(
        x, y, test_size=0.4, stratify=y, random_state=seed
    )
    rng = np.random.default_rng(seed)
    positives = np.flatnonzero(y_train == 1)
    keep = max(3, round((y_train == 0).sum() / imbalance))
    chosen = np.sort(
        np.concatenate([np.flatnonzero(y_train == 0), rng.choice(positives, keep, replace=False)])
    )
    return {
        "x_train": x_train[chosen],
        "y_train": y_train[chosen],
        "x_test": x_test,
        "y_test": y_test,
    }


def _settings(name: str, y: Any) -> tuple[Any, Any, float]:
    """(FocalObjective or None, sample weights or None, regularisation scale) of an objective."""
    import numpy as np

    from ..boosting import FocalObjective, class_balanced_weights

    counts = np.bincount(y, minlength=2)
    weights = None
    if name == "class_weight":
        weights = class_balanced_weights(counts, 0.999)[y]
    logistic = FocalObjective(0.0, hessian="exact")
    base = logistic.init_scores(y)
    _, h_log = logistic.gradient_hessian(base, y)
    if name in ("logloss", "class_weight"):
        if weights is None:
            return None, None, 1.0
        _, h_w = logistic.gradient_hessian(logistic.init_scores(y, weights), y, weights)
        return None, weights, float(h_w.mean() / h_log.mean())
    mode = name.removeprefix("focal_")
    focal = FocalObjective(GAMMA, hessian=mode)  # type: ignore[arg-type]
    fisher = FocalObjective(GAMMA, hessian="fisher")
    _, h_f = fisher.gradient_hessian(fisher.init_scores(y), y)
    return focal, None, float(h_f.mean() / h_log.mean())


def train_one(
    library: str, name: str, data: dict[str, Any], seed: int, rounds: int
) -> dict[str, Any]:
    """Train one model; the test metrics and, for focal objectives, the training focal loss
    at the checkpoints (the Hessian modes' convergence)."""
    import numpy as np

    metrics = require("sklearn.metrics")
    from ..boosting import FocalLossMetric, FocalObjective

    x, y, x_test, y_test = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    focal, weights, scale = _settings(name, y)
    # the focal loss every run is judged by in training (also the log-loss runs: same scale)
    judge = FocalLossMetric(FocalObjective(GAMMA, hessian="fisher"))
    objective = focal if focal is not None else FocalObjective(0.0, hessian="exact")
    init = objective.init_scores(y, weights)
    init_test = np.full(len(y_test), float(init[0]))
    checkpoints = [c for c in CHECKPOINTS if c <= rounds] or [rounds]
    curve: list[float] = []
    if library == "lightgbm":
        lgb = require("lightgbm")
        params: dict[str, Any] = {
            "objective": focal.lightgbm if focal is not None else "binary",
            "boost_from_average": False,
            "learning_rate": 0.1,
            "num_leaves": 8,
            "min_data_in_leaf": 5,
            "lambda_l2": 1.0 * scale,
            "min_sum_hessian_in_leaf": 1e-3 * scale,
            "num_threads": 1,
            "deterministic": True,
            "seed": seed,
            "verbose": -1,
        }
        booster = lgb.train(params, lgb.Dataset(x, y, weight=weights, init_score=init), rounds)
        raw = booster.predict(x_test, raw_score=True) + init_test
        curve = [
            judge.value(booster.predict(x, raw_score=True, num_iteration=c) + init, y)
            for c in checkpoints
        ]
    elif library == "xgboost":
        xgb = require("xgboost")
        params = {
            "eta": 0.1,
            "max_depth": 3,
            "lambda": 1.0 * scale,
            "min_child_weight": 1.0 * scale,
            "nthread": 1,
            "seed": seed,
            "tree_method": "hist",
        }
        if focal is None:
            params["objective"] = "binary:logistic"
        else:
            params["disable_default_eval_metric"] = 1
        train = xgb.DMatrix(x, y, weight=weights, base_margin=init)
        booster = xgb.train(params, train, rounds, obj=None if focal is None else focal.xgboost)
        test = xgb.DMatrix(x_test, base_margin=init_test)
        raw = booster.predict(test, output_margin=True)
        curve = [
            judge.value(booster.predict(train, output_margin=True, iteration_range=(0, c)), y)
            for c in checkpoints
        ]
    else:
        cb = require("catboost")
        model = cb.CatBoostClassifier(
            loss_function=focal.catboost() if focal is not None else "Logloss",
            eval_metric="Logloss",  # required with a custom objective; computed in C++
            iterations=rounds,
            learning_rate=0.1,
            depth=3,
            l2_leaf_reg=3.0 * scale,
            boost_from_average=False,
            leaf_estimation_iterations=1,
            leaf_estimation_method="Newton",
            random_seed=seed,
            thread_count=1,
            verbose=0,
            allow_writing_files=False,
        )
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "numba not installed": the callbacks run in Python
            model.fit(cb.Pool(x, y, weight=weights, baseline=init))
        raw = model.predict(cb.Pool(x_test, baseline=init_test), prediction_type="RawFormulaVal")
        # (staged_predict on a Pool with a baseline crashes CatBoost 1.2.10: ntree_end instead)
        curve = [
            judge.value(model.predict(x, prediction_type="RawFormulaVal", ntree_end=c) + init, y)
            for c in checkpoints
        ]
    raw = np.asarray(raw, dtype=np.float64)
    # a diverged model (the exact Hessian can do that) is scored as it is, not dropped
    raw = np.nan_to_num(raw, nan=0.0, posinf=1e300, neginf=-1e300)
    predicted = (raw > 0).astype(np.int64)
    recall = metrics.recall_score(y_test, predicted, labels=[0, 1], average=None, zero_division=0)
    return {
        "metrics": {
            "average_precision": float(metrics.average_precision_score(y_test, raw)),
            "balanced_accuracy": float(recall.mean()),
            "rare_recall": float(recall[1]),
        },
        "train_focal_loss": [float(v) for v in curve],
        "checkpoints": checkpoints,
    }


def _verdicts(summary: dict[str, dict[str, list[float]]], metric: str) -> list[str]:
    """Each objective against the library's own log loss; a difference counts only where
    it exceeds the combined seed spread (and at least 0.1 point)."""
    base_mean, base_std = summary["logloss"][metric]
    sentences = []
    for name, values in summary.items():
        if name == "logloss":
            continue
        mean, std = values[metric]
        c = compare(mean, std, base_mean, base_std)
        sentences.append(
            f"- {OBJECTIVES[name]} {c.verdict} {METRICS[metric]}: {c.mean:.1f} vs "
            f"{c.baseline:.1f} ({c.difference:+.1f} points; seed spread {c.spread:.1f})."
        )
    return sentences


def run(args: argparse.Namespace) -> int:
    """The tabular demo; ``demo.run`` has checked --imbalance (finite, >= 1)."""
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 3)
    if seeds < 1:
        raise CLIError(f"--seeds must be >= 1; got {seeds}")
    rounds = args.epochs if args.epochs is not None else (25 if args.quick else 200)
    if rounds < 1:
        raise CLIError(f"--epochs (boosting rounds here) must be >= 1; got {rounds}")
    require("numpy")
    require("sklearn")
    libraries = []
    for library in LIBRARIES:
        try:
            __import__(library)
        except ImportError:
            continue
        libraries.append(library)
    if not libraries:
        raise CLIError(
            "--task tabular needs lightgbm, xgboost or catboost: pip install -e '.[boosting]' "
            "in torchfocal's checkout"
        )
    out = writable_dir(args.out)
    started = time.perf_counter()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        lib: {name: [] for name in OBJECTIVES} for lib in libraries
    }
    done, total = 0, len(libraries) * len(OBJECTIVES) * seeds
    for seed in range(seeds):
        data = tabular_data(seed, args.imbalance)
        for library in libraries:
            for name in OBJECTIVES:
                runs[library][name].append(train_one(library, name, data, seed, rounds))
                done += 1
                sys.stderr.write(
                    f"{done}/{total} runs done ({library}, {OBJECTIVES[name]}, seed {seed})\n"
                )
    first = tabular_data(0, args.imbalance)
    summary = {
        lib: {
            name: {m: _mean_std([r["metrics"][m] for r in results]) for m in METRICS}
            for name, results in by_name.items()
        }
        for lib, by_name in runs.items()
    }
    convergence = {
        lib: {
            name: [
                _mean_std([r["train_focal_loss"][i] for r in results])
                for i in range(len(results[0]["checkpoints"]))
            ]
            for name, results in by_name.items()
        }
        for lib, by_name in runs.items()
    }
    payload: dict[str, Any] = {
        "task": "tabular",
        "config": {"seeds": seeds, "rounds": rounds, "imbalance": args.imbalance, "gamma": GAMMA},
        "data": {
            "dataset": "scikit-learn load_breast_cancer (label 1 = malignant)",
            "train_counts": [int((first["y_train"] == c).sum()) for c in (0, 1)],
            "test_counts": [int((first["y_test"] == c).sum()) for c in (0, 1)],
        },
        "libraries": libraries,
        "labels": OBJECTIVES,
        "summary": summary,
        "checkpoints": runs[libraries[0]]["logloss"][0]["checkpoints"],
        "train_focal_loss": convergence,
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    report = _report(payload)
    (out / "report.md").write_text(report, encoding="utf-8")
    for library in libraries:
        headers, rows = _table(payload, library)
        print_table(
            f"torchfocal demo: tabular, {library} (mean ± std over {seeds} seeds)", headers, rows
        )
    print(f"\nwrote {out / 'report.md'} and {out / 'results.json'} in {payload['seconds']:.1f} s")
    return 0


def _table(payload: dict[str, Any], library: str) -> tuple[list[str], list[list[str]]]:
    headers = [
        "objective",
        "AP %",
        "balanced acc %",
        "rare recall %",
        f"train focal loss @{payload['checkpoints'][-1]}",
    ]
    rows = []
    for name, values in payload["summary"][library].items():
        row = [OBJECTIVES[name]]
        row += [f"{100 * values[m][0]:.1f} ± {100 * values[m][1]:.1f}" for m in METRICS]
        mean, std = payload["train_focal_loss"][library][name][-1]
        row.append(f"{mean:.4f} ± {std:.4f}")
        rows.append(row)
    return headers, rows


def _focal_summary(payload: dict[str, Any]) -> list[str]:
    """The focal objectives' verdicts gathered per library: what this run says about focal
    loss on tabular data, in the same honesty rule as the verdicts above."""
    lines = []
    for library in payload["libraries"]:
        helped, hurt = [], []
        for metric in METRICS:
            for sentence in _verdicts(payload["summary"][library], metric):
                if not sentence.startswith("- focal"):
                    continue
                label = sentence[2:].split(" helped ")[0].split(" hurt ")[0]
                if " helped " in sentence:
                    helped.append(f"{METRICS[metric]} ({label})")
                elif " hurt " in sentence:
                    hurt.append(f"{METRICS[metric]} ({label})")
        if not helped and not hurt:
            lines.append(f"- {library}: no focal mode changed any metric beyond the seed spread.")
            continue
        parts = []
        if helped:
            parts.append("helped " + "; ".join(helped))
        if hurt:
            parts.append("hurt " + "; ".join(hurt))
        lines.append(
            f"- {library}: focal " + ", and ".join(parts) + "; nothing else beyond the spread."
        )
    return lines


def _convergence_rows(payload: dict[str, Any], library: str) -> list[str]:
    lines = ["| objective | " + " | ".join(f"round {c}" for c in payload["checkpoints"]) + " |"]
    lines.append("|---|" + "---|" * len(payload["checkpoints"]))
    for name, points in payload["train_focal_loss"][library].items():
        lines.append(f"| {OBJECTIVES[name]} | " + " | ".join(f"{m:.4f}" for m, _ in points) + " |")
    return lines


def _report(payload: dict[str, Any]) -> str:
    config, data = payload["config"], payload["data"]
    lines = [
        "# torchfocal demo: tabular",
        "",
        "## Setup",
        "",
        f"- Data: {data['dataset']}, a stratified 60/40 split per seed. The training split's "
        f"malignant cases are subsampled to 1 per {config['imbalance']:g} benign ones "
        f"(counts {data['train_counts']} for seed 0); the held-out split keeps its natural "
        f"ratio ({data['test_counts']}).",
        f"- Libraries: {', '.join(payload['libraries'])}; {config['rounds']} rounds, learning "
        "rate 0.1, small trees (LightGBM 8 leaves, XGBoost and CatBoost depth 3), one thread, "
        f"{config['seeds']} seeds. Every run starts from its objective's optimal constant "
        "score (torchfocal.boosting's init score; boost_from_average off).",
        f"- Objectives: the library's log loss; log loss with Cui et al.'s class-balanced "
        f"weights (beta 0.999); torchfocal's focal objective (gamma {config['gamma']:g}, no "
        "alpha) with each Hessian mode.",
        "- Fair regularisation: each objective's L2 leaf penalty and minimum leaf Hessian are "
        "scaled by its mean Hessian at the initial score over log loss's (Fisher form for every "
        "focal mode), so the smaller focal Hessians are not shrunk more.",
        "- Metrics on the held-out split: average precision of the raw score, and balanced "
        "accuracy and recall of the malignant class at raw score 0 (p = 0.5).",
        "",
        f"## Results (mean ± std over {config['seeds']} seeds, {payload['seconds']:.1f} s)",
    ]
    for library in payload["libraries"]:
        headers, rows = _table(payload, library)
        lines += [
            "",
            f"### {library}",
            "",
            "| " + " | ".join(headers) + " |",
            "|" + "---|" * len(headers),
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += [
        "",
        "## What happened on this run",
        "",
        "Each objective against the same library's log loss, counting a difference only when "
        "it exceeds the seeds' spread (the two standard deviations combined).",
    ]
    for library in payload["libraries"]:
        for metric in METRICS:
            lines += [
                "",
                f"### {library}: {METRICS[metric]}",
                "",
                *_verdicts(payload["summary"][library], metric),
            ]
    lines += ["", "## Where focal loss helped and where it did not", "", *_focal_summary(payload)]
    lines += [
        "",
        "## The Hessian modes: training focal loss (gamma 2) by round",
        "",
        "Lower is better; the mean over seeds of the focal loss on the training split. The "
        "log-loss rows are there for scale (they do not minimise this loss).",
    ]
    for library in payload["libraries"]:
        lines += ["", f"### {library}", "", *_convergence_rows(payload, library)]
    lines += [
        "",
        "These are a few seeds of one small data set: read them as what this run showed, not "
        "as a general ranking.",
        "",
        "Every number above is in results.json.",
        "",
    ]
    return "\n".join(lines)


def plain_summary(payload: dict[str, Any], library: str) -> str:
    """One library's results table as plain text (the tests use it)."""
    headers, rows = _table(payload, library)
    return plain_table("", headers, rows)
