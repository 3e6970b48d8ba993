"""aiperf.results.timeline: throughput and concurrency over time from start/end ns arrays (hand-computed cases)."""
from __future__ import annotations

import numpy as np
import pytest

from aiperf.results.timeline import compute_timeline, concurrency_steps, nice_bin_s

S = 1_000_000_000
EPOCH = 1_700_000_000 * S  # epoch-scale times must not lose precision


def test_overlapping_requests_give_the_time_weighted_mean_and_peak_per_bin():
    # [0, 2 s), [0.5 s, 1.5 s), [1 s, 3 s)
    start = EPOCH + np.array([0, S // 2, S])
    end = EPOCH + np.array([2 * S, 3 * S // 2, 3 * S])
    timeline = compute_timeline(start, end, bin_s=1.0)
    assert timeline.time_s.tolist() == [0.0, 1.0, 2.0]
    assert timeline.concurrency.tolist() == pytest.approx([1.5, 2.5, 1.0])
    assert timeline.max_concurrency.tolist() == [2, 3, 1]  # at 2 s the first request has ended
    assert timeline.request_throughput.tolist() == [0.0, 1.0, 2.0]  # ends at 1.5 s, 2 s and 3 s (the run's end)
    assert timeline.send_rate.tolist() == [2.0, 1.0, 0.0]
    assert timeline.output_token_throughput is None and timeline.intended_rate is None


def test_back_to_back_requests_never_overlap():
    start = np.array([1, 11, 21]) * S // 10
    end = np.array([11, 21, 31]) * S // 10
    times, in_flight = concurrency_steps(start, end)
    assert in_flight.tolist() == [1, 1, 1, 0]
    assert times.tolist() == (np.array([1, 11, 21, 31]) * S // 10).tolist()
    assert compute_timeline(start, end, bin_s=1.0).max_concurrency.tolist() == [1, 1, 1]


def test_failed_requests_count_as_errors_and_tokens_are_per_second():
    start = np.array([0, 0, 0]) + S
    end = np.array([S // 2, S // 2, 3 * S // 2]) + S
    timeline = compute_timeline(start, end, ok=[True, False, True], output_tokens=[10, np.nan, 30],
                                bin_s=1.0)
    # the last bin is half covered by the run (it ends at 1.5 s): rates are per covered second
    assert timeline.request_throughput.tolist() == [1.0, 2.0]
    assert timeline.error_rate.tolist() == [1.0, 0.0]
    assert timeline.output_token_throughput.tolist() == [10.0, 60.0]


def test_a_request_without_end_stays_in_flight_until_the_run_ends_and_unsent_ones_are_ignored():
    start = np.array([S, 2 * S, -1])
    end = np.array([2 * S, -1, -1])
    timeline = compute_timeline(start, end, run_end_ns=4 * S, bin_s=1.0)
    assert timeline.concurrency.tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert timeline.send_rate.sum() == 2.0


def test_intended_start_gives_the_scheduled_rate_and_the_send_lag():
    intended = EPOCH + np.array([0, S // 4, S // 2, 5 * S // 4])
    start = intended + np.array([1_000_000, 3_000_000, 0, 2_000_000])  # 1, 3, 0, 2 ms late
    end = start + S // 10
    timeline = compute_timeline(start, end, intended_start_ns=intended, bin_s=1.0)
    assert timeline.origin_ns == EPOCH
    assert timeline.intended_rate.tolist()[0] == 3.0
    assert timeline.send_lag_ms.tolist() == pytest.approx([4 / 3, 2.0])
    columns = timeline.columns()
    assert "intended_rate" in columns and "send_lag_ms" in columns


def test_closed_loop_runs_with_null_intended_times_have_no_schedule_series():
    timeline = compute_timeline([S, 2 * S], [2 * S, 3 * S], intended_start_ns=[None, None])
    assert timeline.intended_rate is None and "send_lag_ms" not in timeline.columns()


def test_values_from_a_dataframe_with_missing_entries_are_accepted():
    start = np.array([1.0 * S, np.nan, 2.0 * S])
    end = np.array([2.0 * S, np.nan, 3.0 * S])
    timeline = compute_timeline(start, end, bin_s=1.0)
    assert timeline.send_rate.sum() == 2.0
    with pytest.raises(ValueError, match="differ in length"):
        compute_timeline([1, 2], [3])
    with pytest.raises(ValueError, match="bin_s"):
        compute_timeline([S], [2 * S], bin_s=0)


@pytest.mark.parametrize(("duration_s", "expected"),
                         [(60.0, 1.0), (6.0, 0.1), (130.0, 5.0), (0.012, 0.001), (0.0, 1.0)])
def test_bins_are_round_numbers(duration_s, expected):
    assert nice_bin_s(duration_s, target_bins=60) == pytest.approx(expected)
