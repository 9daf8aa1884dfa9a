"""A retry loop must stop when cancelled, even when the cancellation surfaces as another
error (Python 3.11's asyncio.timeout race, or a library wrapping it)."""

from __future__ import annotations

import asyncio

from drivers.tasks import stop_if_cancelled


async def retry(attempts: list[int], guard: bool, give_up_after: int = 50) -> str:
    """Retries every failure; gives up (returns) after ``give_up_after`` attempts."""
    while len(attempts) < give_up_after:
        attempts.append(1)
        try:
            try:
                await asyncio.sleep(0.001)
            except asyncio.CancelledError:
                raise TimeoutError("the cancel came out as a timeout") from None
        except Exception as exc:
            if guard:
                stop_if_cancelled(exc)
    return "gave up"


async def test_a_cancel_seen_as_another_error_still_stops_the_loop() -> None:
    attempts: list[int] = []
    task = asyncio.create_task(retry(attempts, guard=True))
    await asyncio.sleep(0.01)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done and task.cancelled()
    assert len(attempts) < 50


async def test_without_the_guard_the_loop_runs_on_after_the_cancel() -> None:
    attempts: list[int] = []
    task = asyncio.create_task(retry(attempts, guard=False))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    assert not task.cancelled() and task.result() == "gave up"  # the cancel was lost
