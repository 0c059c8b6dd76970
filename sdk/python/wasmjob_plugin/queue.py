"""The Job's work queue in lease mode (``spec.queue.mode: lease``), for the
fine-parallel pattern: lease an item, work on it, complete it, until the
queue is empty."""

from dataclasses import dataclass
from typing import Optional

from componentize_py_types import Err
from wit_world.imports import queue as _wit


class QueueError(Exception):
    """A queue call failed: no ``spec.queue``, the broker unavailable, or an
    item not leased by this worker; the text says which."""


def _raise(e: Err) -> QueueError:
    error = e.value
    if isinstance(error, _wit.Error_NoQueue):
        return QueueError("the Job has no spec.queue")
    if isinstance(error, _wit.Error_Unavailable):
        return QueueError(f"the queue is unavailable: {error.value}")
    return QueueError(f"not leased: {error.value}")


@dataclass
class Item:
    """An item leased to this worker."""

    id: str
    body: bytes

    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8", errors="replace")

    def complete(self) -> None:
        """Marks the item done: it leaves the queue for good."""
        complete(self.id)


def lease(seconds: int) -> Optional[Item]:
    """Leases the next item for ``seconds``; ``None`` when nothing is left
    to lease right now. An item not completed in time goes back."""
    try:
        item = _wit.lease(seconds)
    except Err as e:
        raise _raise(e) from None
    return None if item is None else Item(item.id, bytes(item.body))


def complete(id: str) -> None:
    """Marks the leased item ``id`` done."""
    try:
        _wit.complete(id)
    except Err as e:
        raise _raise(e) from None


def is_empty() -> bool:
    """Whether nothing is waiting and nothing leased: a worker that finds
    the queue empty has no more work and should exit 0."""
    try:
        return _wit.empty()
    except Err as e:
        raise _raise(e) from None
