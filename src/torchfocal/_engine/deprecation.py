"""Renamed keyword arguments: the old name keeps working for one release, with a warning.

One name for one thing across the losses (``target``, ``weight``, ``class_dim``, ...): where
a loss used another name, :func:`renamed` maps the old keyword onto the new one, warns
``DeprecationWarning`` naming both, and refuses a call that passes both.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def renamed(**old_to_new: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Accept each old keyword (``renamed(target_score="target")``) as its new name.

    The wrapped function keeps its name, docstring and signature (``functools.wraps``: help()
    and ``inspect.signature`` show the new names, doctests run). A call with the old name
    warns ``DeprecationWarning`` (``"target_score is deprecated; use target"``) and runs as
    if the new name had been used; a call that gives the argument under both names, by
    keyword or (for the new name) by position, is a TypeError.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        parameters = inspect.signature(function).parameters
        # Where a new name may also be given by position (None: keyword only).
        positions: dict[str, int | None] = {}
        for old, new in old_to_new.items():
            if new not in parameters:
                raise TypeError(
                    f"renamed() must map {old!r} onto a parameter of {function.__qualname__}; "
                    f"got {new!r}"
                )
            if old in parameters:
                raise TypeError(
                    f"renamed() must map a name that {function.__qualname__} no longer takes; "
                    f"got {old!r}"
                )
            kind = parameters[new].kind
            positional = kind in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            )
            positions[new] = list(parameters).index(new) if positional else None
        name = function.__qualname__

        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            for old, new in old_to_new.items():
                if old not in kwargs:
                    continue
                position = positions[new]
                if new in kwargs or (position is not None and len(args) > position):
                    raise TypeError(
                        f"{name}() must be given {new} once; got both {new} and its "
                        f"deprecated name {old}"
                    )
                warnings.warn(
                    f"{old} is deprecated; use {new} ({name}() takes {new}; the old name "
                    f"will be removed in a future release)",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return wrapper

    return decorate
