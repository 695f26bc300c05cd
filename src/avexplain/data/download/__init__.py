"""Fetching videos: from YouTube (yt-dlp), from the AVE zip, from a local folder; `fetch` runs
a manifest shard through them and records every video as present or missing."""
