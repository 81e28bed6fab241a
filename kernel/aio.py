"""Asyncio helpers the kernel's long-running loops rely on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], seconds: float) -> T:
    """Await with a deadline (TimeoutError after `seconds`).

    Used instead of asyncio.wait_for, which on Python 3.11 can swallow a cancellation that
    arrives as the inner awaitable completes (CPython gh-86296): a relay or consumer loop
    would then never stop on shutdown.
    """
    async with asyncio.timeout(seconds):
        return await awaitable
