"""Option parsing and validation: every bad option is rejected before anything is sent, naming the option."""
from __future__ import annotations

import subprocess
import sys

import pytest

from aiperf.cli import config_from_args, main
from aiperf.config import ConfigError, make_config, parse_extra_inputs

BASE = ["--model", "m", "--url", "127.0.0.1:9"]


def test_defaults_follow_aiperf():
    config = config_from_args(BASE)
    assert config.endpoint_type == "chat"
    assert config.export_level == "records"
    assert config.synthetic_input_tokens_mean == 550
    assert config.request_timeout_seconds == 21600.0
    assert config.max_response_bytes == 256 * 1024 * 1024
    assert config.effective_request_count == 10
    assert config.full_url == "http://127.0.0.1:9/v1/chat/completions"
    assert config.tokenizer_name == "m"


def test_aliases_map_to_the_same_option():
    a = config_from_args(BASE + ["--isl", "100", "--osl", "20", "--num-requests", "7", "--max-workers", "2"])
    b = config_from_args(BASE + ["--synthetic-input-tokens-mean", "100", "--output-tokens-mean", "20",
                                 "--request-count", "7", "--workers-max", "2"])
    assert (a.synthetic_input_tokens_mean, a.output_tokens_mean, a.request_count, a.workers_max) == (100, 20, 7, 2)
    assert (b.synthetic_input_tokens_mean, b.output_tokens_mean, b.request_count, b.workers_max) == (100, 20, 7, 2)


def test_request_count_default_is_twice_the_concurrency():
    assert config_from_args(BASE + ["--concurrency", "64"]).effective_request_count == 128


def test_extra_inputs_keep_json_types():
    extra = parse_extra_inputs(["size:512x512", "num_inference_steps:4", "guidance_scale:1.0", "flag:true",
                                '{"nested": {"a": 1}}'])
    assert extra == {"size": "512x512", "num_inference_steps": 4, "guidance_scale": 1.0, "flag": True,
                     "nested": {"a": 1}}


def test_url_forms():
    assert config_from_args(["--model", "m", "--url", "http://h:1/"]).base_url == "http://h:1"
    assert config_from_args(["--model", "m", "--url", "h:2", "--endpoint", "v2/x"]).full_url == "http://h:2/v2/x"
    assert config_from_args(["--model", "m", "--url", "https://h"]).full_url == "https://h/v1/chat/completions"


def test_api_key_becomes_bearer_header_and_is_redacted_in_saved_config():
    config = config_from_args(BASE + ["--api-key", "sk-secret", "-H", "X-Api-Key:abc", "-H", "X-Other:1"])
    assert config.headers["Authorization"] == "Bearer sk-secret"
    saved = repr(config.to_dict())
    assert "sk-secret" not in saved and "abc" not in saved
    assert "X-Other" in saved


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "h:1"], "--model"),
        (BASE + ["--concurrency", "-1"], "--concurrency: must be > 0"),
        (BASE + ["--concurrency", "0"], "--concurrency: must be > 0"),
        (BASE + ["--request-count", "0"], "--request-count: must be > 0"),
        (BASE + ["--warmup-request-count", "-2"], "--warmup-request-count"),
        (BASE + ["--benchmark-duration", "0"], "--benchmark-duration"),
        (BASE + ["--request-timeout-seconds", "-5"], "--request-timeout-seconds"),
        (BASE + ["--max-response-bytes", "-1"], "--max-response-bytes: must be >= 0 (got -1)"),
        (BASE + ["--synthetic-input-tokens-mean", "0"], "--prompt-input-tokens-mean"),
        (BASE + ["--output-tokens-stddev", "-1"], "--prompt-output-tokens-stddev"),
        (BASE + ["--extra-inputs", "novalue"], "--extra-inputs"),
        (BASE + ["--extra-inputs", "{bad json"], "--extra-inputs"),
        (BASE + ["--extra-inputs", "[1,2]"], "--extra-inputs"),
        (BASE + ["--header", "NoColon"], "--header"),
        (BASE + ["--input-file", "/nonexistent/file.jsonl"], "--input-file: /nonexistent/file.jsonl"),
        (BASE + ["--input-file", "/"], "--input-file"),
        (BASE + ["--custom-dataset-type", "single_turn"], "--custom-dataset-type: needs --input-file"),
        (["--model", "m", "--url", "ftp://h:1"], "--url"),
        (["--model", "m", "--url", "http://h:notaport"], "--url"),
        (BASE + ["--goodput", "nonsense"], "--goodput"),
        (BASE + ["--goodput", "request_latency:abc"], "--goodput"),
        (BASE + ["--workers-max", "0"], "--workers-max"),
    ],
)
def test_invalid_options_name_the_option(args, message):
    with pytest.raises(ConfigError) as info:
        config_from_args(args)
    assert message in str(info.value)


def test_unknown_endpoint_type_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["profile", "--model", "m", "--endpoint-type", "bogus"])
    assert info.value.code == 2
    assert "--endpoint-type" in capsys.readouterr().err


def test_invalid_option_exits_2_with_message(capsys):
    assert main(["profile", "--model", "m", "--concurrency", "-3"]) == 2
    assert "--concurrency: must be > 0 (got -3)" in capsys.readouterr().err


def test_python_api_accepts_flag_spellings():
    config = make_config(model="m", isl=12, num_requests=3, endpoint_type="completions")
    assert (config.synthetic_input_tokens_mean, config.request_count) == (12, 3)
    with pytest.raises(ConfigError, match="unknown option 'bogus'"):
        make_config(model="m", bogus=1)


def test_help_lists_every_option():
    from aiperf.config import OPTIONS

    out = subprocess.run([sys.executable, "-m", "aiperf", "profile", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for option in OPTIONS:
        for flag in option.flags:
            assert flag in out, flag


def test_help_does_not_import_heavy_modules():
    code = ("import sys; from aiperf.cli import build_parser; build_parser().format_help(); "
            "heavy = [m for m in ('numpy', 'rich', 'tokenizers', 'pandas', 'aiperf._engine') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_options_doc_is_up_to_date():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    spec = importlib.util.spec_from_file_location("gen_options_doc", root / "tools" / "gen_options_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (root / "docs" / "options.md").read_text(encoding="utf-8") == module.render(), \
        "run: python tools/gen_options_doc.py"


def test_validate_returns_a_new_config_and_leaves_the_given_one_as_it_was():
    from aiperf.config import ProfileConfig, validate

    given = ProfileConfig(model=["a,b"], extra_inputs=["n:4"], log_level="debug")
    checked = validate(given)
    assert checked is not given
    assert (checked.model, checked.extra_body, checked.log_level) == (["a", "b"], {"n": 4}, "DEBUG")
    assert (given.model, given.extra_body, given.log_level) == (["a,b"], {}, "debug")


def test_every_row_knows_its_field_default():
    from aiperf.config import OPTIONS, ProfileConfig

    defaults = ProfileConfig()
    assert all(getattr(defaults, o.dest) == o.default for o in OPTIONS)
    assert {o.dest: o.type for o in OPTIONS}["concurrency"] is int


def test_choices_are_checked_for_python_callers_too():
    with pytest.raises(ConfigError, match="--kernel-timestamps: 'always' is not one of auto, on, off"):
        make_config(model="m", kernel_timestamps="always")
    with pytest.raises(ConfigError, match="--export-level: 'all' is not one of summary, records, raw"):
        make_config(model="m", export_level="all")


def test_a_row_whose_annotation_has_no_cli_parser_fails_at_import_time():
    from dataclasses import fields, make_dataclass

    from aiperf.config.options import _ROW, _row, flag, option

    odd = make_dataclass("Odd", [("sizes", "dict[str, int]", option("--sizes", group="X", help="h")),
                                 ("switch", "int", flag("--switch", group="X", help="h"))])
    sizes, switch = fields(odd)
    with pytest.raises(TypeError, match="no CLI parser"):
        _row(sizes.name, str(sizes.type), sizes.metadata[_ROW], None)
    with pytest.raises(TypeError, match="must be annotated"):
        _row(switch.name, str(switch.type), switch.metadata[_ROW], False)
