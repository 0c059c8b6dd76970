"""Values kept between runs through ``wasi:keyvalue``: buckets that belong
to the instance's Job, or to its CronJob for a Job a CronJob made, kept by
the node (or in Redis when the template names one). The Python counterpart
of ``wasmjob_sdk::keyvalue``::

    bucket = keyvalue.Bucket.open("default")
    run = bucket.increment("runs", 1)
    bucket.set("cursor", b"2026-12-07")
"""

from typing import List, Optional

from componentize_py_types import Err
from wit_world.imports import atomics as _atomics
from wit_world.imports import wasi_keyvalue_store as _store


class KeyValueError(Exception):
    """The store refused; the text says why."""


def _error(e: Err) -> KeyValueError:
    value = e.value
    if isinstance(value, _store.Error_Other):
        return KeyValueError(value.value)
    if isinstance(value, _store.Error_NoSuchStore):
        return KeyValueError("no such store: this instance has no buckets")
    return KeyValueError("access denied")


class Bucket:
    """A bucket of values, by key."""

    def __init__(self, bucket: _store.Bucket) -> None:
        self._bucket = bucket

    @staticmethod
    def open(name: str) -> "Bucket":
        """Opens the bucket ``name`` (any name; ``default`` by convention)."""
        try:
            return Bucket(_store.open(name))
        except Err as e:
            raise _error(e) from None

    def get(self, key: str) -> Optional[bytes]:
        """The value of ``key``, if it has one."""
        try:
            return self._bucket.get(key)
        except Err as e:
            raise _error(e) from None

    def set(self, key: str, value: bytes) -> None:
        """Sets ``key`` to ``value`` (at most 1 MiB); kept when this returns."""
        try:
            self._bucket.set(key, value)
        except Err as e:
            raise _error(e) from None

    def delete(self, key: str) -> None:
        """Removes ``key``."""
        try:
            self._bucket.delete(key)
        except Err as e:
            raise _error(e) from None

    def keys(self) -> List[str]:
        """Every key, in order."""
        keys: List[str] = []
        cursor: Optional[int] = None
        while True:
            try:
                page = self._bucket.list_keys(cursor)
            except Err as e:
                raise _error(e) from None
            keys.extend(page.keys)
            if page.cursor is None:
                return keys
            cursor = page.cursor

    def increment(self, key: str, delta: int = 1) -> int:
        """Adds ``delta`` to the number ``key`` holds (absent: 0) in one
        step, so instances counting at once lose nothing; the sum."""
        try:
            return _atomics.increment(self._bucket, key, delta)
        except Err as e:
            raise _error(e) from None
