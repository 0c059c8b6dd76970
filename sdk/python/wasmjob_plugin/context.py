"""Who this instance is."""

from dataclasses import dataclass
from typing import Optional

from wit_world.imports import context as _wit


@dataclass(frozen=True)
class Context:
    """The Job, the instance and where it runs."""

    job_name: str
    instance_name: str
    completion_index: Optional[int]
    attempt: int
    """Failed attempts at this work before this one (0 on the first)."""
    node_name: str
    scheduled_time: Optional[str]
    """A CronJob run's scheduled time (RFC 3339), else ``None``."""

    @staticmethod
    def current() -> "Context":
        """This instance's context, read from the host."""
        return Context(
            job_name=_wit.job_name(),
            instance_name=_wit.instance_name(),
            completion_index=_wit.completion_index(),
            attempt=_wit.attempt(),
            node_name=_wit.node_name(),
            scheduled_time=_wit.scheduled_time(),
        )
