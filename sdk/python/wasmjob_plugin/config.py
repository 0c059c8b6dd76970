"""The instance's configuration through ``wasi:config/store``: its
environment (``env`` and ``envFrom``, so a ConfigMap's or Secret's keys
arrive as in a container). The Python counterpart of
``wasmjob_sdk::config``::

    url = config.get("REPORT_URL")
"""

from typing import List, Optional, Tuple

from componentize_py_types import Err
from wit_world.imports import wasi_config_store as _store


class ConfigError(Exception):
    """The configuration could not be read; the text says why."""


def get(key: str) -> Optional[str]:
    """The value of ``key``, if the configuration has it."""
    try:
        return _store.get(key)
    except Err as e:
        raise ConfigError(str(e.value)) from None


def all() -> List[Tuple[str, str]]:
    """Every key and its value."""
    try:
        return _store.get_all()
    except Err as e:
        raise ConfigError(str(e.value)) from None
