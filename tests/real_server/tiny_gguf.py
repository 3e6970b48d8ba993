"""Write a tiny random-weight llama-architecture GGUF whose tokenizer is GPT-2's byte-level BPE.

The vocabulary and merges are those of the offline GPT-2 tokenizer the project ships (`make tokenizer-assets`,
docs/tokenizers.md), so llama.cpp tokenizes prompts exactly as `aiperf profile --tokenizer gpt2` does.

Weights: seeded normal noise (2 layers, 64-wide, 4 heads), with one constraint on the output head: only the
rows of "word" tokens (ASCII lowercase letters, a single GPT-2 token both with and without a leading space,
e.g. ` the`/`the`) are non-zero, so every sampled token is such a word (the other 50 k logits are exactly 0,
far below the top-k the server keeps). Why: a random model that samples arbitrary token ids produces text that
GPT-2 BPE re-tokenizes into a different number of tokens (`a` + `b` re-merges into `ab`, byte tokens form
other characters), which would make any client's output-token count differ from the server's for reasons
that have nothing to do with the client. A text of ` word` tokens re-tokenizes into exactly the same tokens
(GPT-2's pre-tokenizer splits before every space). EOS is never sampled: a stream ends only at max_tokens
(or at the end of the context, when the server ignores the limit the client asked for).

The chat template just concatenates the message contents and no BOS/EOS is added, so the server's
`prompt_tokens` is the token count of the text aiperf sent (what aiperf counts as input tokens).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aiperf.inputs.tokenizer.gpt2_asset import bytes_to_unicode

N_EMBD = 64
N_HEAD = 4
N_LAYER = 2
N_FF = 128
N_CTX_TRAIN = 4096
EOT = "<|endoftext|>"
# Only the message contents, in order: the server's prompt is exactly the text the client sent.
CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{% endfor %}"


def word_token_ids(tokenizer_json: Path, vocab: dict[str, int]) -> list[int]:
    """Ids of tokens `Ġword` (word: >= 2 ASCII lowercase letters) that GPT-2 BPE gives back as one token for
    ` word`, and whose bare `word` is one token too (so a leading space stripped by a server changes nothing)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    space = bytes_to_unicode()[ord(" ")]
    cands = [(s[1:], i) for s, i in vocab.items() if s.startswith(space) and len(s) >= 3 and s[1:].isascii()
             and s[1:].isalpha() and s[1:].islower()]
    words = [w for w, _ in cands]
    with_space = tok.encode_batch([" " + w for w in words], add_special_tokens=False)
    bare = tok.encode_batch(words, add_special_tokens=False)
    return sorted(i for (w, i), a, b in zip(cands, with_space, bare) if a.ids == [i] and len(b.ids) == 1)


def write_tiny_gguf(path: Path, tokenizer_json: Path, seed: int = 1234) -> dict:
    """Write the model to `path`; returns a few facts about it (vocab size, number of word tokens)."""
    import gguf

    spec = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    vocab: dict[str, int] = spec["model"]["vocab"]
    n_vocab = len(vocab)
    tokens = [""] * n_vocab
    for s, i in vocab.items():
        tokens[i] = s
    special = {t["id"]: t["content"] for t in spec.get("added_tokens", [])}
    for i, s in special.items():
        tokens[i] = s
    assert all(tokens), "tokenizer.json: vocabulary ids are not 0..n-1"
    eot_id = vocab.get(EOT, n_vocab - 1)
    token_types = [gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(n_vocab)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    words = word_token_ids(Path(tokenizer_json), vocab)

    rng = np.random.default_rng(seed)
    head_dim = N_EMBD // N_HEAD

    def rand(*shape: int, std: float) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("aiperf-tiny-random-gpt2bpe")
    w.add_context_length(N_CTX_TRAIN)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(token_types)
    w.add_token_merges(merges)
    w.add_bos_token_id(eot_id)
    w.add_eos_token_id(eot_id)
    w.add_add_bos_token(False)
    w.add_add_eos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)

    # numpy shapes are ggml's ne reversed: token_embd {n_embd, n_vocab} -> (n_vocab, n_embd), etc.
    w.add_tensor("token_embd.weight", rand(n_vocab, N_EMBD, std=1.0))
    for b in range(N_LAYER):
        p = f"blk.{b}."
        w.add_tensor(p + "attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(p + "attn_q.weight", rand(N_EMBD, N_EMBD, std=0.1))
        w.add_tensor(p + "attn_k.weight", rand(N_EMBD, N_EMBD, std=0.1))
        w.add_tensor(p + "attn_v.weight", rand(N_EMBD, N_EMBD, std=0.1))
        w.add_tensor(p + "attn_output.weight", rand(N_EMBD, N_EMBD, std=0.1))
        w.add_tensor(p + "ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(p + "ffn_gate.weight", rand(N_FF, N_EMBD, std=0.1))
        w.add_tensor(p + "ffn_up.weight", rand(N_FF, N_EMBD, std=0.1))
        w.add_tensor(p + "ffn_down.weight", rand(N_EMBD, N_FF, std=0.1))
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    out = np.zeros((n_vocab, N_EMBD), dtype=np.float32)
    out[words] = rand(len(words), N_EMBD, std=1.0)
    w.add_tensor("output.weight", out)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {"path": str(path), "n_vocab": n_vocab, "word_tokens": len(words), "seed": seed}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--tokenizer-json", type=Path,
                    default=Path.home() / ".cache" / "aiperf" / "tokenizers" / "gpt2" / "tokenizer.json")
    ap.add_argument("--seed", type=int, default=1234)
    print(json.dumps(write_tiny_gguf(ap.parse_args().out, ap.parse_args().tokenizer_json, ap.parse_args().seed)))
