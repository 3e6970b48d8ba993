"""Tokenizer loading (local folder/file, hub cache, offline GPT-2 asset) and the GPT-2 conversion."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aiperf.inputs.tokenizer import Tokenizer, TokenizerError, gpt2_asset_dir, load_tokenizer
from aiperf.inputs.tokenizer.gpt2_asset import GPT2_EOT_ID, GPT2_PATTERN, load_tiktoken_ranks

REPO = Path(__file__).resolve().parents[4]
ASSET_DIR = gpt2_asset_dir()  # resolved before any test changes the environment

VARIED_TEXTS = [
    "Hello, world! This is a plain English sentence.",
    "Numbers: 0 1 12 123 1234 12345 3.14159 -42 1e10 2024-06-11 10:45:00 $1,000,000.00",
    "Whitespace runs:   three spaces,\ttab,\t\ttwo tabs,\n\nblank line,   \n trailing   ",
    "Unicode: héllo wörld, naïve café, Ελληνικά, русский текст, 日本語のテキスト, 中文, 한국어, עברית, العربية",
    "Emoji 🙂🙃👩‍💻 and symbols ©®™ → ← ∑ ∞ ≈ ≠ ½ ¼ …",
    (
        "def fib(n: int) -> int:\n    if n < 2:\n        return n\n"
        "    return fib(n - 1) + fib(n - 2)  # recursion\n"
    ),
    'for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }\n\tprintf("%d\\n", sum);',
    "Contractions: don't, I'll, we're, they've, she's, I'm, he'd, DON'T, It'S",
    "URLs https://example.com/a/b?c=d&e=f#g and emails someone@example.org, <tags> </tags>",
    "",
    " ",
    "\n",
    "   leading spaces and trailing spaces   ",
    "a" * 300 + " " + "ab" * 100 + " " + "1" * 77,
]


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach the hub: offline mode and an empty hub cache of its own."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)


def gpt2_asset_or_skip() -> Path:
    """The GPT-2 asset made by `make tokenizer-assets`; skip without it, except in CI where it must exist."""
    if (ASSET_DIR / "tokenizer.json").is_file() and (ASSET_DIR / "gpt2.tiktoken").is_file():
        return ASSET_DIR
    message = f"GPT-2 tokenizer asset missing in {ASSET_DIR}: run `make tokenizer-assets`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def tiktoken_gpt2():
    import tiktoken

    asset = gpt2_asset_or_skip()
    return tiktoken.Encoding(
        name="gpt2-from-cache",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=load_tiktoken_ranks(asset / "gpt2.tiktoken"),
        special_tokens={"<|endoftext|>": GPT2_EOT_ID},
    )


def sample_texts() -> list[str]:
    texts = list(VARIED_TEXTS)
    texts.append((REPO / "python" / "aiperf" / "inputs" / "tokenizer" / "gpt2_asset.py").read_text(encoding="utf-8"))
    rng = np.random.default_rng(7)
    alphabet = [
        chr(c)
        for c in list(range(32, 127))
        + list(range(0xA0, 0x250))
        + list(range(0x3040, 0x30FF))
        + list(range(0x1F600, 0x1F650))
        + [9, 10, 13]
    ]
    for _ in range(200):
        texts.append("".join(rng.choice(alphabet, size=int(rng.integers(1, 60)))))
    return texts


def test_converted_gpt2_gives_the_same_ids_as_tiktoken(gpt2: Tokenizer, tiktoken_gpt2) -> None:
    # allowed_special="all": like HF, treat a literal "<|endoftext|>" in the text (this repo's source has one)
    # as the special token.
    for text in sample_texts():
        assert gpt2.encode(text) == tiktoken_gpt2.encode(text, allowed_special="all"), repr(text[:80])


def test_gpt2_endoftext_is_special_token_50256(gpt2: Tokenizer, tiktoken_gpt2) -> None:
    text = "first document<|endoftext|>second document"
    assert gpt2.encode(text) == tiktoken_gpt2.encode(text, allowed_special="all")
    assert GPT2_EOT_ID in gpt2.encode(text)
    assert gpt2.vocab_size == 50257


def test_gpt2_decode_round_trips(gpt2: Tokenizer) -> None:
    for text in sample_texts():
        assert gpt2.decode(gpt2.encode(text)) == text


def test_gpt2_known_ids(gpt2: Tokenizer) -> None:
    # GPT-2's well-known ids: "Hello" 15496, " world" 995.
    assert gpt2.encode("Hello world") == [15496, 995]


def test_count_tokens_is_batched_int64_and_matches_encode(gpt2: Tokenizer) -> None:
    texts = sample_texts()[:40]
    counts = gpt2.count_tokens(texts)
    assert counts.dtype == np.int64
    assert counts.tolist() == [len(gpt2.encode(t)) for t in texts]
    assert gpt2.count_tokens([]).shape == (0,)


def test_openai_community_gpt2_name_uses_the_offline_asset(gpt2: Tokenizer) -> None:
    tokenizer = load_tokenizer("openai-community/gpt2")
    assert tokenizer.name == "openai-community/gpt2"
    assert tokenizer.encode("Hello world") == [15496, 995]


def test_gpt2_converts_on_the_fly_when_only_the_tiktoken_file_is_cached(
    gpt2: Tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "aiperf-cache"
    (cache / "tokenizers" / "gpt2").mkdir(parents=True)
    shutil.copy(ASSET_DIR / "gpt2.tiktoken", cache / "tokenizers" / "gpt2" / "gpt2.tiktoken")
    monkeypatch.setenv("AIPERF_CACHE_DIR", str(cache))
    converted = load_tokenizer("gpt2")
    text = VARIED_TEXTS[5] + VARIED_TEXTS[3]
    assert converted.encode(text) == gpt2.encode(text)


def test_missing_gpt2_asset_error_says_run_make_tokenizer_assets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIPERF_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(TokenizerError) as info:
        load_tokenizer("gpt2")
    message = str(info.value)
    assert "--tokenizer" in message and "'gpt2'" in message
    assert "make tokenizer-assets" in message
    assert "HF_HUB_OFFLINE" in message  # says the hub was not tried, and why


def test_unknown_tokenizer_error_names_the_option_the_value_and_what_was_tried() -> None:
    with pytest.raises(TokenizerError) as info:
        load_tokenizer("no-such-org/no-such-tokenizer")
    message = str(info.value)
    assert "--tokenizer" in message
    assert "no-such-org/no-such-tokenizer" in message
    assert "local file or folder" in message and "hub cache" in message


def test_unknown_local_path_error_names_the_option() -> None:
    with pytest.raises(TokenizerError, match="--tokenizer '/definitely/not/here'"):
        load_tokenizer("/definitely/not/here")


def _tiny_bpe(tmp_path: Path) -> Path:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    backend = HFTokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    backend.train_from_iterator(["the quick brown fox jumps over the lazy dog"] * 50, trainer=trainer)
    folder = tmp_path / "tiny-bpe"
    folder.mkdir()
    backend.save(str(folder / "tokenizer.json"))
    return folder


def test_local_folder_with_tokenizer_json_loads(tmp_path: Path) -> None:
    folder = _tiny_bpe(tmp_path)
    tokenizer = load_tokenizer(str(folder))
    assert tokenizer.name == str(folder)
    ids = tokenizer.encode("the lazy dog")
    assert 0 < len(ids) < len("the lazy dog")  # merges were learned and applied
    assert tokenizer.decode(ids) == "the lazy dog"
    assert tokenizer.vocab_size <= 300


def test_local_tokenizer_json_file_loads(tmp_path: Path) -> None:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers

    backend = HFTokenizer(models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    file = tmp_path / "words.json"
    backend.save(str(file))
    tokenizer = load_tokenizer(str(file))
    assert tokenizer.encode("hello world again") == [1, 2, 0]
    assert tokenizer.count_tokens(["hello", "hello world", ""]).tolist() == [1, 2, 0]


def test_local_folder_without_tokenizer_json_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(TokenizerError, match=r"--tokenizer .*has no tokenizer.json"):
        load_tokenizer(str(tmp_path))


def test_broken_tokenizer_file_is_a_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "tokenizer.json"
    file.write_text('{"not": "a tokenizer"}')
    with pytest.raises(TokenizerError, match=r"--tokenizer .*cannot load"):
        load_tokenizer(str(tmp_path))


def test_name_found_in_the_hf_hub_cache_loads_without_network(tmp_path: Path) -> None:
    folder = _tiny_bpe(tmp_path)
    repo = tmp_path / "hf-home" / "hub" / "models--some-org--tiny"
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    shutil.copy(folder / "tokenizer.json", repo / "snapshots" / "0123abcd" / "tokenizer.json")
    tokenizer = load_tokenizer("some-org/tiny")
    assert tokenizer.name == "some-org/tiny"
    assert tokenizer.decode(tokenizer.encode("the quick fox")) == "the quick fox"
    with pytest.raises(TokenizerError, match="not in the Hugging Face hub cache"):
        load_tokenizer("some-org/tiny", revision="v2")


def test_importing_the_tokenizer_module_does_not_import_tokenizers() -> None:
    code = (
        "import sys, aiperf.inputs.tokenizer, aiperf.inputs.dataset; "
        "assert 'tokenizers' not in sys.modules, 'tokenizers imported'; "
        "assert 'numpy' not in sys.modules, 'numpy imported'"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def _fetch_script():
    spec = importlib.util.spec_from_file_location(
        "fetch_gpt2_tokenizer", REPO / "tools" / "fetch_gpt2_tokenizer.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_fetch_script_is_idempotent_and_does_not_download_when_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gpt2_asset_or_skip()
    cache = tmp_path / "aiperf-cache"
    shutil.copytree(ASSET_DIR, cache / "tokenizers" / "gpt2")
    monkeypatch.setenv("AIPERF_CACHE_DIR", str(cache))
    script = _fetch_script()
    monkeypatch.setattr(
        script,
        "download_gpt2_tiktoken",
        lambda requirement: pytest.fail("must not download when the asset is present"),
    )
    assert script.main([]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_fetch_script_converts_a_cached_tiktoken_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gpt2_asset_or_skip()
    cache = tmp_path / "aiperf-cache"
    (cache / "tokenizers" / "gpt2").mkdir(parents=True)
    shutil.copy(ASSET_DIR / "gpt2.tiktoken", cache / "tokenizers" / "gpt2" / "gpt2.tiktoken")
    monkeypatch.setenv("AIPERF_CACHE_DIR", str(cache))
    script = _fetch_script()
    monkeypatch.setattr(
        script,
        "download_gpt2_tiktoken",
        lambda requirement: pytest.fail("must not download when gpt2.tiktoken is cached"),
    )
    assert script.main([]) == 0
    assert "converted to" in capsys.readouterr().out
    written = json.loads((cache / "tokenizers" / "gpt2" / "tokenizer.json").read_text())
    assert len(written["model"]["merges"]) == 50000  # GPT-2 has exactly 50,000 merges
    assert written["model"]["vocab"]["<|endoftext|>"] == GPT2_EOT_ID


# ------------------------------------------------------------------------------------------------ lazy loading


def test_lazy_tokenizer_finds_the_file_at_once_and_loads_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIPERF_CACHE_DIR", str(tmp_path / "cache"))
    folder = _tiny_bpe(tmp_path)
    tokenizer = load_tokenizer(str(folder), lazy=True)
    assert not tokenizer.loaded
    assert tokenizer.source == folder / "tokenizer.json" and tokenizer.fingerprint  # neither loads it
    assert "not loaded" in repr(tokenizer) and not tokenizer.loaded
    assert not tokenizer.known_good  # never loaded before
    assert tokenizer.encode("the quick brown fox") == load_tokenizer(str(folder)).encode("the quick brown fox")
    assert tokenizer.loaded and tokenizer.known_good
    # The next lazy tokenizer of the same unchanged file is known to load without error...
    assert load_tokenizer(str(folder), lazy=True).known_good
    # ...until the file changes.
    file = folder / "tokenizer.json"
    file.write_text(file.read_text() + "\n")
    assert not load_tokenizer(str(folder), lazy=True).known_good


def test_lazy_tokenizer_loads_in_a_background_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPERF_CACHE_DIR", str(tmp_path / "cache"))
    tokenizer = load_tokenizer(str(_tiny_bpe(tmp_path)), lazy=True)
    thread = tokenizer.load_in_background()
    assert thread is not None
    assert tokenizer.count_tokens(["the lazy dog"]).tolist() == [len(tokenizer.encode("the lazy dog"))]
    thread.join(10)
    assert tokenizer.loaded and tokenizer.load_in_background() is None


def test_missing_tokenizer_is_an_error_even_when_lazy(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match=r"--tokenizer .*not found"):
        load_tokenizer(str(tmp_path / "missing"), lazy=True)


def test_broken_tokenizer_file_fails_on_load_when_lazy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPERF_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "tokenizer.json").write_text('{"not": "a tokenizer"}')
    tokenizer = load_tokenizer(str(tmp_path), lazy=True)
    assert not tokenizer.known_good
    for _ in range(2):  # every use raises the same clear error
        with pytest.raises(TokenizerError, match=r"--tokenizer .*cannot load"):
            tokenizer.encode("x")
    thread = tokenizer.load_in_background()
    assert thread is not None
    thread.join(10)
    assert not tokenizer.loaded and not tokenizer.known_good


def test_tokenize_in_calling_thread_keeps_batches_off_the_pool(gpt2: Tokenizer, monkeypatch) -> None:
    """During a run, token counting must run in the (SCHED_IDLE) thread that asks for it, not on HF tokenizers'
    own thread pool, whose threads keep normal priority and took the loop thread's CPU (docs/accuracy.md)."""
    import time

    from aiperf.inputs.tokenizer import tokenize_in_calling_thread

    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    texts = [" ".join(sample_texts()) * 4] * 400
    gpt2.count_tokens(texts[:10])  # warm-up: the pool and caches exist before the measurement
    with tokenize_in_calling_thread():
        assert os.environ["TOKENIZERS_PARALLELISM"] == "false"
        thread0, process0 = time.thread_time(), time.process_time()
        counts = gpt2.count_tokens(texts)
        thread_s, process_s = time.thread_time() - thread0, time.process_time() - process0
    assert counts.tolist() == [counts[0]] * len(texts)
    # All of the process's CPU time for the batch was this thread's (with the pool it is nearly none of it).
    assert thread_s >= 0.8 * process_s
    assert os.environ["TOKENIZERS_PARALLELISM"] == "true"  # put back

    monkeypatch.delenv("TOKENIZERS_PARALLELISM")
    with tokenize_in_calling_thread():
        pass
    assert "TOKENIZERS_PARALLELISM" not in os.environ
