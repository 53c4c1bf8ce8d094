"""Integration pairs: which streams a (source kind, target kind) pair has, and their mappers.

The registry below is what the configuration loader validates `pairs.<name>.streams` against:
for each supported (source kind, target kind), the stream names and the options each stream
takes besides `enabled` (option name -> Python type, default).
"""

from __future__ import annotations

from typing import Any

# (source kind, target kind) -> stream name -> option name -> (type, default)
STREAM_OPTIONS: dict[tuple[str, str], dict[str, dict[str, tuple[type, Any]]]] = {
    ("sage300", "procore"): {
        "vendors": {
            # Sage 300 dates carry no time: re-read this many days before the watermark.
            "lookback_days": (int, 1),
        },
    },
}


def stream_options(source_kind: str, target_kind: str) -> dict[str, dict[str, tuple[type, Any]]] | None:
    """The streams a pair of these kinds supports, or None when the pair is not supported."""
    return STREAM_OPTIONS.get((source_kind, target_kind))


def build_streams(pair, source_client, target_client) -> list:
    """The enabled streams of ``pair`` (a PairConfig), wired to the two clients, in order."""
    source_kind, target_kind = source_client.settings.kind, target_client.settings.kind
    if (source_kind, target_kind) == ("sage300", "procore"):
        from mlconnector.pairs import sage300_procore

        return sage300_procore.build_streams(pair.name, pair.streams, source_client, target_client)
    raise NotImplementedError(f"pair {source_kind} -> {target_kind} is not built yet")
