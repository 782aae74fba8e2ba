"""Exercise 1, requirement 1: ``parseCsvChunk``, the CPU-bound step that runs in the process pool.

Each ``"id,value,timestamp"`` line becomes ``{"id": int, "value": float, "timestamp": str}``;
a malformed line raises ``ValueError`` naming its 0-based index and its text.
"""

from __future__ import annotations

import datetime
import math
import re
import time
from collections.abc import Iterable

__all__ = ("PARSE_SLEEP_SECONDS", "RECORDS_PER_REQUEST", "parseCsvChunk")

RECORDS_PER_REQUEST = 20

# The homework's simulated parse cost per record. time.sleep(0.0001) really takes ~0.18 ms on
# Linux (timer slack and wake-up latency), so a 20-record chunk takes ~3.7 ms, not 2 ms.
PARSE_SLEEP_SECONDS = 0.0001


# Strict shapes: int() and float() alone would also take "1_000", "nan", "inf", " infinity ".
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# A record quoted in an error message is cut to this many characters: enough to recognise it,
# not a megabyte of log line when a file was read without its newlines.
_QUOTED_RECORD_CHARS = 120


def _parseRecord(index: int, text: object) -> dict:
    def malformed(problem: str) -> ValueError:
        quoted = repr(text)
        if len(quoted) > _QUOTED_RECORD_CHARS:
            quoted = quoted[: _QUOTED_RECORD_CHARS - 3] + "..."
        return ValueError(f"record {index} {quoted} is malformed: {problem}")

    if not isinstance(text, str):
        raise malformed(f"expected a string, got {type(text).__name__}")
    fields = [part.strip() for part in text.strip().split(",")]
    if len(fields) != 3:
        raise malformed(f"expected 3 fields id,value,timestamp, got {len(fields)}")
    idText, valueText, timestamp = fields
    if not _INTEGER.fullmatch(idText):
        raise malformed(f"id {idText!r} is not an integer")
    try:
        recordId = int(idText)
    except ValueError as exc:  # longer than sys.get_int_max_str_digits() allows
        raise malformed(f"id of {len(idText)} digits is too long to convert ({exc})") from exc
    # NaN and infinities are rejected: they are not readings, and NaN poisons every sum and
    # comparison downstream without an error.
    value = float(valueText) if _DECIMAL.fullmatch(valueText) else math.nan
    if not math.isfinite(value):
        raise malformed(f"value {valueText!r} is not a finite decimal number")
    # Only the calendar form YYYY-MM-DD: Python 3.11's fromisoformat would also take "20240101"
    # and "2024-W01-1", and the string is kept as is, so every kept timestamp has one shape.
    if not _ISO_DATE.fullmatch(timestamp):
        raise malformed(f"timestamp {timestamp!r} is not an ISO date YYYY-MM-DD")
    try:
        datetime.date.fromisoformat(timestamp)
    except ValueError as exc:
        raise malformed(f"timestamp {timestamp!r} is not a valid date ({exc})") from exc
    return {"id": recordId, "value": value, "timestamp": timestamp}


def parseCsvChunk(chunk: list[str]) -> list[dict]:
    """Parse ``"id,value,timestamp"`` lines into dicts; runs in the process pool.

    ``id`` becomes an int, ``value`` a finite float, ``timestamp`` stays the string it was once
    checked to be a valid ``YYYY-MM-DD`` date. A malformed record raises ``ValueError`` naming its
    0-based index and text. Sleeps ``PARSE_SLEEP_SECONDS`` per record to stand in for CPU work.
    """
    if isinstance(chunk, str | bytes) or not isinstance(chunk, Iterable):
        raise TypeError(f"chunk must be a list of strings, got {type(chunk).__name__}")
    records = []
    for index, text in enumerate(chunk):
        time.sleep(PARSE_SLEEP_SECONDS)
        records.append(_parseRecord(index, text))
    return records
