"""The event log's partitions: one stream, or ``count`` streams that share the bands.

A deployment's events are appended to ``count`` streams (``STREAM_PARTITIONS`` when the
deployment is created; recorded in Redis, ``keys.PARTITIONS``, so that
every producer and consumer uses the same). A band's events always go to one partition, so
each band keeps its order; consumers share the partitions through each stream's consumer
group, so ingest grows with Redis nodes and consumer processes.

Which partition: the band's Redis Cluster hash slot (that of its keys, ``{band}``) scaled to
``count`` ranges of slots, and each partition's stream has a hash tag whose slot lies in that
range. On a cluster whose nodes hold contiguous slot ranges, a band's stream and its
projections mostly live on one node. With one partition the stream is ``ss:events``, as it
always was.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from . import keys


@functools.cache
def _stream_name(partition: int, count: int) -> str:
    """Partition ``partition`` of ``count``'s stream: ``ss:{events.<count>.<partition>.<k>}``
    with the least ``k`` whose slot lies in the partition's range (``ss:events`` for one)."""
    if count == 1:
        return keys.EVENTS_STREAM
    low, high = partition * REDIS_CLUSTER_HASH_SLOTS // count, (partition + 1) * REDIS_CLUSTER_HASH_SLOTS // count
    k = 0
    while not low <= key_slot(f"events.{count}.{partition}.{k}".encode()) < high:
        k += 1
    return f"{keys.PREFIX}:{{events.{count}.{partition}.{k}}}"


def entry_ref(stream: str, entry_id: str) -> str:
    """How an entry is named outside its stream (``publish``, ``wait_settled``, the dead-letter
    index, a write-through's reply): its id alone in the one stream ``ss:events``, else
    ``"<stream> <id>"`` (ids of two partitions may be equal)."""
    return entry_id if stream == keys.EVENTS_STREAM else f"{stream} {entry_id}"


def parse_ref(ref: str) -> tuple[str, str]:
    """``entry_ref``'s stream and id."""
    stream, _, entry_id = ref.rpartition(" ")
    return stream or keys.EVENTS_STREAM, entry_id


@dataclass(frozen=True)
class Streams:
    """The partitions of one deployment's event log."""

    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= 1024:
            raise ValueError(f"the number of stream partitions must be from 1 to 1024, got {self.count}")

    @property
    def names(self) -> list[str]:
        """Every partition's stream, in partition order."""
        return [_stream_name(i, self.count) for i in range(self.count)]

    def partition(self, band: str) -> int:
        return key_slot(keys.band_tag(band).encode()) * self.count // REDIS_CLUSTER_HASH_SLOTS

    def of_band(self, band: str) -> str:
        """The stream a band's events are appended to."""
        return _stream_name(self.partition(band), self.count)
