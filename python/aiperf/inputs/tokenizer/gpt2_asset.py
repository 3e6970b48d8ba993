"""GPT-2's BPE as a HF `tokenizer.json`, converted from the `gpt2.tiktoken` ranks that
tools/fetch_gpt2_tokenizer.py stores (see docs/tokenizers.md). The loader calls it only when no converted file
is there yet."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from aiperf.errors import TokenizerError

__all__ = [
    "GPT2_EOT_ID",
    "GPT2_EOT_TOKEN",
    "GPT2_PATTERN",
    "GPT2_TIKTOKEN_FILE",
    "bytes_to_unicode",
    "gpt2_tiktoken_to_tokenizer_json",
    "load_tiktoken_ranks",
    "write_gpt2_tokenizer_json",
]

# GPT-2's pre-tokenisation regex (the one HF's ByteLevel pre-tokenizer uses with use_regex=True).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT2_EOT_TOKEN = "<|endoftext|>"
GPT2_EOT_ID = 50256
GPT2_TIKTOKEN_FILE = "gpt2.tiktoken"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (byte-level BPE's alphabet)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, codes)}


def load_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    """Read a `.tiktoken` file: one `<base64 token> <rank>` per line."""
    ranks: dict[bytes, int] = {}
    for line_number, line in enumerate(Path(path).read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError as e:
            raise TokenizerError(
                f"--tokenizer: {path}:{line_number}: not a tiktoken rank line ({e})"
            ) from None
    return ranks


def _bpe_parts(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """Byte-pair-merge `token` using only merges whose result ranks below `max_rank`."""
    parts = [bytes([b]) for b in token]
    while True:
        best_index, best_rank = -1, max_rank
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < best_rank:
                best_index, best_rank = i, rank
        if best_index < 0:
            return parts
        parts[best_index : best_index + 2] = [parts[best_index] + parts[best_index + 1]]


def _merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The merge list that reproduces tiktoken's ranks: for every multi-byte token, the two parts that BPE
    with all lower-ranked merges leaves, in the order of the resulting token's rank."""
    merges: list[tuple[int, bytes, bytes]] = []
    for token, rank in ranks.items():
        if len(token) < 2:
            continue
        parts = _bpe_parts(ranks, token, rank)
        if len(parts) != 2:  # unreachable by merges: tiktoken never produces it either
            continue
        merges.append((rank, parts[0], parts[1]))
    merges.sort()
    return [(a, b) for _, a, b in merges]


def gpt2_tiktoken_to_tokenizer_json(tiktoken_file: Path | str, ranks: dict[bytes, int] | None = None) -> str:
    """Convert GPT-2's `gpt2.tiktoken` ranks into a HF byte-level BPE `tokenizer.json` (as a string)."""
    from tokenizers import AddedToken, decoders, models, pre_tokenizers, processors
    from tokenizers import Tokenizer as HFTokenizer

    if ranks is None:
        ranks = load_tiktoken_ranks(Path(tiktoken_file))
    byte_map = bytes_to_unicode()

    def to_unicode(token: bytes) -> str:
        return "".join(byte_map[b] for b in token)

    vocab = {to_unicode(token): rank for token, rank in ranks.items()}
    merges = [(to_unicode(a), to_unicode(b)) for a, b in _merges_from_ranks(ranks)]
    eot_id = max(max(ranks.values()) + 1, GPT2_EOT_ID) if ranks else GPT2_EOT_ID
    vocab[GPT2_EOT_TOKEN] = eot_id
    backend = HFTokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    backend.add_special_tokens([AddedToken(GPT2_EOT_TOKEN, special=True, normalized=False)])
    return backend.to_str()


def write_gpt2_tokenizer_json(tiktoken_file: Path, out_file: Path) -> None:
    """Convert and write atomically (a concurrent reader never sees half a file)."""
    text = gpt2_tiktoken_to_tokenizer_json(tiktoken_file)
    json.loads(text)  # sanity: valid JSON
    tmp = out_file.with_name(out_file.name + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out_file)
