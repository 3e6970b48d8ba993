"""`ProfileConfig`: the options of `ProfileOptions` plus the values derived from them, as a run reads them."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from aiperf.config.options import OPEN_LOOP_MAX_IN_FLIGHT, ProfileOptions

if TYPE_CHECKING:
    from aiperf.inputs.input_images import SyntheticImageSpec

__all__ = ["ProfileConfig"]


@dataclass
class ProfileConfig(ProfileOptions):
    """A validated `aiperf profile` configuration (Python names of the CLI options)."""

    # Filled by validate(): values derived from the options.
    extra_body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    goodput_slos: dict[str, float] = field(default_factory=dict)
    cli_command: str | None = None

    @property
    def base_url(self) -> str:
        url = self.url.strip().rstrip("/")
        scheme, sep, rest = url.partition("://")
        return f"{scheme.lower()}://{rest}" if sep else f"http://{url}"

    @property
    def endpoint_path(self) -> str:
        from aiperf.inputs.endpoints import get_endpoint

        path = self.endpoint or get_endpoint(self.endpoint_type).path
        return path if path.startswith("/") else f"/{path}"

    @property
    def full_url(self) -> str:
        return self.base_url + self.endpoint_path

    @property
    def effective_request_content_type(self) -> str:
        if self.request_content_type is not None:
            return self.request_content_type
        return "multipart/form-data" if self.endpoint_type == "image_edit" else "application/json"

    @property
    def synthetic_images(self) -> SyntheticImageSpec:
        from aiperf.inputs.input_images import SyntheticImageSpec

        return SyntheticImageSpec(self.image_width_mean, self.image_width_stddev, self.image_height_mean,
                                  self.image_height_stddev, self.image_batch_size, self.image_format)

    @property
    def open_loop(self) -> bool:
        """Requests are sent on a schedule (--request-rate, --fixed-schedule), not whenever one ends."""
        return self.request_rate is not None or self.fixed_schedule

    @property
    def effective_concurrency(self) -> int:
        """Closed loop: sessions in flight. Open loop: the cap on requests in flight (none given: effectively
        unlimited; the engine adds connections as the schedule needs them)."""
        if self.concurrency is not None:
            return self.concurrency
        return OPEN_LOOP_MAX_IN_FLIGHT if self.open_loop else 1

    @property
    def effective_request_count(self) -> int:
        """Profiling sessions (a single-turn request is a session of one turn); 0 means bounded by
        --benchmark-duration only (or, with --fixed-schedule, by the schedule's length)."""
        if self.conversation_num is not None:
            return self.conversation_num
        if self.request_count is not None:
            return self.request_count
        if self.benchmark_duration is not None or self.fixed_schedule:
            return 0
        return max(10, 2 * (self.concurrency or 1))  # AIPerf's default, in closed and open loop

    @property
    def effective_arrival_pattern(self) -> str:
        return "gamma" if self.arrival_smoothness is not None else self.arrival_pattern

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer or self.model[0]

    @property
    def effective_ui_type(self) -> str:
        if self.ui_type is not None:
            return "simple" if self.ui_type == "dashboard" else self.ui_type
        return "simple" if sys.stderr.isatty() else "none"

    @property
    def num_threads(self) -> int:
        if self.workers_max is not None:
            return self.workers_max
        # One loop thread drives thousands of connections; a second helps only at high concurrency.
        cores = os.cpu_count() or 1
        load = (int(self.request_rate // 2000) if self.request_rate else 0) if self.open_loop \
            else self.effective_concurrency // 256
        return max(1, min(cores - 1, load, 32)) if cores > 2 else 1

    @property
    def secret_values(self) -> tuple[str, ...]:
        """The API key, secret header values and URL password: replaced wherever the run writes text."""
        from aiperf.redaction import secret_values

        return secret_values(self.api_key, self.headers, self.url)

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """The resolved config for exports; secrets redacted."""
        from aiperf.redaction import REDACTED, redact_header_value, redact_text, redact_url

        secrets = self.secret_values
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "api_key" and value and redact:
                value = REDACTED
            elif f.name == "headers" and redact:
                value = {k: redact_header_value(k, v) for k, v in value.items()}
            elif f.name == "header" and redact:
                value = [redact_text(_redact_header_arg(h), secrets) for h in value]
            elif f.name in ("url", "cli_command") and value and redact:
                value = redact_text(redact_url(value), secrets)
            out[f.name] = value
        out["base_url"] = redact_url(self.base_url) if redact else self.base_url
        out["endpoint_path"] = self.endpoint_path
        out["request_count_resolved"] = self.effective_request_count
        out["concurrency_resolved"] = self.effective_concurrency
        return out


def _redact_header_arg(text: str) -> str:
    from aiperf.redaction import redact_header_value

    name, sep, value = text.partition(":")
    return f"{name}{sep}{redact_header_value(name.strip(), value)}" if sep else text
