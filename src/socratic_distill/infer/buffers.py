"""KV-cache buffers recycled from one `generate` call to the next, on a CPU.

A batch's cache buffers are large (32 rows x 500 positions of a 6-layer, 384-wide model: 30 MB
per layer for keys alone), and the C allocator hands buffers that large out as fresh pages from
the system, each one faulted in and zeroed by the kernel on first write. In batched serving that
was 250,000-600,000 page faults and 0.5-1.2 s of system time in an 11-12 s run, on the thread
that decodes. PyTorch's CUDA allocator keeps freed blocks; the CPU one does not.

Inside `recycling(device)` (entered by `generate`), `empty` cuts buffers from one slab, one
after the other; when the block ends they are all free again at once, and the slab waits for
the next block of any thread (a server's worker threads come and go). A call that needs more
than the slab holds gets the rest from `torch.empty`, and the next call finds a slab large
enough (up to `MAX_BYTES`; a call beyond it leaves the slab as it was). Nothing cut from the
slab may be used after its block (`generate` copies what its prefix cache keeps). Outside such
a block `empty` is `torch.empty`; as with it, the buffers hold old values.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

ALIGN = 64  # bytes: every buffer starts on a cache line
GROWTH = 1.25  # a new slab holds this many times the largest call's needs
# Largest slab kept between calls: larger calls get fresh memory, as without recycling (their
# page faults weigh less against their length), and a process does not hold gigabytes after it.
MAX_BYTES = 1 << 30


class Slab:
    """One byte buffer lent out piece by piece inside `recycling`, taken back whole after it."""

    def __init__(self) -> None:
        self.memory = torch.empty(0, dtype=torch.uint8)
        self.used = 0  # bytes lent from the slab in the current block
        self.wanted = 0  # bytes asked for in the current block, slab or not

    def empty(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        size = math.prod(shape) * like.element_size()
        aligned = -(-size // ALIGN) * ALIGN
        self.wanted += aligned
        if self.used + size > self.memory.numel():
            return like.new_empty(shape)
        piece = self.memory[self.used:self.used + size]
        self.used += aligned
        return piece.view(like.dtype).view(shape)

    def release(self) -> None:
        # A call beyond the cap leaves the slab as it was: the calls it suited still find it.
        if self.memory.numel() < self.wanted <= MAX_BYTES:
            self.memory = torch.empty(min(int(self.wanted * GROWTH), MAX_BYTES), dtype=torch.uint8)
        self.used = self.wanted = 0


_local = threading.local()  # the slab this thread cuts from, while in a `recycling` block
_spare: list[Slab] = []  # slabs no block uses: they outlive the threads that used them
_spare_lock = threading.Lock()


@contextmanager
def recycling(device: torch.device) -> Iterator[None]:
    """Cut `empty`'s buffers from a slab in this block (on a CPU); free them all after it."""
    if device.type != "cpu" or getattr(_local, "slab", None) is not None:  # nested: the outer's
        yield
        return
    with _spare_lock:
        lender = _spare.pop() if _spare else Slab()
    _local.slab = lender
    try:
        yield
    finally:
        _local.slab = None
        lender.release()
        with _spare_lock:
            _spare.append(lender)


def empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor like `like` (dtype, device): from the slab inside `recycling`."""
    lender = getattr(_local, "slab", None)
    if lender is None or like.device.type != "cpu":
        return like.new_empty(shape)
    return lender.empty(shape, like)
