"""Levelled, structured records: each is a logfmt line in the instance's
log (``level=info msg=done counted=10``) and a record that ``wasmjob logs
--level`` and ``--field`` filter on. Fields are keyword arguments; values
are written as text."""

from wit_world.imports import log as _wit


def _write(level: "_wit.Level", message: str, fields: dict[str, object]) -> None:
    _wit.log(level, message, [_wit.Field(key, str(value)) for key, value in fields.items()])


def trace(message: str, **fields: object) -> None:
    """A fine-grained tracing record."""
    _write(_wit.Level.TRACE, message, fields)


def debug(message: str, **fields: object) -> None:
    """A record for the plugin's author."""
    _write(_wit.Level.DEBUG, message, fields)


def info(message: str, **fields: object) -> None:
    """Normal progress."""
    _write(_wit.Level.INFO, message, fields)


def warn(message: str, **fields: object) -> None:
    """Something unexpected that the plugin handled."""
    _write(_wit.Level.WARN, message, fields)


def error(message: str, **fields: object) -> None:
    """Something failed."""
    _write(_wit.Level.ERROR, message, fields)
