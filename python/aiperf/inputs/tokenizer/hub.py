"""The Hugging Face hub: `tokenizer.json` looked up in the local hub cache (no network), or downloaded with a
time limit so that an offline machine never hangs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizers import Tokenizer as HFTokenizer

__all__ = ["HUB_TIMEOUT_S", "TOKENIZER_JSON", "hub_cache_dir", "hub_cache_lookup", "hub_download", "hub_offline",
           "looks_like_hub_id"]

TOKENIZER_JSON = "tokenizer.json"
HUB_TIMEOUT_S = 10


def hub_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def hub_offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return (
        1 <= len(parts) <= 2 and all(p and p not in (".", "..") for p in parts) and not name.startswith("~")
    )


def hub_cache_lookup(repo_id: str, revision: str) -> Path | None:
    """tokenizer.json of `repo_id` at `revision` in the local HF hub cache, without any network access."""
    repo_dir = hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    if not repo_dir.is_dir():  # cheap exit: importing huggingface_hub slows start-up
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


def hub_download(repo_id: str, revision: str) -> tuple[HFTokenizer | None, str]:
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
