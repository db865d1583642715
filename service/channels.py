"""The service's pub/sub channels and write-through list, named per deployment.

Redis keys live in their database; pub/sub channels do not (and the service's list is named
beside them), so each deployment's names carry its namespace (``config.namespace``): two
deployments on one Redis never hear each other. The constants are database 0's names.
"""

from __future__ import annotations

import dataclasses

from .config import namespace

#: The request/reply channel taking ``{"query": name, "params": {...}}`` for any query.
QUERY_SUBJECT = "setlist-stats.query"
#: The prefix of each client's reply channel (``StatsClient``: one per client).
REPLY_PREFIX = "setlist-stats.reply"


#: The request/reply list of a write-through publish: the body is one event; the reply
#: comes once it is in the stream and applied (see ``Service.publish``).
PUBLISH_LIST = "setlist-stats.publish"
#: The header of a write-through naming when its caller gives up (Unix time, seconds).
EXPIRES_HEADER = "expires"
#: The channel on which a process that applied live changes (a write-through, or a batch of
#: at most ``LIVE_BATCH`` from the stream) names their bands: every process that answers
#: questions refreshes its answers about them, whichever process applied them.
CHANGED_CHANNEL = "setlist-stats.changed"


def query_subject(name: str) -> str:
    """The request/reply channel of one query (its body: the parameters), in database 0's
    deployment (``Names``)."""
    return f"{QUERY_SUBJECT}.{name}"


@dataclasses.dataclass(frozen=True)
class Names:
    """One deployment's channels and list: ``QUERY_SUBJECT``, ``REPLY_PREFIX``, ``PUBLISH_LIST``
    and ``CHANGED_CHANNEL`` under its namespace (``config.namespace``: ``setlist-stats`` in
    database 0, ``setlist-stats.db<N>`` in database N, or the ``INSTANCE`` setting)."""

    prefix: str = "setlist-stats"

    @classmethod
    def of(cls, url: str, instance: str | None = None) -> Names:
        return cls(namespace(url, instance))

    @property
    def query(self) -> str:
        return f"{self.prefix}.query"

    def subject(self, name: str) -> str:
        return f"{self.query}.{name}"

    @property
    def replies(self) -> str:
        return f"{self.prefix}.reply"

    @property
    def publish(self) -> str:
        return f"{self.prefix}.publish"

    @property
    def changed(self) -> str:
        return f"{self.prefix}.changed"
