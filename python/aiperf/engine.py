"""The Python face of the C++ engine: the only module of the client side that imports `aiperf._engine`.

What crosses the boundary is named here: the error kinds and phases of a record (`ErrorKind`, `Phase`), the
record columns (`RECORD_SCHEMA`), the clock anchor of a run (`ClockAnchor`), and what an engine offers
(`EngineLike`, met by `aiperf._engine.Engine` and by the Ray `DistributedEngine`). The mock server's facade is
`aiperf.mock`.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiperf import _engine

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "ENGINE_VERSION",
    "RECORD_SCHEMA",
    "ClockAnchor",
    "Engine",
    "EngineConfig",
    "EngineError",
    "EngineLike",
    "ErrorKind",
    "Phase",
    "Progress",
    "Records",
    "arrival_offsets_ns",
    "build_json",
    "compute_stats",
    "encode_jpeg",
    "encode_png",
    "libcurl_version",
    "monotonic_ns",
    "multipart_encode",
    "set_mmap_threshold",
    "sniff_image_type",
    "trim_memory",
]

ENGINE_VERSION: str = getattr(_engine, "__version__", "")
Engine = _engine.Engine
EngineConfig = _engine.EngineConfig
EngineError = _engine.EngineError
Progress = _engine.Progress
arrival_offsets_ns = _engine.arrival_offsets_ns
build_json = _engine.build_json
compute_stats = _engine.compute_stats
encode_jpeg = getattr(_engine, "encode_jpeg", None)  # None: built without a JPEG encoder
encode_png = _engine.encode_png
libcurl_version = _engine.libcurl_version
monotonic_ns = _engine.monotonic_ns
multipart_encode = _engine.multipart_encode
set_mmap_threshold = _engine.set_mmap_threshold
sniff_image_type = _engine.sniff_image_type
trim_memory = _engine.trim_memory

# A batch of records: column name -> numpy array (RECORD_SCHEMA says which columns and types).
Records = dict[str, "npt.NDArray[Any]"]


class ErrorKind(enum.IntEnum):
    """Why a request failed (`error_kind` of a record); the C++ enum of the same name, checked below."""

    OK = 0
    CONNECT = 1
    TIMEOUT = 2
    HTTP_STATUS = 3  # HTTP status >= 400
    TRANSPORT = 4  # reset, dropped stream
    INVALID_RESPONSE = 5  # bad JSON/SSE, wrong Content-Type, text stream without [DONE]
    CANCELLED = 6
    RESPONSE_TOO_LARGE = 7  # over EngineConfig.max_response_bytes
    EMPTY_RESPONSE = 8  # a 2xx response without content, reasoning or image (EngineConfig.expect_content)


class Phase(enum.IntEnum):
    """`phase` of a record; the C++ enum of the same name, checked below."""

    WARMUP = 0
    PROFILING = 1


def _check_same(python_enum: type[enum.IntEnum], native_enum: Any) -> None:
    # Spelled out here so type checkers and readers see the members; a rebuilt engine that renumbers them fails
    # at import instead of mislabelling records.
    native = {name.upper(): int(value) for name, value in native_enum.__members__.items()}
    ours = {member.name: member.value for member in python_enum}
    if native != ours:
        raise ImportError(f"aiperf._engine.{python_enum.__name__} {native} differs from aiperf.engine's {ours}")


_check_same(ErrorKind, _engine.ErrorKind)
_check_same(Phase, _engine.Phase)

# (column name, numpy dtype, kind) of every record column, in order: record, offsets, chunk, blob, raw_offsets,
# raw_blob (_engine.pyi says what each means).
RECORD_SCHEMA: tuple[tuple[str, str, str], ...] = tuple(_engine.RECORD_SCHEMA)


def empty_records() -> Records:
    """A batch of zero records: per-record offsets columns hold their leading 0, raw-only ones are empty."""
    import numpy as np

    return {name: np.zeros(1 if kind == "offsets" else 0, dtype=dtype) for name, dtype, kind in RECORD_SCHEMA}


@dataclass(frozen=True)
class ClockAnchor:
    """CLOCK_REALTIME and CLOCK_MONOTONIC read together at run start: converts the engine's times to epoch ns."""

    wall_ns: int
    mono_ns: int

    def to_wall_ns(self, mono_ns: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.where(mono_ns >= 0, mono_ns - self.mono_ns + self.wall_ns, -1)


class EngineLike(Protocol):
    """What a run needs of an engine: `aiperf._engine.Engine` and `run.distributed.DistributedEngine` offer it."""

    def start(self) -> None: ...
    def wait(self, timeout_s: float) -> bool: ...
    def stop(self) -> None: ...
    def progress(self) -> Any: ...
    def drain(self) -> Records: ...
    def records(self) -> Records: ...
    @property
    def anchor_wall_ns(self) -> int: ...
    @property
    def anchor_mono_ns(self) -> int: ...
