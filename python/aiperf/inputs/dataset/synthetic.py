"""Synthetic prompts: N-token windows cut from a built-in English corpus, as AIPerf does in spirit.

The corpus is generated here from word lists and sentence templates with a fixed seed (so it is the same text
in every run and on every machine), tokenized once per dataset, and each prompt is the decoded window of N
tokens at a random offset (wrapping around). Decoding and re-encoding a window can change its length by a
token where the window cuts a word; such prompts are re-drawn at a new offset (up to MAX_ATTEMPTS times, then
the closest is kept), so with GPT-2 the prompt's token count equals N in practically every case (see
docs/tokenizers.md). `aiperf profile` uses the fast path instead (`exact_lengths=False`): the window joined
from the cached text pieces of the corpus tokens, with no tokenizer loaded and no re-count.
"""

from __future__ import annotations

import os
import random
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aiperf.inputs.dataset.spec import ConversationSpec, SyntheticPromptSpec
from aiperf.inputs.dataset.types import Conversation, Turn, new_session_id

if TYPE_CHECKING:
    from aiperf.inputs.tokenizer import Tokenizer

__all__ = ["MAX_ATTEMPTS", "PromptSource", "corpus_text", "sample_lengths", "synthetic_conversations",
           "synthetic_sessions"]

MAX_ATTEMPTS = 8
CORPUS_SEED = 20240611
CORPUS_SENTENCES = 900

# ------------------------------------------------------------------------------------------ corpus vocabulary
# fmt: off
NOUNS = (
    "river", "mountain", "lantern", "engineer", "garden", "library", "harbor", "violin", "teacher", "window",
    "bridge", "forest", "kettle", "merchant", "island", "compass", "orchard", "painter", "signal", "village",
    "market", "letter", "storm", "machine", "candle", "doctor", "valley", "festival", "notebook", "captain",
    "tower", "meadow", "pilot", "record", "station", "blanket", "farmer", "clock", "desert", "ship", "poem",
    "museum", "soldier", "mirror", "canal", "student", "recipe", "cathedral", "printer", "orchestra",
    "telescope", "glacier", "baker", "journal", "council", "workshop", "railway", "shepherd", "archive",
    "factory", "hospital", "theater", "balloon", "ladder", "courtyard", "sculptor", "fountain", "carpenter",
    "satellite", "kitchen", "vineyard", "observatory", "professor", "question", "answer", "problem", "idea",
    "story", "song", "map", "key", "door", "road", "city", "cloud", "horse", "wolf", "falcon", "whale",
    "spider", "garden path", "quarry", "ferry", "lighthouse", "chemist", "gardener", "bicycle", "umbrella",
    "mailbox", "chimney", "harvest",
)
ADJECTIVES = (
    "quiet", "ancient", "bright", "curious", "heavy", "gentle", "narrow", "silver", "restless", "careful",
    "golden", "distant", "hollow", "patient", "crowded", "fragile", "stubborn", "warm", "frozen", "hidden",
    "eager", "modest", "famous", "broken", "tidy", "loud", "humble", "clever", "rusty", "shallow", "enormous",
    "tiny", "pale", "vivid", "solemn", "cheerful", "weary", "wild", "polished", "forgotten", "unusual",
    "ordinary", "remarkable", "peculiar", "generous", "anxious", "elegant", "simple", "complicated", "green",
    "crimson", "misty", "sunny", "windy", "early", "late", "young", "old", "strange", "familiar",
)
VERBS = (  # (base, past)
    ("carry", "carried"), ("build", "built"), ("follow", "followed"), ("repair", "repaired"),
    ("paint", "painted"), ("find", "found"), ("watch", "watched"), ("open", "opened"),
    ("describe", "described"),
    ("measure", "measured"), ("forget", "forgot"), ("explore", "explored"), ("borrow", "borrowed"),
    ("visit", "visited"), ("sell", "sold"), ("write", "wrote"), ("study", "studied"), ("cross", "crossed"),
    ("hear", "heard"), ("remember", "remembered"), ("gather", "gathered"), ("lose", "lost"),
    ("count", "counted"), ("clean", "cleaned"), ("deliver", "delivered"), ("invent", "invented"),
    ("question", "questioned"), ("guard", "guarded"), ("climb", "climbed"), ("design", "designed"),
    ("trade", "traded"), ("sketch", "sketched"), ("map", "mapped"), ("plant", "planted"),
    ("greet", "greeted"),
    ("test", "tested"), ("explain", "explained"), ("hide", "hid"), ("catch", "caught"), ("teach", "taught"),
    ("choose", "chose"), ("bring", "brought"), ("keep", "kept"), ("leave", "left"),
)
ADVERBS = (
    "slowly", "quickly", "quietly", "carefully", "suddenly", "happily", "rarely", "often", "bravely",
    "gently", "eagerly", "patiently", "loudly", "silently", "boldly", "nearly", "always", "seldom", "calmly",
    "proudly",
)
PLACES = (
    "harbor town", "northern valley", "old quarter", "market square", "river delta", "mountain pass",
    "city gate", "eastern coast", "village green", "royal library", "train station", "quiet suburb",
    "island chain", "desert road", "forest edge", "stone bridge", "busy port", "hill country", "salt marsh",
    "high plateau",
)
NAMES = (
    "Ada", "Boris", "Clara", "Dmitri", "Elena", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Keiko", "Liam",
    "Maya", "Nikolai", "Olivia", "Pablo", "Quinn", "Rosa", "Samir", "Tess", "Umar", "Vera", "Walter",
    "Ximena", "Yusuf", "Zoe",
)
PREPOSITIONS = (
    "near", "across", "behind", "beyond", "under", "through", "toward", "inside", "beside", "above",
)
CONNECTIVES = (
    "However", "Meanwhile", "Later", "Afterwards", "Still", "In the end", "At first", "For a while",
)
TEMPLATES = (
    "The {adj} {noun} {past} the {noun2} {prep} the {place}.",
    "{name} {past} {adv} because the {noun} was {adj}.",
    "When the {noun} {past} the {noun2}, {name} {past2} a {adj} {noun3} {prep} the {place}.",
    "In {year}, {number} people {past} the {noun} {prep} the {place}.",
    "Why did the {adj} {noun} {base} the {noun2}?",
    "\"We should {base} the {noun} before the {adj} {noun2} arrives,\" said {name}.",
    "{name} and {name2} {past} {number} {noun}s; the {noun2} was {adj}, {adj2} and {adj3}.",
    "It was {adv} {adj} to {base} a {noun} {prep} a {adj2} {noun2}.",
    "{connective}, the {noun} {past} {adv}, and nobody {past2} the {adj} {noun2}.",
    "No one could {base} the {noun} that {name} had {past2} at {hour} o'clock.",
    "The {noun} was {adj}; the {noun2}, on the other hand, was {adj2}.",
    "Every {noun} in the {place} {past} a {adj} {noun2}, or so {name} claimed.",
    "{name} {past} the {noun} and then, {adv}, {past2} the {noun2} as well.",
    "Some say the {noun} is {adj}, but {name} thinks it is merely {adj2}.",
    "About {percent} percent of the {noun}s {prep} the {place} were {adj}.",
    "If you {base} the {noun}, the {adj} {noun2} will {base2} you {prep} the {place}.",
)
# fmt: on


def _an(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@lru_cache(maxsize=1)
def corpus_text() -> str:
    """The prompt corpus: CORPUS_SENTENCES English sentences, identical on every call and machine."""
    picker = random.Random(CORPUS_SEED)
    sentences = []
    for _ in range(CORPUS_SENTENCES):
        template = picker.choice(TEMPLATES)
        (base, past), (base2, past2) = picker.sample(VERBS, 2)
        noun, noun2, noun3 = picker.sample(NOUNS, 3)
        adj, adj2, adj3 = picker.sample(ADJECTIVES, 3)
        name, name2 = picker.sample(NAMES, 2)
        sentence = template.format(
            adj=adj,
            adj2=adj2,
            adj3=adj3,
            noun=noun,
            noun2=noun2,
            noun3=noun3,
            base=base,
            past=past,
            base2=base2,
            past2=past2,
            adv=picker.choice(ADVERBS),
            place=picker.choice(PLACES),
            name=name,
            name2=name2,
            prep=picker.choice(PREPOSITIONS),
            connective=picker.choice(CONNECTIVES),
            year=picker.randint(1820, 2024),
            number=picker.randint(2, 999),
            hour=picker.randint(1, 12),
            percent=picker.randint(1, 99),
        )
        # Articles agree with the next word ("an ancient", "a quiet").
        words = sentence.split(" ")
        for i in range(len(words) - 1):
            if words[i] in ("a", "an") and words[i + 1][:1].isalpha():
                words[i] = _an(words[i + 1])
        sentences.append(" ".join(words))
    return " ".join(sentences)


def sample_lengths(rng: np.random.Generator, mean: float, stddev: float, count: int) -> np.ndarray:
    """`count` lengths ~ normal(mean, stddev), rounded, at least 1 (exactly `mean` when stddev is 0)."""
    if stddev <= 0:
        return np.full(count, max(1, round(mean)), dtype=np.int64)
    return np.maximum(1, np.rint(rng.normal(mean, stddev, size=count))).astype(np.int64)


def _corpus_cache_files(tokenizer: Tokenizer) -> tuple[Path, Path] | None:
    fingerprint = tokenizer.fingerprint
    if not fingerprint:
        return None
    import hashlib

    from aiperf.inputs.tokenizer import aiperf_cache_dir

    key = hashlib.sha256(f"{CORPUS_CACHE_VERSION}|{fingerprint}".encode()).hexdigest()[:32]
    folder = aiperf_cache_dir() / "corpus"
    return folder / f"{key}.npy", folder / f"{key}.pieces.json"


def _corpus_pieces(tokenizer: Tokenizer, tokens: np.ndarray) -> list[str] | None:
    """Each corpus token's own decoded text, when joining them reproduces `decode(tokens)` exactly (byte-level
    BPE such as GPT-2); None otherwise (e.g. WordPiece's "##" or Metaspace's "▁" decoding)."""
    table = {int(t): tokenizer.decode([int(t)]) for t in np.unique(tokens)}
    if any("\ufffd" in piece for piece in table.values()):  # a piece that is part of a UTF-8 character
        return None
    pieces = [table[t] for t in tokens.tolist()]
    return pieces if "".join(pieces) == tokenizer.decode(tokens.tolist()) else None


def _word_starts(pieces: list[str]) -> np.ndarray:
    """Positions whose piece begins with whitespace: with byte-level BPE, a word (pre-token) starts there."""
    return np.fromiter((p[:1].isspace() for p in pieces), dtype=bool, count=len(pieces))


def _bits(flags: np.ndarray) -> str:
    return (flags.astype(np.uint8) + ord("0")).tobytes().decode("ascii")


def _from_bits(text: str) -> np.ndarray:
    flags: np.ndarray = np.frombuffer(text.encode("ascii"), dtype=np.uint8) == ord("1")
    return flags


def _safe_starts(tokenizer: Tokenizer, tokens: np.ndarray, pieces: list[str]) -> np.ndarray:
    """Positions where a prompt may start so that it re-encodes to its window's length: a word start (the
    piece begins with whitespace) whose word, with and without that whitespace (prompts are stripped), encodes
    to as many tokens as it has in the corpus, and to the very same tokens with the whitespace."""
    n = len(pieces)
    starts = np.flatnonzero(_word_starts(pieces))
    safe = np.zeros(n, dtype=bool)
    if starts.size == 0:
        return safe
    ends = np.append(starts[1:], n)
    words: dict[str, list[tuple[int, int]]] = {}
    for i, k in zip(starts.tolist(), ends.tolist()):
        words.setdefault("".join(pieces[i:k]), []).append((i, k))
    texts = list(words)
    stripped_counts = tokenizer.count_tokens([t.lstrip() or t for t in texts]).tolist()
    token_list = tokens.tolist()
    for text, stripped_count in zip(texts, stripped_counts):
        encoded = tokenizer.encode(text)
        if stripped_count != len(encoded):
            continue
        for i, k in words[text]:
            if token_list[i:k] == encoded:
                safe[i] = True
    return safe


def _corpus(tokenizer: Tokenizer) -> tuple[np.ndarray, list[str] | None, np.ndarray | None, np.ndarray | None]:
    """The built-in corpus as token ids, their text pieces (see _corpus_pieces), safe prompt starts (see
    _safe_starts) and word starts (see _word_starts), cached on disk per tokenizer file: with a warm cache this
    needs no tokenizer at all."""
    import json

    files = _corpus_cache_files(tokenizer)
    if files is not None:
        try:
            tokens = np.load(files[0])
            extra = json.loads(files[1].read_text(encoding="utf-8"))
            if extra is None:
                return tokens, None, None, None
            pieces, safe, words = extra["pieces"], extra["safe_starts"], extra["word_starts"]
            if isinstance(pieces, list) and len(pieces) == tokens.size == len(safe) == len(words):
                return tokens, pieces, _from_bits(safe), _from_bits(words)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    tokens = np.asarray(tokenizer.encode(" " + corpus_text()), dtype=np.int64)
    pieces = _corpus_pieces(tokenizer, tokens) if tokens.size else None
    safe = _safe_starts(tokenizer, tokens, pieces) if pieces is not None else None
    words = _word_starts(pieces) if pieces is not None else None
    if files is not None:
        try:
            files[0].parent.mkdir(parents=True, exist_ok=True)
            suffix = f".{os.getpid()}.tmp"
            extra = None if pieces is None or safe is None or words is None else {
                "pieces": pieces, "safe_starts": _bits(safe), "word_starts": _bits(words)}
            tmp_extra = files[1].with_name(files[1].name + suffix)
            tmp_extra.write_text(json.dumps(extra), encoding="utf-8")
            os.replace(tmp_extra, files[1])
            tmp_tokens = files[0].with_suffix(suffix + ".npy")
            np.save(tmp_tokens, tokens)
            os.replace(tmp_tokens, files[0])
        except OSError:
            pass  # a read-only cache only costs start-up time
    return tokens, pieces, safe, words


def _corpus_tokens(tokenizer: Tokenizer) -> np.ndarray:
    """The built-in corpus as token ids (cached on disk per tokenizer file)."""
    return _corpus(tokenizer)[0]


# Bump when corpus_text() or the cache's format changes, so cached corpus tokens are not reused.
CORPUS_CACHE_VERSION = 2


class PromptSource:
    """The corpus as one token stream for one tokenizer; cuts prompts of given token lengths from it.

    `prompts()` gives exact lengths (it re-counts each prompt and re-draws misses, so it needs the tokenizer);
    `fast_prompts()` joins cached token pieces without the tokenizer (lengths may differ by a token or so).
    """

    def __init__(self, tokenizer: Tokenizer, text: str | None = None) -> None:
        self.tokenizer = tokenizer
        # A leading space makes the first sentence tokenize like every later one (" The"), so wrapping around
        # from the end of the stream to its start gives the same tokens as the text would.
        self.safe_starts: np.ndarray | None = None  # see _safe_starts
        self.word_starts: np.ndarray | None = None  # see _word_starts
        if text is None:
            self.tokens, self.pieces, self.safe_starts, self.word_starts = _corpus(tokenizer)
        else:
            self.tokens = np.asarray(tokenizer.encode(" " + text), dtype=np.int64)
            self.pieces = _corpus_pieces(tokenizer, self.tokens) if self.tokens.size else None
            if self.pieces is not None:
                self.safe_starts = _safe_starts(tokenizer, self.tokens, self.pieces)
                self.word_starts = _word_starts(self.pieces)
        if self.tokens.size == 0:
            raise ValueError("the prompt corpus tokenized to no tokens")

    @property
    def has_fast_path(self) -> bool:
        return self.pieces is not None

    def _window(self, offset: int, length: int) -> str:
        ids = self.tokens[(offset + np.arange(length)) % self.tokens.size]
        text = self.tokenizer.decode(ids.tolist())
        return text.lstrip() or text

    def _joined_window(self, offset: int, length: int) -> str:
        """_window() from the cached pieces: the same text, without the tokenizer."""
        pieces = self.pieces
        assert pieces is not None
        n = len(pieces)
        parts = []
        while length > 0:
            take = min(length, n - offset)
            parts.append("".join(pieces[offset : offset + take]))
            length -= take
            offset = 0
        text = "".join(parts)
        return text.lstrip() or text

    def _aligned(self, offset: int, length: int, cache: dict[int, np.ndarray]) -> int:
        """The first offset at or after `offset` (wrapping) whose window starts at a safe word start and ends
        right before a word start, so it re-encodes to exactly its tokens; `offset` itself when there is none."""
        candidates = cache.get(length)
        if candidates is None:
            assert self.safe_starts is not None and self.word_starts is not None
            candidates = np.flatnonzero(self.safe_starts & np.roll(self.word_starts, -(length % self.tokens.size)))
            cache[length] = candidates
        if candidates.size == 0:
            return offset
        return int(candidates[np.searchsorted(candidates, offset) % candidates.size])

    def fast_prompts(self, lengths: np.ndarray, rng: np.random.Generator) -> list[str]:
        """One prompt per length: the window of that many corpus tokens, joined from the cached pieces.

        One rng draw per prompt (same seed, same prompts); the drawn offset moves forward to the next window
        that is whole words with a safe first word (see _safe_starts), which re-encodes to exactly its length
        with byte-level BPE. Needs `has_fast_path`.
        """
        if self.pieces is None:
            raise ValueError("fast_prompts: this tokenizer's token pieces do not join into its decoded text")
        lengths = np.asarray(lengths, dtype=np.int64)
        offsets = rng.integers(0, self.tokens.size, size=len(lengths))
        cache: dict[int, np.ndarray] = {}
        return [self._joined_window(self._aligned(int(o), int(n), cache), int(n)) for o, n in zip(offsets, lengths)]

    def prompts(self, lengths: np.ndarray, rng: np.random.Generator) -> list[str]:
        """One prompt per length; each re-encodes to exactly that many tokens unless MAX_ATTEMPTS all miss."""
        return self.prompts_with_counts(lengths, rng)[0]

    def prompts_with_counts(self, lengths: np.ndarray, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
        """prompts() and the token count of each prompt (already measured, so callers need not re-count)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        best_text: list[str] = [""] * len(lengths)
        best_error = np.full(len(lengths), np.iinfo(np.int64).max, dtype=np.int64)
        best_count = np.zeros(len(lengths), dtype=np.int64)
        pending = np.arange(len(lengths))
        for _ in range(MAX_ATTEMPTS):
            if pending.size == 0:
                break
            offsets = rng.integers(0, self.tokens.size, size=pending.size)
            candidates = [self._window(int(o), int(lengths[i])) for o, i in zip(offsets, pending)]
            counts = self.tokenizer.count_tokens(candidates)
            errors = np.abs(counts - lengths[pending])
            for text, error, count, i in zip(candidates, errors, counts, pending):
                if error < best_error[i]:
                    best_error[i] = error
                    best_count[i] = count
                    best_text[i] = text
            pending = pending[best_error[pending] != 0]
        return best_text, best_count


def synthetic_conversations(tokenizer: Tokenizer, spec: SyntheticPromptSpec,
                            rng: np.random.Generator) -> list[Conversation]:
    """`spec.num_entries` single-turn conversations, each turn holding `spec.batch_size` prompts. Same rng state,
    same result.

    With `spec.exact_lengths` every prompt re-encodes to its length (see PromptSource.prompts) and
    `Turn.input_tokens` holds the count. Without, when the tokenizer's pieces join into its text (byte-level BPE
    such as GPT-2), prompts are joined from the corpus cache's pieces (see PromptSource.fast_prompts; with a warm
    cache the tokenizer is not even loaded), `Turn.input_tokens` is None and callers count the prompts themselves;
    otherwise the exact path is taken. The two paths draw from `rng` differently.
    """
    num_entries, batch_size = spec.num_entries, spec.batch_size
    if num_entries < 0:
        raise ValueError(f"num_entries must be >= 0, got {num_entries}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_entries == 0:
        return []
    source = PromptSource(tokenizer)
    input_lengths = sample_lengths(rng, spec.isl_mean, spec.isl_stddev, num_entries * batch_size)
    counts: np.ndarray | None = None
    if not spec.exact_lengths and source.has_fast_path:
        texts = source.fast_prompts(input_lengths, rng)
    else:
        texts, counts = source.prompts_with_counts(input_lengths, rng)
    output_lengths = (sample_lengths(rng, spec.osl_mean, spec.osl_stddev, num_entries)
                      if spec.osl_mean is not None else None)
    conversations = []
    for entry in range(num_entries):
        turn = Turn(
            texts=texts[entry * batch_size : (entry + 1) * batch_size],
            max_tokens=int(output_lengths[entry]) if output_lengths is not None else None,
            input_tokens=(int(counts[entry * batch_size : (entry + 1) * batch_size].sum())
                          if counts is not None else None),
        )
        conversations.append(Conversation(session_id=new_session_id(rng), turns=[turn]))
    return conversations


def synthetic_sessions(tokenizer: Tokenizer, prompts: SyntheticPromptSpec, shape: ConversationSpec,
                       rng: np.random.Generator) -> list[Conversation]:
    """Multi-turn conversations: every turn a synthetic prompt of its own, grouped into conversations of
    ~ normal(turns_mean, turns_stddev) turns, each later turn after a think time ~ normal(delay mean, stddev)."""
    from dataclasses import replace

    turn_counts = sample_lengths(rng, shape.turns_mean, shape.turns_stddev,
                                 shape.num_conversations or prompts.num_entries)
    turns = [c.turns[0] for c in synthetic_conversations(
        tokenizer, replace(prompts, num_entries=int(turn_counts.sum())), rng)]
    delay_mean, delay_stddev = shape.turn_delay_mean_ms, shape.turn_delay_stddev_ms
    delays = (np.maximum(rng.normal(delay_mean, delay_stddev, size=len(turns)), 0.0)
              if delay_mean > 0 or delay_stddev > 0 else np.zeros(len(turns)))
    conversations = []
    start = 0
    for count in turn_counts:
        group = turns[start:start + int(count)]
        for index, turn in enumerate(group):
            turn.delay_ms = float(delays[start + index]) if index > 0 else None
        conversations.append(Conversation(session_id=new_session_id(rng), turns=group))
        start += int(count)
    return conversations
