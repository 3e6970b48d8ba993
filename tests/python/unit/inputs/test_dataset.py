"""Datasets: synthetic prompts (lengths, reproducibility, batching, OSL) and single_turn input files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiperf.inputs.dataset import (
    Conversation,
    ConversationSpec,
    DatasetSpec,
    InputFileError,
    SyntheticPromptSpec,
    Turn,
    load_dataset,
)
from aiperf.inputs.dataset.single_turn import load_single_turn
from aiperf.inputs.dataset.synthetic import corpus_text, sample_lengths, synthetic_conversations
from aiperf.inputs.tokenizer import Tokenizer, gpt2_asset_dir, load_tokenizer

ASSET_DIR = gpt2_asset_dir()


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def small_bpe(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    """A BPE tokenizer of our own, trained on one sentence: synthetic prompts must work with any tokenizer."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    backend = HFTokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    backend.train_from_iterator(
        ["The river was quiet; the garden, on the other hand, was bright."] * 20, trainer=trainer
    )
    folder = tmp_path_factory.mktemp("small-bpe")
    backend.save(str(folder / "tokenizer.json"))
    return load_tokenizer(str(folder))


def synth(tokenizer: Tokenizer, seed: int = 0, **overrides: Any) -> list[Conversation]:
    options: dict[str, Any] = {
        "num_entries": 50,
        "isl_mean": 120,
        "isl_stddev": 0.0,
        "osl_mean": None,
        "osl_stddev": 0.0,
        "batch_size": 1,
    }
    options.update(overrides)
    return synthetic_conversations(tokenizer, SyntheticPromptSpec(**options), np.random.default_rng(seed))


def prompts(conversations: list[Conversation]) -> list[str]:
    return [text for c in conversations for turn in c.turns for text in turn.texts]


# ------------------------------------------------------------------------------------------------ synthetic


def test_corpus_is_generated_english_and_identical_every_time() -> None:
    text = corpus_text()
    assert len(text) > 20_000
    assert text == corpus_text.__wrapped__()  # regenerated from scratch: same text
    words = text.split()
    assert len(set(words)) > 300  # varied vocabulary, not one sentence repeated
    assert text.count(".") > 500


def test_same_seed_gives_the_same_dataset(gpt2: Tokenizer) -> None:
    first = synth(gpt2, seed=42, isl_stddev=30.0, osl_mean=50, osl_stddev=10.0)
    second = synth(gpt2, seed=42, isl_stddev=30.0, osl_mean=50, osl_stddev=10.0)
    assert first == second
    assert len({c.session_id for c in first}) == len(first)


def test_different_seeds_give_different_prompts(gpt2: Tokenizer) -> None:
    assert prompts(synth(gpt2, seed=1)) != prompts(synth(gpt2, seed=2))


def test_load_dataset_with_random_seed_is_reproducible(gpt2: Tokenizer) -> None:
    def load(seed: int) -> list[Conversation]:
        prompts = SyntheticPromptSpec(num_entries=20, isl_mean=64, isl_stddev=8.0, osl_mean=None, osl_stddev=0.0,
                                      batch_size=1)
        return load_dataset(DatasetSpec(input_file=None, dataset_type=None, random_seed=seed, prompts=prompts), gpt2)

    assert load(7) == load(7)
    assert load(7) != load(8)


def test_fixed_input_length_gives_exactly_that_many_gpt2_tokens(gpt2: Tokenizer) -> None:
    for isl in (1, 2, 17, 550):
        counts = gpt2.count_tokens(prompts(synth(gpt2, num_entries=40, isl_mean=isl)))
        assert counts.tolist() == [isl] * 40


def test_input_lengths_follow_the_requested_normal_distribution(gpt2: Tokenizer) -> None:
    conversations = synth(gpt2, seed=3, num_entries=400, isl_mean=200, isl_stddev=40.0)
    counts = gpt2.count_tokens(prompts(conversations))
    assert abs(counts.mean() - 200) < 200 * 0.03
    assert 32 < counts.std() < 48
    # The requested lengths are the rng's first draws: nearly every prompt has exactly its requested length.
    requested = sample_lengths(np.random.default_rng(3), 200, 40.0, 400)
    assert (counts == requested).mean() >= 0.98


def test_input_lengths_are_at_least_one_token(gpt2: Tokenizer) -> None:
    counts = gpt2.count_tokens(prompts(synth(gpt2, num_entries=200, isl_mean=2, isl_stddev=5.0)))
    assert counts.min() >= 1


def test_prompts_longer_than_the_corpus_wrap_around(gpt2: Tokenizer) -> None:
    corpus_tokens = len(gpt2.encode(corpus_text()))
    isl = corpus_tokens + 1000
    [prompt] = prompts(synth(gpt2, num_entries=1, isl_mean=isl))
    assert abs(len(gpt2.encode(prompt)) - isl) <= 1


def test_synthetic_prompts_work_with_a_non_gpt2_tokenizer(small_bpe: Tokenizer) -> None:
    counts = small_bpe.count_tokens(prompts(synth(small_bpe, num_entries=100, isl_mean=80, isl_stddev=10.0)))
    assert abs(counts.mean() - 80) < 80 * 0.05


def test_output_length_is_unset_without_osl(gpt2: Tokenizer) -> None:
    assert all(turn.max_tokens is None for c in synth(gpt2) for turn in c.turns)


def test_output_lengths_follow_the_requested_distribution(gpt2: Tokenizer) -> None:
    conversations = synth(gpt2, num_entries=400, isl_mean=8, osl_mean=100, osl_stddev=20.0)
    max_tokens = np.array([c.turns[0].max_tokens for c in conversations])
    assert max_tokens.dtype.kind == "i"
    assert abs(max_tokens.mean() - 100) < 4
    assert 15 < max_tokens.std() < 25
    fixed = synth(gpt2, num_entries=10, isl_mean=8, osl_mean=64)
    assert [c.turns[0].max_tokens for c in fixed] == [64] * 10
    tiny = synth(gpt2, num_entries=200, isl_mean=8, osl_mean=1, osl_stddev=10.0)
    assert min(c.turns[0].max_tokens for c in tiny) >= 1


def test_batch_size_puts_several_texts_in_one_turn(gpt2: Tokenizer) -> None:
    conversations = synth(gpt2, num_entries=10, isl_mean=30, batch_size=4)
    assert len(conversations) == 10
    for conversation in conversations:
        [turn] = conversation.turns
        assert len(turn.texts) == 4
        assert len(set(turn.texts)) == 4
        assert gpt2.count_tokens(turn.texts).tolist() == [30] * 4


def test_synthetic_turns_are_plain_text_turns(gpt2: Tokenizer) -> None:
    [conversation] = synth(gpt2, num_entries=1)
    [turn] = conversation.turns
    assert turn.images == [] and turn.model is None and turn.extra_body is None
    assert turn.timestamp_ms is None and turn.delay_ms is None
    assert not turn.texts[0][0].isspace()


# ------------------------------------------------------------------------------------------------ input files


def write_lines(tmp_path: Path, lines: list[str], name: str = "inputs.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_file(
    path: Path, custom_dataset_type: str | None = None, osl_mean: int | None = None, seed: int | None = 0
) -> list[Conversation]:
    prompts = SyntheticPromptSpec(num_entries=100, isl_mean=550, isl_stddev=0.0, osl_mean=osl_mean, osl_stddev=0.0,
                                  batch_size=1)
    return load_dataset(DatasetSpec(input_file=path, dataset_type=custom_dataset_type, random_seed=seed,
                                    prompts=prompts), None)


def test_single_turn_file_loads_every_field(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path,
        [
            json.dumps({"text": "What is the capital of France?"}),
            "",
            "   ",
            json.dumps({"texts": ["first passage", "second passage"], "model": "embedder-2"}),
            json.dumps(
                {"text": "describe", "image": "/data/cat.png", "extra_body": {"temperature": 0.2, "seed": 1}}
            ),
            json.dumps(
                {"images": ["https://example.com/a.jpg", "data:image/png;base64,AAAA"], "timestamp": 1500}
            ),
            json.dumps({"type": "single_turn", "text": "later", "delay": 250.5, "role": "user"}),
        ],
    )
    conversations = load_file(path)
    assert [c.turns[0] for c in conversations] == [
        Turn(texts=["What is the capital of France?"]),
        Turn(texts=["first passage", "second passage"], model="embedder-2"),
        Turn(texts=["describe"], images=["/data/cat.png"], extra_body={"temperature": 0.2, "seed": 1}),
        Turn(
            texts=[], images=["https://example.com/a.jpg", "data:image/png;base64,AAAA"], timestamp_ms=1500.0
        ),
        Turn(texts=["later"], delay_ms=250.5),
    ]
    assert all(len(c.turns) == 1 for c in conversations)
    assert len({c.session_id for c in conversations}) == 5


def test_no_custom_dataset_type_means_single_turn(tmp_path: Path) -> None:
    path = write_lines(tmp_path, [json.dumps({"text": "hi"})])
    assert load_file(path, custom_dataset_type=None) == load_file(path, custom_dataset_type="single_turn")


def test_input_file_with_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"text": "caf\u00e9"}).encode() + b"\r\n")
    assert load_file(path)[0].turns[0].texts == ["caf\u00e9"]


def test_input_file_turns_get_output_lengths_and_seeded_session_ids(tmp_path: Path) -> None:
    path = write_lines(tmp_path, [json.dumps({"text": f"prompt {i}"}) for i in range(5)])
    conversations = load_file(path, osl_mean=77, seed=5)
    assert [c.turns[0].max_tokens for c in conversations] == [77] * 5
    assert conversations == load_file(path, osl_mean=77, seed=5)
    assert all(c.turns[0].max_tokens is None for c in load_file(path))


def test_load_single_turn_directly(tmp_path: Path) -> None:
    path = write_lines(tmp_path, [json.dumps({"text": "a"}), json.dumps({"texts": ["b", "c"]})])
    conversations = load_single_turn(path, osl_mean=10, osl_stddev=3.0, rng=np.random.default_rng(1))
    assert [c.turns[0].texts for c in conversations] == [["a"], ["b", "c"]]
    assert all(c.turns[0].max_tokens >= 1 for c in conversations)


BAD_LINES = [
    # (line content, field named in the message (None: no field), words expected in the problem)
    ('{"text": "unterminated', None, "not valid JSON"),
    ('["a", "list"]', None, "expected a JSON object"),
    ('"just a string"', None, "expected a JSON object"),
    ('{"text": 42}', "text", "expected a string"),
    ('{"text": ["a", "b"]}', "text", "use 'texts'"),
    ('{"texts": "one string"}', "texts", "expected a list of strings"),
    ('{"texts": []}', "texts", "empty list"),
    ('{"texts": ["ok", 3]}', "texts[1]", "expected a string"),
    ('{"model": "m"}', "text", "neither"),
    ("{}", "text", "neither"),
    ('{"text": "a", "texts": ["b"]}', "texts", "not both"),
    ('{"image": 5}', "image", "non-empty string"),
    ('{"images": ["a.png", ""]}', "images[1]", "empty string"),
    ('{"images": [null]}', "images[0]", "expected a string"),
    ('{"text": "a", "model": 7}', "model", "non-empty string"),
    ('{"text": "a", "extra_body": [1, 2]}', "extra_body", "expected a JSON object"),
    ('{"text": "a", "timestamp": "soon"}', "timestamp", "number of milliseconds"),
    ('{"text": "a", "timestamp": true}', "timestamp", "number of milliseconds"),
    ('{"text": "a", "delay": -5}', "delay", ">= 0"),
    ('{"text": "a", "timestamp": 1, "delay": 2}', "delay", "not both"),
    ('{"text": "a", "prompt": "typo"}', "prompt", "unknown field"),
    ('{"text": "a", "type": "multi_turn"}', "type", "expected 'single_turn'"),
]


@pytest.mark.parametrize(("content", "field", "problem"), BAD_LINES, ids=[case[0] for case in BAD_LINES])
def test_bad_input_line_names_file_line_and_field(
    tmp_path: Path, content: str, field: str | None, problem: str
) -> None:
    path = write_lines(
        tmp_path, [json.dumps({"text": "fine"}), "", content, json.dumps({"text": "also fine"})]
    )
    with pytest.raises(InputFileError) as info:
        load_file(path)
    error = info.value
    message = str(error)
    assert message.startswith(f"{path}:3: ")
    assert (error.path, error.line, error.field) == (path, 3, field)
    if field is not None:
        assert message.startswith(f"{path}:3: {field}: ")
    assert problem in message


def test_invalid_utf8_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(InputFileError, match=rf"^{path}:2: not UTF-8"):
        load_file(path)


def test_missing_input_file_names_the_option_and_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.jsonl"
    with pytest.raises(InputFileError) as info:
        load_file(path)
    assert str(info.value) == f"--input-file {path}: no such file"


def test_input_folder_and_empty_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=rf"--input-file {tmp_path}: is a folder"):
        load_file(tmp_path)
    empty = write_lines(tmp_path, ["", "  "], name="empty.jsonl")
    with pytest.raises(InputFileError, match=rf"--input-file {empty}: no entries"):
        load_file(empty)


def test_unknown_custom_dataset_type_names_the_option(tmp_path: Path) -> None:
    path = write_lines(tmp_path, [json.dumps({"text": "hi"})])
    with pytest.raises(InputFileError) as info:
        load_file(path, custom_dataset_type="sharegpt")
    assert info.value.field is None
    assert "--custom-dataset-type 'sharegpt': unknown dataset type" in str(info.value)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------------- fast path: no tokenizer before the run


def _lazy_gpt2(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Tokenizer:
    if not (ASSET_DIR / "tokenizer.json").is_file():
        pytest.skip(f"GPT-2 tokenizer asset missing in {ASSET_DIR}: run `make tokenizer-assets`")
    monkeypatch.setenv("AIPERF_CACHE_DIR", str(cache))
    return load_tokenizer(str(ASSET_DIR / "tokenizer.json"), lazy=True)


def _texts(conversations: list[Conversation]) -> list[str]:
    return [text for c in conversations for turn in c.turns for text in turn.texts]


def test_fast_path_prompts_need_no_tokenizer_once_cached_and_are_reproducible(
    gpt2: Tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options: dict[str, Any] = {"num_entries": 40, "isl_mean": 120, "isl_stddev": 40, "osl_mean": None,
                               "osl_stddev": 0, "batch_size": 2, "exact_lengths": False}
    cold_tokenizer = _lazy_gpt2(tmp_path / "cache", monkeypatch)
    cold = synthetic_conversations(cold_tokenizer, SyntheticPromptSpec(**options), np.random.default_rng(7))
    assert cold_tokenizer.loaded  # the corpus cache had to be built

    warm_tokenizer = _lazy_gpt2(tmp_path / "cache", monkeypatch)
    warm = synthetic_conversations(warm_tokenizer, SyntheticPromptSpec(**options), np.random.default_rng(7))
    assert not warm_tokenizer.loaded  # prompts joined from cached pieces: the tokenizer was never parsed
    assert warm == cold  # same seed, same prompts, cache cold or warm
    assert all(turn.input_tokens is None for c in warm for turn in c.turns)  # counted by the caller
    reseeded = synthetic_conversations(warm_tokenizer, SyntheticPromptSpec(**options), np.random.default_rng(8))
    assert _texts(reseeded) != _texts(warm)

    lengths = sample_lengths(np.random.default_rng(7), 120, 40, 80)
    assert gpt2.count_tokens(_texts(warm)).tolist() == lengths.tolist()  # whole-word windows: exact lengths


@pytest.mark.parametrize("isl_mean", [1, 2, 16, 550, 20_000])
def test_fast_path_prompts_have_the_requested_token_count(gpt2: Tokenizer, isl_mean: int) -> None:
    spec = SyntheticPromptSpec(num_entries=30, isl_mean=isl_mean, isl_stddev=0, osl_mean=None, osl_stddev=0,
                               batch_size=1, exact_lengths=False)
    conversations = synthetic_conversations(gpt2, spec, np.random.default_rng(3))
    assert gpt2.count_tokens(_texts(conversations)).tolist() == [isl_mean] * 30


def test_fast_path_works_with_another_byte_level_tokenizer(small_bpe: Tokenizer) -> None:
    spec = SyntheticPromptSpec(num_entries=20, isl_mean=40, isl_stddev=0, osl_mean=None, osl_stddev=0,
                               batch_size=1, exact_lengths=False)
    conversations = synthetic_conversations(small_bpe, spec, np.random.default_rng(1))
    assert all(turn.input_tokens is None for c in conversations for turn in c.turns)
    counts = small_bpe.count_tokens(_texts(conversations))
    assert np.abs(counts - 40).max() <= 1


def test_tokenizers_whose_pieces_do_not_join_take_the_exact_path(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    from aiperf.inputs.dataset.synthetic import PromptSource

    backend = HFTokenizer(models.WordLevel(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()  # no decoder: decode() joins words with spaces
    backend.train_from_iterator([corpus_text()], trainer=trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    folder = tmp_path_factory.mktemp("wordlevel")
    backend.save(str(folder / "tokenizer.json"))
    tokenizer = load_tokenizer(str(folder))
    assert not PromptSource(tokenizer).has_fast_path
    spec = SyntheticPromptSpec(num_entries=5, isl_mean=30, isl_stddev=0, osl_mean=None, osl_stddev=0,
                               batch_size=1, exact_lengths=False)
    conversations = synthetic_conversations(tokenizer, spec, np.random.default_rng(1))
    assert [turn.input_tokens for c in conversations for turn in c.turns] == [30] * 5


# ------------------------------------------------------------------------------------------------ specs


def test_dataset_spec_from_config_takes_every_dataset_option(tmp_path: Path) -> None:
    from aiperf.config import make_config

    path = write_lines(tmp_path, [json.dumps({"text": "hi"})])
    config = make_config(model="m", input_file=str(path), custom_dataset_type="multi_turn", random_seed=3,
                         num_dataset_entries=7, isl=11, isl_stddev=2, osl=5, osl_stddev=1, prompt_batch_size=2,
                         conversation_num=4, conversation_turn_mean=3, conversation_turn_stddev=1,
                         conversation_turn_delay_mean=10, conversation_turn_delay_stddev=2)
    assert DatasetSpec.from_config(config) == DatasetSpec(
        input_file=path, dataset_type="multi_turn", random_seed=3,
        prompts=SyntheticPromptSpec(num_entries=7, isl_mean=11, isl_stddev=2, osl_mean=5, osl_stddev=1, batch_size=2,
                                    exact_lengths=False),
        conversations=ConversationSpec(num_conversations=4, turns_mean=3, turns_stddev=1, turn_delay_mean_ms=10,
                                       turn_delay_stddev_ms=2))


def test_synthetic_multi_turn_conversations_have_their_turns_and_think_times(gpt2: Tokenizer) -> None:
    spec = DatasetSpec(random_seed=1, prompts=SyntheticPromptSpec(num_entries=50, isl_mean=16),
                       conversations=ConversationSpec(num_conversations=6, turns_mean=3, turn_delay_mean_ms=40))
    conversations = load_dataset(spec, gpt2)
    assert [len(c.turns) for c in conversations] == [3] * 6
    assert all(c.turns[0].delay_ms is None for c in conversations)
    assert all(turn.delay_ms is not None and turn.delay_ms >= 0 for c in conversations for turn in c.turns[1:])
    assert conversations == load_dataset(spec, gpt2)
