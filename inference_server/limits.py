"""What one request, and all requests together, may cost: the one owner of the pixel limits and
of their checks. Every check reads a shape or an image header only, so a request over a limit is
refused before anything of its size is allocated; the budget bounds the pixels being worked on
across the whole server, whatever the protocol (docs/design.md has the memory arithmetic).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from .errors import Overloaded, TooLarge

# The defaults, in pixels. A pixel in flight costs at most ~37 bytes (measured: decode plus the
# model's first layers; docs/design.md has the whole memory arithmetic of a 4 GiB pod).
MAX_IMAGE_PIXELS = 4096 * 4096  # 16 MP: every camera frame up to 4K, and 16 MP stills
MAX_REQUEST_PIXELS = 4096 * 4096  # e.g. 8 frames of 1920x1080 (8 x 2.07 MP)
# One request at the limit plus room for ordinary frames beside it (0.87 GiB at 37 B/pixel): the
# model runs one batch at a time anyway, and a flood of the largest images cannot make a caller
# of ordinary frames wait for the admission timeout.
MAX_PIXELS_IN_FLIGHT = MAX_REQUEST_PIXELS + 8 * 1024 * 1024
ADMISSION_TIMEOUT_MS = 2000.0  # how long a request may wait for room before a 429


@dataclass(frozen=True)
class Limits:
    """max_images is the server's --max-batch-size: a request never needs more than one batch."""

    max_images: int = 8
    max_image_pixels: int = MAX_IMAGE_PIXELS
    max_request_pixels: int = MAX_REQUEST_PIXELS
    max_pixels_in_flight: int = MAX_PIXELS_IN_FLIGHT
    admission_timeout_ms: float = ADMISSION_TIMEOUT_MS

    def check_batch(self, shape: Sequence[int], what: str) -> None:
        """shape: [N, H, W, 3] as the request declares it (already checked to be 4-D and positive)."""
        count, height, width = shape[0], shape[1], shape[2]
        if count > self.max_images:
            raise TooLarge(f"{what}: {count} images in one request; at most {self.max_images} are accepted "
                           f"(--max-batch-size): send them in several requests")
        self.check_image(width, height, what)
        if count * height * width > self.max_request_pixels:
            raise TooLarge(f"{what}: {count} images of {width}x{height} are {count * height * width} pixels; at most "
                           f"{self.max_request_pixels} per request are accepted (--max-request-pixels)")

    def check_image(self, width: int, height: int, what: str = "image") -> None:
        if width * height > self.max_image_pixels:
            raise TooLarge(f"{what}: an image of {width}x{height} is {width * height} pixels; at most "
                           f"{self.max_image_pixels} per image are accepted (--max-image-pixels): downscale it")


def pixels(shape: Sequence[int]) -> int:
    """Pixels of an [N, H, W, C] batch."""
    return math.prod(shape[:3])


class PixelBudget:
    """The pixels being decoded, run and answered across the server, at most `capacity`. A request
    beyond it waits up to `timeout_ms` for room, then gets Overloaded (429 / RESOURCE_EXHAUSTED):
    a burst queues briefly, a flood is refused, and memory never grows with the number of callers."""

    def __init__(self, capacity: int, timeout_ms: float, on_change: Callable[[int], None] | None = None) -> None:
        self.capacity = capacity
        self.timeout = timeout_ms / 1000.0
        self.used = 0
        self._on_change = on_change
        self._room = asyncio.Condition()

    @asynccontextmanager
    async def hold(self, amount: int) -> AsyncIterator[None]:
        if amount > self.capacity:  # Limits keep a request within the budget; this is the backstop
            raise TooLarge(f"{amount} pixels are more than the server works on at once ({self.capacity}, "
                           f"--max-pixels-in-flight)")
        async with self._room:
            try:
                async with asyncio.timeout(self.timeout):
                    await self._room.wait_for(lambda: self.used + amount <= self.capacity)
            except TimeoutError:
                raise Overloaded(
                    f"the server is busy: {self.used} of its {self.capacity} pixels in flight (--max-pixels-in-flight) "
                    f"stayed taken for {self.timeout:g} s; retry shortly") from None
            self._take(amount)
        try:
            yield
        finally:
            async with self._room:
                self._take(-amount)
                self._room.notify_all()

    def _take(self, amount: int) -> None:
        self.used += amount
        if self._on_change is not None:
            self._on_change(self.used)
