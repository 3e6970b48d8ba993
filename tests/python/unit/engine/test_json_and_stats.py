"""build_json must equal json.dumps (compact, ensure_ascii=False); compute_stats must equal numpy."""
from __future__ import annotations

import json
import math
import random
import struct
from typing import Any

import numpy as np
import pytest

from aiperf import _engine


def python_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


CASES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    "",
    "plain",
    'quote " backslash \\ slash /',
    "\n\r\t\b\f\x00\x01\x1f\x7f",
    "héllo wörld — 日本語 🎉 \u2028 \U0010ffff",
    0.1,
    1e-7,
    1e300,
    4.0,
    -0.0,
    0.0,
    1e16,
    1e15,
    123456789012345680.0,
    5e-324,
    1.7976931348623157e308,
    0.30000000000000004,
    [],
    {},
    (1, "two", 3.0),
    {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "stream": True,
    },
    {"z": 1, "a": 2, "m": {"y": [None, False, {"": ""}]}},
    {"size": "512x512", "num_inference_steps": 4, "guidance": 3.5, "n": 1},
    [[[[[[[]]]]]]],
    {"b64": "iVBORw0KGgo" * 1000 + '"' + "x" * 13},
]


@pytest.mark.parametrize("obj", CASES, ids=lambda o: repr(o)[:40])
def test_build_json_equals_compact_json_dumps(obj: Any) -> None:
    assert _engine.build_json(obj) == python_json(obj)


def test_build_json_matches_python_repr_for_random_doubles() -> None:
    rng = random.Random(1234)
    values = [struct.unpack("<d", rng.randbytes(8))[0] for _ in range(20000)]
    values = [v for v in values if math.isfinite(v)]
    values += [rng.uniform(-1e6, 1e6) for _ in range(5000)]
    values += [rng.random() * 10.0 ** rng.randint(-30, 30) for _ in range(5000)]
    assert _engine.build_json(values) == python_json(values)


def test_build_json_keeps_dict_key_order() -> None:
    obj = {str(k): k for k in (9, 3, 7, 1, 5)}
    assert _engine.build_json(obj) == b'{"9":9,"3":3,"7":7,"1":1,"5":5}'


def test_build_json_writes_bool_as_bool_not_int() -> None:
    assert _engine.build_json([True, 1, False, 0]) == b"[true,1,false,0]"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"x": [1.0, math.nan]}])
def test_build_json_rejects_nan_and_infinity(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"build_json: -?(nan|inf) is not allowed in JSON"):
        _engine.build_json(bad)


@pytest.mark.parametrize("big", [2**63, -(2**63) - 1, 10**30])
def test_build_json_rejects_integers_beyond_int64(big: int) -> None:
    with pytest.raises(ValueError, match="64 bits"):
        _engine.build_json({"n": big})


def test_build_json_non_str_key_is_a_type_error_naming_the_key() -> None:
    with pytest.raises(TypeError, match="42"):
        _engine.build_json({"ok": 1, 42: "x"})


def test_build_json_unsupported_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="set"):
        _engine.build_json({"s": {1, 2}})


def test_build_json_circular_list_is_an_error_not_a_crash() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="circular"):
        _engine.build_json(loop)


def test_build_json_lone_surrogate_is_a_unicode_error() -> None:
    with pytest.raises(UnicodeEncodeError):
        _engine.build_json("\ud800")


PERCENTILES = [1, 5, 10, 25, 50, 75, 90, 95, 99]
STAT_KEYS = ["avg", "min", "max", *(f"p{p}" for p in PERCENTILES), "std", "count", "sum"]


def numpy_stats(values: np.ndarray) -> dict[str, float]:
    kept = values[~np.isnan(values)]
    expected = {"avg": kept.mean(), "min": kept.min(), "max": kept.max()}
    expected.update({f"p{p}": v for p, v in zip(PERCENTILES, np.percentile(kept, PERCENTILES))})
    expected.update({"std": kept.std(), "count": kept.size, "sum": kept.sum()})
    return expected


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: rng.lognormal(3.0, 0.8, 100_003),
        lambda rng: rng.normal(0.0, 1.0, 1_000),
        lambda rng: rng.integers(0, 5, 997).astype(np.float64),  # many ties
        lambda rng: rng.uniform(-1e9, 1e9, 2),
        lambda rng: np.array([42.0]),
    ],
)
def test_compute_stats_equals_numpy(make: Any) -> None:
    values = make(np.random.default_rng(7))
    got = _engine.compute_stats(values)
    expected = numpy_stats(values)
    assert list(got) == STAT_KEYS
    assert got["count"] == expected["count"]
    for key in STAT_KEYS:
        assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key


def test_compute_stats_ignores_nan() -> None:
    values = np.random.default_rng(3).exponential(10.0, 5000)
    values[::7] = np.nan
    got = _engine.compute_stats(values)
    assert got["count"] == np.count_nonzero(~np.isnan(values))
    assert got["p90"] == pytest.approx(np.nanpercentile(values, 90), rel=1e-9)
    assert got["std"] == pytest.approx(np.nanstd(values), rel=1e-9)


def test_compute_stats_empty_and_all_nan() -> None:
    assert _engine.compute_stats(np.array([], dtype=np.float64)) == {"count": 0, "sum": 0.0}
    assert _engine.compute_stats(np.array([np.nan, np.nan])) == {"count": 0, "sum": 0.0}


def test_compute_stats_accepts_other_dtypes_and_non_contiguous_arrays() -> None:
    ints = np.arange(100, dtype=np.int32)
    assert _engine.compute_stats(ints)["p50"] == pytest.approx(49.5)
    strided = np.arange(200, dtype=np.float64)[::2]
    assert _engine.compute_stats(strided)["max"] == 198.0
    assert _engine.compute_stats([1, 2, 3])["avg"] == 2.0


def test_compute_stats_handles_a_million_values() -> None:
    values = np.random.default_rng(11).gamma(2.0, 50.0, 1_000_000)
    got = _engine.compute_stats(values)
    assert got["p99"] == pytest.approx(np.percentile(values, 99), rel=1e-9)
    assert got["avg"] == pytest.approx(values.mean(), rel=1e-9)
