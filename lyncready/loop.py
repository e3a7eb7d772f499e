"""The event loop an audit runs on: uvloop when it is installed, else asyncio's own.

An audit of a thousand SIP domains is event-loop bound (thousands of sockets, tens of thousands of
callbacks); uvloop's libuv loop runs the same coroutines with less overhead per callback
(docs/benchmarks.md measures it). ``LYNCREADY_EVENT_LOOP=asyncio`` forces the standard loop, e.g. to
compare, or where uvloop misbehaves; ``=uvloop`` makes a missing uvloop an error.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "LYNCREADY_EVENT_LOOP"


class LoopError(RuntimeError):
    """The event loop asked for in LYNCREADY_EVENT_LOOP cannot be used."""


def loop_factory() -> tuple[str, Callable[[], asyncio.AbstractEventLoop] | None]:
    """(name, factory): the loop the environment asks for; factory None means asyncio's default."""
    wanted = os.environ.get(ENV, "").strip().lower() or "auto"
    if wanted == "asyncio":
        return "asyncio", None
    if wanted not in ("auto", "uvloop"):
        raise LoopError(f"{ENV}={wanted!r}: use 'uvloop', 'asyncio' or leave it unset")
    try:
        import uvloop
    except ImportError as exc:
        if wanted == "uvloop":
            raise LoopError(f"{ENV}=uvloop but uvloop cannot be imported: {exc}") from exc
        return "asyncio", None
    return "uvloop", uvloop.new_event_loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` on the chosen loop (LoopError, coro closed, when it cannot be had)."""
    try:
        _name, factory = loop_factory()
    except LoopError:
        coro.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
