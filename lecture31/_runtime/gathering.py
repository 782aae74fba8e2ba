"""One gather that never orphans: if one awaitable fails, the rest are cancelled and awaited.

``asyncio.gather`` alone leaves the others running after the first error, and their own errors
unretrieved ("exception was never retrieved"). The runners and the batcher use this instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable

__all__ = ("gatherAll",)


async def gatherAll(aws: Iterable[Awaitable]) -> list:
    """``asyncio.gather(*aws)``, but on failure or cancellation nothing is left behind.

    That holds while the futures are still being made too: a pool that breaks mid-stage makes
    the next submit raise, and the ones already made must not be left unawaited.
    """
    futures: list[asyncio.Future] = []
    try:
        futures.extend(asyncio.ensure_future(aw) for aw in aws)
        return await asyncio.gather(*futures)
    except BaseException:
        for future in futures:
            future.cancel()
        await asyncio.gather(*futures, return_exceptions=True)
        raise
