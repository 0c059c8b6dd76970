"""Bytes kept per Job and completion index: an instance retried after a
failure loads what the failed one saved and carries on from there."""

from typing import Optional

from componentize_py_types import Err
from wit_world.imports import checkpoint as _wit


class CheckpointError(Exception):
    """The host could not keep the checkpoint; the text says why."""


def save(data: bytes) -> None:
    """Saves ``data`` as this instance's checkpoint, replacing the last."""
    try:
        _wit.save(data)
    except Err as e:
        raise CheckpointError(e.value) from None


def load() -> Optional[bytes]:
    """The last checkpoint saved for this Job and completion index."""
    return _wit.load()
