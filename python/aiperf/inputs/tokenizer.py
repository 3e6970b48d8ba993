"""Tokenizers for counting and synthesising tokens: HF `tokenizers` behind one small facade.

`load_tokenizer(name_or_path)` looks, in order, at a local folder or file, the HF hub cache, the hub itself
(only when the network is allowed) and, for `gpt2`, the offline copy made by `make tokenizer-assets`
(tools/fetch_gpt2_tokenizer.py). `tokenizers` is imported lazily so that `import aiperf.inputs.tokenizer` stays
cheap.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiperf.errors import TokenizerError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "GPT2_EOT_ID",
    "GPT2_EOT_TOKEN",
    "GPT2_NAMES",
    "GPT2_PATTERN",
    "Tokenizer",
    "TokenizerError",
    "aiperf_cache_dir",
    "gpt2_asset_dir",
    "gpt2_tiktoken_to_tokenizer_json",
    "load_tokenizer",
]

# GPT-2's pre-tokenisation regex (the one HF's ByteLevel pre-tokenizer uses with use_regex=True).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT2_NAMES = ("gpt2", "openai-community/gpt2")
GPT2_EOT_TOKEN = "<|endoftext|>"
GPT2_EOT_ID = 50256
GPT2_TIKTOKEN_FILE = "gpt2.tiktoken"
TOKENIZER_JSON = "tokenizer.json"
HUB_TIMEOUT_S = 10


_PARALLELISM_ENV = "TOKENIZERS_PARALLELISM"


@contextlib.contextmanager
def tokenize_in_calling_thread() -> Iterator[None]:
    """While the block runs, HF tokenizers encodes batches in the thread that calls it.

    By default `encode_batch` spreads its work over a thread pool of its own (rayon), whose threads keep the priority
    they were created with: aiperf's record thread runs under SCHED_IDLE during a run so that it never delays the
    engine's loop threads, but its token counting ran on the pool at normal priority (bench/accuracy at 1,000 streams:
    ~30 ms of it every batch, during which no socket was read and one token's arrival time merged into the next's).
    The library reads TOKENIZERS_PARALLELISM at every call; the previous value is put back afterwards."""
    previous = os.environ.get(_PARALLELISM_ENV)
    os.environ[_PARALLELISM_ENV] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_PARALLELISM_ENV, None)
        else:
            os.environ[_PARALLELISM_ENV] = previous


class Tokenizer:
    """`encode`/`count_tokens` never add special tokens (BOS/EOS): we count what is sent.

    The backend may be loaded lazily: `load_tokenizer(..., lazy=True)` finds the file (so a missing tokenizer is
    still an error at once) but parses it on first use, or when `load()` / `load_in_background()` is called.
    `name`, `source` and `fingerprint` never load it.
    """

    def __init__(self, backend: Any, name: str, source: Path | None = None,
                 loader: Callable[[], Any] | None = None) -> None:
        if backend is None and loader is None:
            raise ValueError("Tokenizer needs a backend or a loader")
        self._loaded_backend = backend  # a tokenizers.Tokenizer, or None until `loader` has run
        self._loader = loader
        self._lock = threading.Lock()
        self.name = name
        self.source = source  # the tokenizer.json it was loaded from, when there is one

    @property
    def loaded(self) -> bool:
        return self._loaded_backend is not None

    def load(self) -> Tokenizer:
        """Load the backend now (no-op when loaded); raises TokenizerError when the file cannot be parsed."""
        if self._loaded_backend is None:
            with self._lock:  # a background load in progress: wait for it instead of loading twice
                if self._loaded_backend is None:
                    assert self._loader is not None
                    self._loaded_backend = self._loader()
                    self._loader = None
        return self

    def load_in_background(self) -> threading.Thread | None:
        """Start loading in a daemon thread (None when already loaded); `load()` or any use waits for it."""
        if self.loaded:
            return None

        def run() -> None:
            try:
                self.load()
            except TokenizerError:
                pass  # raised again by the next use, in the caller's thread

        thread = threading.Thread(target=run, name="aiperf-tokenizer-load", daemon=True)
        thread.start()
        return thread

    @property
    def known_good(self) -> bool:
        """Loaded, or this very file (path, size, mtime) was loaded successfully before: loading it later
        cannot fail with a parse error, so callers may defer it past the point where errors must be raised."""
        if self.loaded:
            return True
        marker = _loaded_marker(self.fingerprint)
        return marker is not None and marker.is_file()

    @property
    def _backend(self) -> Any:
        backend = self._loaded_backend
        return backend if backend is not None else self.load()._loaded_backend

    @property
    def fingerprint(self) -> str | None:
        """Identifies the tokenizer file (path, size, mtime) for caches of tokenized data; None if unknown."""
        if self.source is None:
            return None
        try:
            st = self.source.stat()
        except OSError:
            return None
        return f"{self.source.resolve()}:{st.st_size}:{st.st_mtime_ns}"

    def encode(self, text: str) -> list[int]:
        return self._backend.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._backend.decode(list(ids), skip_special_tokens=False)

    def count_tokens(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros(0, dtype=np.int64)
        backend = self._backend
        # encode_batch_fast (tokenizers >= 0.20) skips offset tracking, which counting does not need.
        encode_batch = getattr(backend, "encode_batch_fast", backend.encode_batch)
        encodings = encode_batch(list(texts), add_special_tokens=False)
        return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size(with_added_tokens=True)

    def __repr__(self) -> str:
        if not self.loaded:
            return f"Tokenizer(name={self.name!r}, not loaded yet)"
        return f"Tokenizer(name={self.name!r}, vocab_size={self.vocab_size})"


# -------------------------------------------------------------------------------------------------- locations


def aiperf_cache_dir() -> Path:
    """`$AIPERF_CACHE_DIR`, else `$XDG_CACHE_HOME/aiperf`, else `~/.cache/aiperf`."""
    if os.environ.get("AIPERF_CACHE_DIR"):
        return Path(os.environ["AIPERF_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "aiperf"
    return Path.home() / ".cache" / "aiperf"


def gpt2_asset_dir() -> Path:
    return aiperf_cache_dir() / "tokenizers" / "gpt2"


def _hf_hub_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def _hub_offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return (
        1 <= len(parts) <= 2 and all(p and p not in (".", "..") for p in parts) and not name.startswith("~")
    )


# ---------------------------------------------------------------------------------------------------- loading


def load_tokenizer(
    name_or_path: str, *, revision: str = "main", trust_remote_code: bool = False, lazy: bool = False
) -> Tokenizer:
    """Find and load a tokenizer by local path, HF hub cache, HF hub download or (gpt2) the offline asset.

    A tokenizer that cannot be found is a TokenizerError at once. With `lazy`, a `tokenizer.json` file that
    was found is parsed on first use (~0.17 s for GPT-2, holding the GIL) instead of here; converted and
    downloaded tokenizers are always loaded at once.
    `trust_remote_code` is accepted for compatibility; HF `tokenizers` never runs repository code.
    """
    del trust_remote_code  # tokenizer.json is data; there is no remote code to trust
    name = str(name_or_path).strip()
    if not name:
        raise TokenizerError("--tokenizer: empty tokenizer name")
    tried: list[str] = []

    path = Path(name).expanduser()
    if path.exists():
        file = path / TOKENIZER_JSON if path.is_dir() else path
        if path.is_dir() and not file.is_file():
            if (path / GPT2_TIKTOKEN_FILE).is_file():
                return _from_json_text(
                    gpt2_tiktoken_to_tokenizer_json(path / GPT2_TIKTOKEN_FILE), name, str(path)
                )
            raise TokenizerError(
                f"--tokenizer {name!r}: the folder {path} has no {TOKENIZER_JSON} "
                "(only HF 'fast' tokenizers saved as tokenizer.json are supported)"
            )
        if file.suffix == ".tiktoken":
            if file.name != GPT2_TIKTOKEN_FILE:  # other encodings need their own regex and special tokens
                raise TokenizerError(
                    f"--tokenizer {name!r}: only {GPT2_TIKTOKEN_FILE} can be converted; "
                    f"give a folder or file with a HF {TOKENIZER_JSON}"
                )
            return _from_json_text(gpt2_tiktoken_to_tokenizer_json(file), name, str(file))
        return _from_file(file, name, lazy)
    tried.append(f"no local file or folder {str(path)!r}")

    if _looks_like_hub_id(name):
        cached = _hub_cache_lookup(name, revision)
        if cached is not None:
            return _from_file(cached, name, lazy)
        tried.append(f"not in the Hugging Face hub cache ({_hf_hub_cache_dir()})")

        if _hub_offline():
            tried.append("hub download skipped (HF_HUB_OFFLINE is set)")
        else:
            backend, problem = _hub_download(name, revision)
            if backend is not None:
                return Tokenizer(backend, name)
            tried.append(f"hub download failed ({problem})")

    if name in GPT2_NAMES:
        tokenizer = _load_gpt2_asset(name, lazy)
        if tokenizer is not None:
            return tokenizer
        tried.append(f"no offline copy in {gpt2_asset_dir()} (run `make tokenizer-assets`)")

    raise TokenizerError(f"--tokenizer {name!r}: tokenizer not found: " + "; ".join(tried))


def _from_file(file: Path, name: str, lazy: bool = False) -> Tokenizer:
    def load() -> Any:
        from tokenizers import Tokenizer as HFTokenizer

        try:
            return HFTokenizer.from_file(str(file))
        except Exception as e:
            raise TokenizerError(f"--tokenizer {name!r}: cannot load {file}: {e}") from None

    def load_and_remember() -> Any:
        backend = load()
        marker = _loaded_marker(tokenizer.fingerprint)
        if marker is not None and not marker.is_file():
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError:
                pass  # a read-only cache only means loading before the run next time
        return backend

    tokenizer = Tokenizer(None, name, source=file, loader=load_and_remember)
    return tokenizer if lazy else tokenizer.load()


def _loaded_marker(fingerprint: str | None) -> Path | None:
    """An empty file that says "the tokenizer file with this fingerprint loaded without error"."""
    if not fingerprint:
        return None
    import hashlib

    return aiperf_cache_dir() / "tokenizers" / "loaded" / hashlib.sha256(fingerprint.encode()).hexdigest()[:32]


def _from_json_text(text: str, name: str, source: str) -> Tokenizer:
    from tokenizers import Tokenizer as HFTokenizer

    try:
        return Tokenizer(HFTokenizer.from_str(text), name)
    except Exception as e:
        raise TokenizerError(f"--tokenizer {name!r}: cannot load {source}: {e}") from None


def _hub_cache_lookup(repo_id: str, revision: str) -> Path | None:
    """tokenizer.json of `repo_id` at `revision` in the local HF hub cache, without any network access."""
    repo_dir = _hf_hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    if not repo_dir.is_dir():  # cheap exit: importing huggingface_hub alone costs ~0.25 s of start-up
        return None
    snapshots = repo_dir / "snapshots"
    ref_file = repo_dir / "refs" / revision
    if ref_file.is_file():
        candidate = snapshots / ref_file.read_text().strip() / TOKENIZER_JSON
        if candidate.is_file():
            return candidate
    candidate = snapshots / revision / TOKENIZER_JSON  # revision given as a commit hash
    if candidate.is_file():
        return candidate
    try:
        from huggingface_hub import try_to_load_from_cache  # optional: knows layouts we do not
    except ImportError:
        pass
    else:
        try:
            found = try_to_load_from_cache(repo_id, TOKENIZER_JSON, revision=revision)
        except Exception:
            found = None
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    if revision == "main" and snapshots.is_dir():  # no ref recorded: any snapshot will do, newest first
        files = sorted(snapshots.glob(f"*/{TOKENIZER_JSON}"), key=lambda p: p.stat().st_mtime, reverse=True)
        if files:
            return files[0]
    return None


def _hub_download(repo_id: str, revision: str) -> tuple[Any, str]:
    """(backend, "") on success, (None, why) otherwise. Bounded by HUB_TIMEOUT_S so offline never hangs."""
    import socket
    import threading

    # Fail fast when the hub host does not even resolve or accept a connection (the usual offline case).
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    hostname, _, port = host.partition(":")
    try:
        socket.create_connection(
            (hostname, int(port or (443 if endpoint.startswith("https") else 80))), timeout=3
        ).close()
    except OSError as e:
        return None, f"{hostname} unreachable: {e}"

    result: dict[str, Any] = {}

    def fetch() -> None:
        try:
            from tokenizers import Tokenizer as HFTokenizer

            result["backend"] = HFTokenizer.from_pretrained(repo_id, revision=revision)
        except Exception as e:
            result["error"] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__

    worker = threading.Thread(target=fetch, name="aiperf-tokenizer-download", daemon=True)
    worker.start()
    worker.join(HUB_TIMEOUT_S)
    if worker.is_alive():
        return None, f"timed out after {HUB_TIMEOUT_S} s"
    if "backend" in result:
        return result["backend"], ""
    return None, result.get("error", "unknown error")


def _load_gpt2_asset(name: str, lazy: bool = False) -> Tokenizer | None:
    asset_dir = gpt2_asset_dir()
    json_file = asset_dir / TOKENIZER_JSON
    if json_file.is_file():
        return _from_file(json_file, name, lazy)
    tiktoken_file = asset_dir / GPT2_TIKTOKEN_FILE
    if tiktoken_file.is_file():
        return _from_json_text(gpt2_tiktoken_to_tokenizer_json(tiktoken_file), name, str(tiktoken_file))
    return None


# ------------------------------------------------------------------------------------------------- conversion


def _bytes_to_unicode() -> dict[int, str]:
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
    byte_map = _bytes_to_unicode()

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
