"""Time helpers: agentfs stores nanoseconds since the epoch and shows ISO 8601 in UTC."""

from __future__ import annotations

import datetime as _dt
import re

_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def iso(ns: int | None) -> str | None:
    """``1700000000123456789`` -> ``"2023-11-14T22:13:20.123456Z"``."""
    if ns is None:
        return None
    stamp = _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_since(text: str, now_ns: int) -> int:
    """``"15m"``/``"2h"``/``"7d"`` ago, or an ISO date/time, -> nanoseconds since the epoch.

    Raises:
        ValueError: neither a relative duration nor an ISO 8601 time.
    """
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        return now_ns - int(match.group(1)) * _UNIT_S[match.group(2)] * 1_000_000_000
    try:
        stamp = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use 15m, 2h, 7d or an ISO date like 2026-11-21T10:00)") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=_dt.timezone.utc)
    return int(stamp.timestamp() * 1e9)
