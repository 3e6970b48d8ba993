"""Failed requests: the name and code of each error kind, and the run's error summary (ErrorGroups)."""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt

from aiperf.engine import ErrorKind, Records
from aiperf.results.columns import decode_ragged

__all__ = ["CANCELLED_CODE", "ERROR_TYPES", "ErrorEntry", "ErrorGroups", "error_code", "error_type_name"]

# the exception-style name of each error kind in the error summary and the exports (AIPerf's where it has the error)
ERROR_TYPES: dict[ErrorKind, str] = {
    ErrorKind.CONNECT: "ConnectionError",
    ErrorKind.TIMEOUT: "TimeoutError",
    ErrorKind.HTTP_STATUS: "HTTPError",
    ErrorKind.TRANSPORT: "TransportError",
    ErrorKind.INVALID_RESPONSE: "InvalidResponse",
    ErrorKind.CANCELLED: "Cancelled",
    ErrorKind.RESPONSE_TOO_LARGE: "ResponseTooLarge",
    ErrorKind.EMPTY_RESPONSE: "InvalidInferenceResultError",
}
CANCELLED_CODE = 499


# one group of the error summary: {"code": int | None, "type": str, "message": str, "count": int}
ErrorEntry = dict[str, Any]


def error_type_name(kind: int) -> str:
    try:
        return ERROR_TYPES.get(ErrorKind(int(kind)), "Error")
    except ValueError:  # a kind this table does not know yet
        return "Error"


def error_code(kind: int, status: int) -> int | None:
    """The HTTP status of an HTTP error, 499 for cancellations (as AIPerf), else None (an empty 200 has no code)."""
    if kind == ErrorKind.CANCELLED:
        return CANCELLED_CODE
    if kind == ErrorKind.EMPTY_RESPONSE:
        return None
    return int(status) if int(status) > 0 else None


# Numbers, and words holding a digit (ids such as chatcmpl-0000001a2f), do not split an error group.
_DIGITS = re.compile(r"\w*\d\w*")


class ErrorGroups:
    """Failed profiling requests grouped by (kind, status, message pattern), across record batches: numbers in
    messages (ids, byte counts, ms) do not split a group; the first message of a group is the one shown."""

    def __init__(self) -> None:
        self._groups: dict[tuple[int, int, str], ErrorEntry] = {}

    def add(self, records: Records, rows: npt.NDArray[np.int64]) -> None:
        if rows.size == 0:
            return
        kinds = records["error_kind"][rows].tolist()
        statuses = records["status"][rows].tolist()
        messages = decode_ragged(records["error_message_offsets"], records["error_message"], rows)
        for kind, status, message in zip(kinds, statuses, messages):
            key = (kind, status, _DIGITS.sub("#", message))
            entry = self._groups.get(key)
            if entry is None:
                self._groups[key] = {"code": error_code(kind, status), "type": error_type_name(kind),
                                     "message": message, "count": 1}
            else:
                entry["count"] += 1

    def entries(self) -> list[ErrorEntry]:
        """Most frequent first."""
        return sorted((dict(e) for e in self._groups.values()), key=lambda e: -e["count"])
