"""Argument checks of torchfocal.boosting: ValueError / TypeError naming the argument, one line."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ._math import Array


def number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number; got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite; got {number!r}")
    return number


def per_class(name: str, value: object, k: int, low: float, high: float | None) -> Array:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of {k} numbers; got {type(value).__name__}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of {k} numbers; got {value!r}") from None
    if array.shape != (k,):
        raise ValueError(f"{name} must have {k} values (one per class); got shape {array.shape}")
    bad = ~np.isfinite(array) | (array < low) | (array > (np.inf if high is None else high))
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        bounds = f"[{low:g}, {high:g}]" if high is not None else f">= {low:g}"
        raise ValueError(
            f"{name} must be finite and {bounds}; got {array[where].item()!r} at {where}"
        )
    return array


def labels(labels: object, k: int) -> npt.NDArray[np.int64]:
    """Class indices 0..k-1 (k = 2 for binary); libraries hand them over as floats."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"labels must be 1-D class indices; got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"labels must be numeric class indices; got dtype {array.dtype}")
    as_float = array.astype(np.float64)
    bad = ~np.isfinite(as_float) | (as_float != np.round(as_float))
    bad |= (as_float < 0) | (as_float > k - 1)
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"labels must be integers in [0, {k - 1}]; got {array[where].item()!r} at index {where}"
        )
    return as_float.astype(np.int64)


def weights(weight: object, n: int) -> Array | None:
    if weight is None:
        return None
    array = np.asarray(weight, dtype=np.float64)
    if array.size == 0:  # XGBoost's and LightGBM's "no weights"
        return None
    if array.shape != (n,):
        raise ValueError(f"weight must have shape ({n},), one per sample; got {array.shape}")
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        raise ValueError(f"weight must be finite and >= 0; got {array[where].item()!r} at {where}")
    return array


def raw(raw: object, n: int, k: int | None) -> Array:
    array = np.asarray(raw, dtype=np.float64)
    shape = (n,) if k is None else (n, k)
    if array.shape != shape:
        raise ValueError(f"raw scores must have shape {shape}; got {array.shape}")
    if not np.isfinite(array).all():
        where = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(
            f"raw scores must be finite; got {array[tuple(where)].item()!r} at index {tuple(where)}"
        )
    return array


def counts(name: str, counts: object) -> Array:
    array = np.asarray(counts, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a 1-D sequence of class counts; got {array.shape}")
    bad = ~np.isfinite(array) | (array <= 0)
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite and > 0; got {array[where].item()!r} at {where}")
    return array
