"""A workbench verb that lives on an accessor, reachable under its old name too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

__all__ = ["Verb"]

P = ParamSpec("P")
R = TypeVar("R")


class Verb(Generic[P, R]):
    """A workbench verb that lives on one of its accessors (``wb.history``, ...): the
    same method under its old name on the workbench (``wb.conflicts_frame``)."""

    def __init__(self, accessor: str, function: Callable[Concatenate[Any, P], R]) -> None:
        self.accessor = accessor
        self.function = function
        self.__doc__ = (f"The same as ``wb.{accessor}.{function.__name__}`` "
                        f"(:meth:`{function.__qualname__}`).\n\n{function.__doc__ or ''}")

    @overload
    def __get__(self, wb: None, owner: type[Any]) -> Verb[P, R]: ...
    @overload
    def __get__(self, wb: Any, owner: type[Any]) -> Callable[P, R]: ...

    def __get__(self, wb: Any | None, owner: type[Any]) -> Verb[P, R] | Callable[P, R]:
        if wb is None:
            return self
        bound: Callable[P, R] = getattr(getattr(wb, self.accessor), self.function.__name__)
        return bound
