"""Tokenizers for counting and synthesising tokens: HF `tokenizers` behind one small facade.

`load_tokenizer(name_or_path)` looks, in order, at a local folder or file, the HF hub cache, the hub itself
(only when the network is allowed; `hub.py`) and, for `gpt2`, the offline copy made by `make tokenizer-assets`
(tools/fetch_gpt2_tokenizer.py, converted by `gpt2_asset.py`). `tokenizers` is imported lazily so that
`import aiperf.inputs.tokenizer` stays cheap.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aiperf.errors import TokenizerError
from aiperf.inputs.tokenizer.gpt2_asset import GPT2_TIKTOKEN_FILE, gpt2_tiktoken_to_tokenizer_json
from aiperf.inputs.tokenizer.hub import (
    TOKENIZER_JSON,
    hub_cache_dir,
    hub_cache_lookup,
    hub_download,
    hub_offline,
    looks_like_hub_id,
)

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer as HFTokenizer

__all__ = [
    "GPT2_NAMES",
    "TOKENIZER_JSON",
    "Tokenizer",
    "TokenizerError",
    "aiperf_cache_dir",
    "gpt2_asset_dir",
    "load_tokenizer",
    "tokenize_in_calling_thread",
]

GPT2_NAMES = ("gpt2", "openai-community/gpt2")


_PARALLELISM_ENV = "TOKENIZERS_PARALLELISM"


@contextlib.contextmanager
def tokenize_in_calling_thread() -> Iterator[None]:
    """While the block runs, HF tokenizers encodes batches in the thread that calls it.

    By default `encode_batch` uses a thread pool of its own (rayon) at normal priority, so token counting in the
    SCHED_IDLE record thread would still compete with the engine's loop threads. The library reads
    TOKENIZERS_PARALLELISM at every call; the previous value is put back afterwards."""
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

    def __init__(self, backend: HFTokenizer | None, name: str, source: Path | None = None,
                 loader: Callable[[], HFTokenizer] | None = None) -> None:
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
            with contextlib.suppress(TokenizerError):  # raised again by the next use, in the caller's thread
                self.load()

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
    def _backend(self) -> HFTokenizer:
        backend = self._loaded_backend if self._loaded_backend is not None else self.load()._loaded_backend
        assert backend is not None
        return backend

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


# ---------------------------------------------------------------------------------------------------- loading


def load_tokenizer(
    name_or_path: str, *, revision: str = "main", trust_remote_code: bool = False, lazy: bool = False
) -> Tokenizer:
    """Find and load a tokenizer by local path, HF hub cache, HF hub download or (gpt2) the offline asset.

    A tokenizer that cannot be found is a TokenizerError at once. With `lazy`, a `tokenizer.json` file that
    was found is parsed on first use (parsing holds the GIL) instead of here; converted and
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

    if looks_like_hub_id(name):
        cached = hub_cache_lookup(name, revision)
        if cached is not None:
            return _from_file(cached, name, lazy)
        tried.append(f"not in the Hugging Face hub cache ({hub_cache_dir()})")

        if hub_offline():
            tried.append("hub download skipped (HF_HUB_OFFLINE is set)")
        else:
            backend, problem = hub_download(name, revision)
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
    def load() -> HFTokenizer:
        from tokenizers import Tokenizer as HFTokenizer

        try:
            return HFTokenizer.from_file(str(file))
        except Exception as e:
            raise TokenizerError(f"--tokenizer {name!r}: cannot load {file}: {e}") from None

    def load_and_remember() -> HFTokenizer:
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


def _load_gpt2_asset(name: str, lazy: bool = False) -> Tokenizer | None:
    asset_dir = gpt2_asset_dir()
    json_file = asset_dir / TOKENIZER_JSON
    if json_file.is_file():
        return _from_file(json_file, name, lazy)
    tiktoken_file = asset_dir / GPT2_TIKTOKEN_FILE
    if tiktoken_file.is_file():
        return _from_json_text(gpt2_tiktoken_to_tokenizer_json(tiktoken_file), name, str(tiktoken_file))
    return None


