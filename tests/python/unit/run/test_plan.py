"""What a run decides before the first request (aiperf.run.plan, aiperf.run.artifacts), with no server."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from aiperf.config import ConfigError, make_config
from aiperf.inputs.dataset import Conversation, Turn
from aiperf.inputs.endpoints import get_endpoint
from aiperf.run.artifacts import resolve_artifact_dir, run_log
from aiperf.run.plan import build_workload, count_input_tokens, engine_config, fixed_schedule


class _WordCounter:
    """A tokenizer that counts words."""

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(text.split()) for text in texts]


def _conversations(*turn_counts: int, delay_ms: float | None = None) -> list[Conversation]:
    return [Conversation(session_id=f"s{c}", turns=[Turn(texts=[f"turn {t} of {c}"], delay_ms=delay_ms)
                                                    for t in range(turns)])
            for c, turns in enumerate(turn_counts)]


def _stamped(*stamps_ms: float) -> list[Conversation]:
    return [Conversation(session_id=f"s{i}", turns=[Turn(texts=["x"], timestamp_ms=stamp, line=i + 1)])
            for i, stamp in enumerate(stamps_ms)]


def test_request_count_with_conversations_sends_whole_conversations_up_to_at_least_that_many():
    workload = build_workload(make_config(model="m", request_count=5), _conversations(2, 3))
    assert workload.session_count == 2 and workload.total_requests == 5
    assert workload.sessions.tolist() == [0, 2, 5]
    workload = build_workload(make_config(model="m", request_count=6), _conversations(2, 3))
    assert workload.session_count == 3 and workload.total_requests == 7  # a third conversation starts


def test_turn_delays_are_scaled_by_the_ratio_and_the_first_turn_waits_for_nothing():
    config = make_config(model="m", request_count=2, conversation_turn_delay_ratio=0.5)
    workload = build_workload(config, _conversations(2, 2, delay_ms=10.0))
    assert workload.turn_delays_ns.tolist() == [0, 5_000_000, 0, 5_000_000]


def test_single_turn_runs_have_no_session_offsets_and_random_pools_a_seeded_order():
    single = build_workload(make_config(model="m", request_count=4), _conversations(1, 1, 1))
    assert single.sessions is None and single.order is None and single.total_requests == 4
    config = make_config(model="m", request_count=50, random_seed=7)
    config.custom_dataset_type = "random_pool"  # no input file needed to draw from the pool
    first, again = (build_workload(config, _conversations(1, 1, 1)).order for _ in range(2))
    assert first.dtype == np.int32 and len(first) == 50 and set(first.tolist()) <= {0, 1, 2}
    assert first.tolist() == again.tolist()


def test_a_fixed_schedule_keeps_the_window_and_counts_from_its_origin():
    config = make_config(model="m")
    config.fixed_schedule_start_offset, config.fixed_schedule_end_offset = 10, 30
    kept, offsets_ns = fixed_schedule(config, _stamped(0, 10, 20, 30, 40))
    assert [c.session_id for c in kept] == ["s1", "s2", "s3"]
    assert offsets_ns.tolist() == [0, 10_000_000, 20_000_000]
    workload = build_workload(make_config(model="m"), kept, offsets_ns)
    assert workload.session_count == 3 and workload.total_requests == 3


@pytest.mark.parametrize(("stamps", "message"), [
    ((0, None), r"\(line 2\): timestamp: missing"),
    ((5, 3), r"\(line 2\): timestamp: 3 ms is before the previous entry's 5 ms"),
])
def test_a_fixed_schedule_names_the_line_of_a_bad_timestamp(stamps, message):
    with pytest.raises(ConfigError, match=message):
        fixed_schedule(make_config(model="m"), _stamped(*stamps))


def test_chat_input_tokens_add_up_the_earlier_turns_and_known_counts_are_kept():
    conversations = _conversations(3)
    conversations[0].turns[1].input_tokens = 10  # known: not re-counted
    tokens = count_input_tokens(get_endpoint("chat"), conversations, _WordCounter())
    assert tokens.tolist() == [4, 14, 18]
    assert count_input_tokens(get_endpoint("completions"), conversations, _WordCounter()).tolist() == [4, 10, 4]


def test_the_engine_config_follows_the_options():
    config = make_config(model="m", url="127.0.0.1:9", endpoint_type="embeddings", request_rate=5.0, request_count=3,
                         export_level="raw", request_cancellation_rate=25)
    ec = engine_config(config, get_endpoint("embeddings"), "application/json", False, "prefix-", 3)
    assert (ec.url, ec.request_rate, ec.request_count, ec.keep_raw) == ("http://127.0.0.1:9/v1/embeddings", 5.0, 3,
                                                                        True)
    assert ec.cancellation_rate == 0.25 and ec.request_id_prefix == "prefix-"
    assert not ec.expect_content  # embeddings carry vectors, not content
    assert engine_config(config, get_endpoint("chat"), "application/json", True, "p", 3).expect_content


def test_the_artifact_folder_is_aiperfs_name_unless_given(tmp_path):
    assert str(resolve_artifact_dir(make_config(model="org/m", concurrency=4))) == \
        "artifacts/org_m-openai-chat-concurrency4"
    assert resolve_artifact_dir(make_config(model="m", artifact_dir=str(tmp_path))) == tmp_path


def test_the_run_log_leaves_the_aiperf_logger_as_it_was(tmp_path):
    logger = logging.getLogger("aiperf")
    before = (logger.level, list(logger.handlers))
    with run_log(tmp_path, "DEBUG") as log_file:
        assert logger.level == logging.DEBUG
        logger.debug("inside")
    assert (logger.level, list(logger.handlers)) == before
    assert "inside" in log_file.read_text() and log_file == tmp_path / "logs" / "aiperf.log"
