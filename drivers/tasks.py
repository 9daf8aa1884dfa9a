"""What every retry loop shares about asyncio tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def raise_if_cancelled() -> None:
    """Stop here if this task has been asked to stop.

    For the top of a loop that awaits library calls: in Python 3.11 ``asyncio.wait_for`` can
    return a result and drop a cancel that arrived as the result did (aiomqtt's publish, as
    the connection drops), after which the loop would wait forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def stop_if_cancelled(exc: BaseException) -> None:
    """Re-raise as a cancellation when this task has been asked to stop.

    A driver retries every failure, so it must not mistake its own cancellation for one: in
    Python 3.11 a cancel that lands as an ``asyncio.timeout`` expires comes out as a
    TimeoutError, and a library may wrap it in its own error. The task's pending cancel
    request is the truth: while it stands, the driver stops instead of retrying."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


async def first_failure(*coros: Coroutine[Any, Any, None]) -> None:
    """Run the coroutines together until one fails, then stop the others and raise its error.

    Used instead of a TaskGroup: in Python 3.11 a TaskGroup whose child failed leaves the
    parent task's cancel count raised, and can swallow the parent's own cancellation."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
