"""Warnings about what a run's numbers mean, read from its summary: printed after the metrics table and logged.

AIPerf's two (its titles, thresholds and advice): the output length differing from the length asked for, and the
server's `usage` counts differing from the client's; and ours for --use-server-token-count against a server that
sends no `usage`, whose token metrics are then left out rather than shown as zero.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiperf.inputs.endpoints import Endpoint
from aiperf.results.metrics.tokens import OSL_MISMATCH_MAX_TOKENS, OSL_MISMATCH_PCT, USAGE_DIFF_PCT

__all__ = ["RunWarning", "run_warnings"]


@dataclass(frozen=True)
class RunWarning:
    title: str
    lines: tuple[str, ...]

    def text(self) -> str:
        return "\n".join(self.lines)


def _avg(summary: Mapping[str, Mapping[str, float]], tag: str) -> float | None:
    block = summary.get(tag)
    return None if block is None else block.get("avg")


def run_warnings(summary: Mapping[str, Mapping[str, float]], *, endpoint: Endpoint,
                 server_token_counts: bool) -> list[RunWarning]:
    """The warnings a summary calls for, in the order they are printed."""
    requests = int(_avg(summary, "request_count") or 0)
    if requests == 0:
        return []
    warnings = []
    mismatches = int(_avg(summary, "osl_mismatch_count") or 0)
    if mismatches:
        diff = _avg(summary, "osl_mismatch_diff_pct")
        warnings.append(RunWarning("Output Sequence Length Mismatch Warning", (
            f"{mismatches:,} of {requests:,} requests ({mismatches / requests * 100:.1f}%) have output length "
            "differing from requested by more than the threshold.",
            f"Threshold (tokens): min(requested x {OSL_MISMATCH_PCT:g}%, {OSL_MISMATCH_MAX_TOKENS:g})",
            f"Average mismatch: {f'{diff:.1f}%' if diff is not None else 'N/A'}",
            "Why: the server stopped early (an EOS token) or ignored the limit (max_completion_tokens / max_tokens).",
            "Fix options: --extra-inputs ignore_eos:true (vLLM, TensorRT-LLM); --extra-inputs min_tokens:<N>; "
            "--use-server-token-count if the tokenizer differs from the model's.",
            "Per request: osl_mismatch_diff_pct in profile_export.jsonl.",
        )))
    discrepancies = int(_avg(summary, "usage_discrepancy_count") or 0)
    if discrepancies:
        warnings.append(RunWarning("Token Count Discrepancy Warning", (
            f"{discrepancies:,} of {requests:,} requests ({discrepancies / requests * 100:.1f}%) show a difference "
            f"exceeding {USAGE_DIFF_PCT:g}% between the server's usage counts and the client's token counts.",
            "Possible causes: a tokenizer other than the model's (--tokenizer), or the server's chat template and "
            "special tokens.",
            "Per request: usage_*_diff_pct in profile_export.jsonl.",
        )))
    if server_token_counts:
        tag = ("output_sequence_length" if endpoint.produces_tokens
               else "input_sequence_length" if endpoint.tokenizes_input else None)
        counted = int(summary[tag].get("count", 0)) if tag is not None and tag in summary else 0
        if tag is not None and counted < requests:
            missing = requests - counted
            lost = ("sequence lengths, token throughputs, inter-token latency" if endpoint.produces_tokens
                    else "input sequence length")
            scope = ("are left out" if counted == 0 else
                     f"cover only the {counted:,} responses with usage")
            warnings.append(RunWarning("Server Token Counts Missing", (
                f"--use-server-token-count: {missing:,} of {requests:,} successful responses carried no usage "
                f"token counts; the token metrics ({lost}) {scope}.",
                "Streams carry usage only when the server honours stream_options.include_usage; or count tokens "
                "with the tokenizer instead (without --use-server-token-count).",
            )))
    return warnings
