"""`in_thread`: a database method written once, synchronously, and awaited off the event loop."""

from __future__ import annotations

import functools
from asyncio import to_thread
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

S = TypeVar("S")
P = ParamSpec("P")
R = TypeVar("R")

AsyncMethod = Callable[P, Coroutine[Any, Any, R]]


class in_thread(Generic[S, P, R]):  # lower case: a decorator, like `property`
    """Make a blocking method awaitable: `await store.claim(…)` runs its body in a worker thread.

    The stores use one synchronous SQLAlchemy engine (shared with slack-sdk's installation
    store, and needing no async driver), so every query blocks. Writing each method once and
    awaiting it through this decorator replaces a hand-written async twin per method. On an
    instance it is a plain async method (subclasses may override it with `async def`);
    `Class.method.sync(instance, …)` runs the body in the calling thread, for code already off
    the loop (one method calling another, threads racing in tests).
    """

    def __init__(self, body: Callable[Concatenate[S, P], R]) -> None:
        self.sync = body
        self.__doc__ = body.__doc__

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, instance: S, owner: type[Any]) -> AsyncMethod[P, R]: ...

    def __get__(self, instance: S | None, owner: type[Any]) -> Self | AsyncMethod[P, R]:
        if instance is None:
            return self
        body = self.sync

        @functools.wraps(body)
        async def method(*args: P.args, **kwargs: P.kwargs) -> R:
            return await to_thread(body, instance, *args, **kwargs)

        return method
