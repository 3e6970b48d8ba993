"""Bad input everywhere: each invalid option, combination or input file ends `aiperf profile` with exit code 2 and
a message naming the option, file or line, and nothing is sent: the --url points at a listening socket that must
see no connection."""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field

import pytest

from aiperf.cli import main


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # "{tmp}" is replaced by the case's folder; "{url}" by the listening socket's address
    message: str  # expected in stderr
    files: dict[str, str | bytes] = field(default_factory=dict)  # written into {tmp} first
    url: bool = True  # add --url {url} (off when the case gives its own --url)
    model: bool = True  # add --model m


def _lines(*objects: object) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


CASES = [
    # ---- option values argparse rejects --------------------------------------------------------------------
    Case("concurrency-not-int", ("--concurrency", "abc"), "argument --concurrency: invalid int value: 'abc'"),
    Case("unknown-endpoint-type", ("--endpoint-type", "bogus"), "argument --endpoint-type: invalid choice: 'bogus'"),
    Case("unknown-export-level", ("--export-level", "all"), "argument --export-level/--profile-export-level: "
         "invalid choice: 'all'"),
    Case("unknown-log-level", ("--log-level", "loud"), "argument --log-level: invalid choice: 'LOUD'"),
    Case("unknown-flag", ("--no-such-option",), "unrecognized arguments: --no-such-option"),
    Case("missing-value", ("--request-count",), "argument --request-count/--num-requests: expected one argument"),
    Case("seed-not-int", ("--random-seed", "1.5"), "argument --random-seed: invalid int value: '1.5'"),
    Case("duration-not-number", ("--benchmark-duration", "10s"), "argument --benchmark-duration: invalid float "
         "value: '10s'"),
    Case("unknown-content-type", ("--request-content-type", "text/plain"), "argument --request-content-type: "
         "invalid choice: 'text/plain'"),
    # ---- option values validation rejects -------------------------------------------------------------------
    Case("no-model", (), "--model: required", model=False),
    Case("empty-model", ("--model", " , "), "--model: required", model=False),
    Case("concurrency-zero", ("--concurrency", "0"), "--concurrency: must be > 0 (got 0)"),
    Case("request-count-negative", ("--request-count", "-1"), "--request-count: must be > 0 (got -1)"),
    Case("warmup-negative", ("--warmup-request-count", "-2"), "--warmup-request-count: must be >= 0 (got -2)"),
    Case("duration-negative", ("--benchmark-duration", "-5"), "--benchmark-duration: must be > 0 (got -5.0)"),
    Case("duration-nan", ("--benchmark-duration", "nan"), "--benchmark-duration: must be a finite number"),
    Case("duration-inf", ("--benchmark-duration", "inf"), "--benchmark-duration: must be a finite number"),
    Case("grace-negative", ("--benchmark-grace-period", "-1"), "--benchmark-grace-period: must be >= 0 (got -1.0)"),
    Case("timeout-zero", ("--request-timeout-seconds", "0"), "--request-timeout-seconds: must be > 0 (got 0.0)"),
    Case("timeout-nan", ("--request-timeout-seconds", "nan"), "--request-timeout-seconds: must be a finite number"),
    Case("isl-zero", ("--isl", "0"), "--prompt-input-tokens-mean: must be > 0 (got 0)"),
    Case("isl-stddev-negative", ("--isl-stddev", "-1"), "--prompt-input-tokens-stddev: must be >= 0 (got -1.0)"),
    Case("osl-negative", ("--osl", "-4"), "--prompt-output-tokens-mean: must be > 0 (got -4)"),
    Case("batch-size-zero", ("--batch-size", "0"), "--prompt-batch-size: must be > 0 (got 0)"),
    Case("dataset-entries-zero", ("--num-dataset-entries", "0"), "--num-dataset-entries: must be > 0 (got 0)"),
    Case("workers-too-many", ("--workers-max", "1000"), "--workers-max: at most 256 (got 1000)"),
    Case("endpoint-empty", ("--endpoint", " "), "--endpoint: empty path"),
    Case("api-key-empty", ("--api-key", ""), "--api-key: empty or contains a line break"),
    Case("extra-inputs-no-colon", ("--extra-inputs", "temperature"), "--extra-inputs: 'temperature' is not "
         "'key:value' or a JSON object"),
    Case("extra-inputs-bad-json", ("--extra-inputs", "{temperature: 1}"), "--extra-inputs: '{temperature: 1}' is "
         "not valid JSON"),
    Case("extra-inputs-json-array", ("--extra-inputs", "[1, 2]"), "--extra-inputs: '[1, 2]' is not 'key:value'"),
    Case("header-no-colon", ("-H", "X-Trace"), "--header: value 1 is not 'key:value' or a JSON object"),
    Case("header-bad-name", ("-H", "X Trace:1"), "--header: 'X Trace' is not a valid header name"),
    Case("header-json-not-object", ("-H", '["a"]'), "--header: value 1 is not 'key:value'"),
    Case("goodput-no-value", ("--goodput", "request_latency"), "--goodput: 'request_latency' is not 'metric:value'"),
    Case("goodput-unknown-metric", ("--goodput", "speed:1"), "--goodput: unknown metric 'speed'"),
    Case("goodput-not-number", ("--goodput", "request_latency:fast"), "--goodput: 'request_latency:fast': value "
         "'fast' is not a number"),
    Case("tokenizer-missing", ("--tokenizer", "{tmp}/no-tokenizer"), "--tokenizer"),
    # ---- --url ----------------------------------------------------------------------------------------------
    Case("url-ftp", ("--url", "ftp://127.0.0.1:21"), "--url: 'ftp://127.0.0.1:21': only http:// and https:// are "
         "supported", url=False),
    Case("url-unix-socket", ("--url", "unix:///tmp/server.sock"), "--url: 'unix:///tmp/server.sock': only http://",
         url=False),
    Case("url-empty", ("--url", " "), "--url: empty", url=False),
    Case("url-no-host", ("--url", "http://"), "--url: 'http://': no host", url=False),
    Case("url-bad-port", ("--url", "127.0.0.1:http"), "--url: '127.0.0.1:http': invalid port", url=False),
    Case("url-port-out-of-range", ("--url", "127.0.0.1:70000"), "--url: '127.0.0.1:70000': invalid port",
         url=False),
    Case("url-space", ("--url", "http://127.0.0.1:1/a b"), "--url: 'http://127.0.0.1:1/a b': contains a space or "
         "control character", url=False),
    # ---- combinations ---------------------------------------------------------------------------------------
    Case("dataset-type-without-file", ("--custom-dataset-type", "single_turn"), "--custom-dataset-type: needs "
         "--input-file"),
    Case("multipart-for-chat", ("--request-content-type", "multipart/form-data"), "--request-content-type: "
         "multipart/form-data is only supported by image_edit"),
    Case("image-width-without-height", ("--image-width-mean", "64"), "--image-width-mean/--image-height-mean: "
         "give both"),
    Case("image-too-wide", ("--image-width-mean", "20000", "--image-height-mean", "64"), "--image-width-mean: at "
         "most 16384 pixels"),
    Case("image-edit-without-images", ("--endpoint-type", "image_edit"), "image_edit needs a reference image"),
    Case("image-edit-zero-images", ("--endpoint-type", "image_edit", "--image-batch-size", "0"),
         "--image-batch-size: image_edit needs at least 1 reference image"),
    Case("image-size-invalid", ("--endpoint-type", "image_generation", "--extra-inputs", "size:big"),
         "--extra-inputs: size:"),
    # ---- input files ----------------------------------------------------------------------------------------
    Case("input-file-missing", ("--input-file", "{tmp}/none.jsonl"), "none.jsonl: no such file"),
    Case("input-file-is-folder", ("--input-file", "{tmp}"), "is a folder, expected a JSONL file"),
    Case("input-file-bad-json", ("--input-file", "{tmp}/in.jsonl"), "in.jsonl:2",
         files={"in.jsonl": _lines({"text": "ok"}) + '{"text": \n'}),
    Case("input-file-empty", ("--input-file", "{tmp}/in.jsonl"), "in.jsonl",
         files={"in.jsonl": ""}),
    Case("input-file-not-object", ("--input-file", "{tmp}/in.jsonl"), "in.jsonl:1",
         files={"in.jsonl": "[1, 2]\n"}),
    Case("input-file-not-utf8", ("--input-file", "{tmp}/in.jsonl"), "in.jsonl",
         files={"in.jsonl": b'{"text": "\xff\xfe"}\n'}),
    Case("single-turn-without-text", ("--input-file", "{tmp}/in.jsonl", "--custom-dataset-type", "single_turn"),
         "in.jsonl:1", files={"in.jsonl": _lines({"prompt": "wrong field"})}),
    Case("text-and-texts", ("--input-file", "{tmp}/in.jsonl"), "in.jsonl:1: texts: give either 'text' or "
         "'texts', not both", files={"in.jsonl": _lines({"text": "a", "texts": ["b"]})}),
    Case("texts-not-strings", ("--input-file", "{tmp}/in.jsonl"), "in.jsonl:2: texts[0]: expected a string",
         files={"in.jsonl": _lines({"text": "a"}, {"texts": [1]})}),
    Case("timestamp-and-delay", ("--input-file", "{tmp}/in.jsonl"), "in.jsonl:1: delay: give either 'timestamp' "
         "or 'delay', not both", files={"in.jsonl": _lines({"text": "a", "timestamp": 0, "delay": 5})}),
    Case("image-edit-line-without-image", ("--endpoint-type", "image_edit", "--input-file", "{tmp}/in.jsonl"),
         "in.jsonl:1", files={"in.jsonl": _lines({"text": "make it blue"})}),
    Case("image-edit-image-missing", ("--endpoint-type", "image_edit", "--input-file", "{tmp}/in.jsonl"),
         "no-such.png", files={"in.jsonl": _lines({"text": "make it blue", "image": "no-such.png"})}),
]


@pytest.fixture(scope="module")
def listening_socket():
    """A socket that listens but never answers: any request would show up as a pending connection."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        s.setblocking(False)
        yield s


def test_there_are_at_least_40_cases_with_distinct_ids():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_a_specific_message_and_sends_nothing(case, listening_socket, tmp_path, capsys):
    for name, content in case.files.items():
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    url = f"127.0.0.1:{listening_socket.getsockname()[1]}"
    args = [a.replace("{tmp}", str(tmp_path)) for a in case.args]
    argv = ["profile", *(["--model", "m"] if case.model else []), *(["--url", url] if case.url else []),
            "--tokenizer", "gpt2", "--request-count", "1", "--ui-type", "none",
            "--artifact-dir", str(tmp_path / "artifacts"), *args]
    if "--tokenizer" in case.args:
        argv[argv.index("gpt2") - 1:argv.index("gpt2") + 1] = []
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: usage and message on stderr, exit code 2
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert case.message in err, err
    assert "Traceback" not in err
    with pytest.raises(BlockingIOError):
        listening_socket.accept()[0].close()
    assert not (tmp_path / "artifacts" / "profile_export_aiperf.json").exists()


def test_a_listening_socket_sees_a_valid_run(tmp_path):
    # The control case: with valid options such a socket gets a connection, so the check above can fail.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        code = main(["profile", "--model", "m", "--url", f"127.0.0.1:{s.getsockname()[1]}", "--tokenizer",
                     "gpt2", "--request-count", "1", "--request-timeout-seconds", "0.5", "--ui-type", "none",
                     "--artifact-dir", str(tmp_path)])
        assert code == 0
        s.settimeout(5)
        s.accept()[0].close()
