"""Partition of a manifest into contiguous shards of a fixed number of videos.

Shard k holds manifest rows [k * shard_size, (k + 1) * shard_size). Contiguous, fixed-size shards
let extraction jobs write disjoint, chunk-aligned regions of one feature store.
"""

from __future__ import annotations

import math

from avexplain.paths import shard_id


def shard_count(num_videos: int, shard_size: int) -> int:
    return max(1, math.ceil(num_videos / shard_size))


def shard_ids(num_videos: int, shard_size: int) -> list[str]:
    """Zero-padded shard names, stable as long as the manifest and shard size are."""
    return [shard_id(k) for k in range(shard_count(num_videos, shard_size))]


def shard_slice(shard: str | int, shard_size: int, num_videos: int) -> slice:
    k = int(shard)
    start = k * shard_size
    if start >= num_videos and not (k == 0 and num_videos == 0):
        raise ValueError(f"shard {shard} is past the end of a manifest of {num_videos} videos")
    return slice(start, min(start + shard_size, num_videos))
