"""Cache of synthesized FSM designs, keyed by a hash of everything the result depends on.

Two levels: an in-memory LRU (per process) and JSON files under ``$SCC_CACHE_DIR/fsm`` (default
``~/.cache/sccompiler/fsm``).  ``SCC_FSM_CACHE=0`` disables the on-disk level (tests do this so a
stale file can never make them pass).  JSON, not pickle: a cache file can never execute code.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..errors import SCCError

#: bump when the synthesis algorithm changes so old disk entries are ignored
CACHE_VERSION = 2
#: a disk entry larger than this is ignored (bytes)
MAX_ENTRY_BYTES = 16 << 20
_MEMORY: "OrderedDict[str, Any]" = OrderedDict()
MEMORY_ENTRIES = 128


def record_digest(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON (a damaged or edited entry no longer matches)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def cache_key(parts: dict[str, Any]) -> str:
    blob = json.dumps({"version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def disk_dir() -> Path | None:
    if os.environ.get("SCC_FSM_CACHE", "1").strip().lower() in ("0", "off", "no", "false"):
        return None
    root = os.environ.get("SCC_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "sccompiler")
    return Path(root) / "fsm"


def memory_get(key: str) -> Any | None:
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    return None


def memory_put(key: str, value: Any) -> None:
    _MEMORY[key] = value
    _MEMORY.move_to_end(key)
    while len(_MEMORY) > MEMORY_ENTRIES:
        _MEMORY.popitem(last=False)


def disk_get(key: str) -> dict[str, Any] | None:
    root = disk_dir()
    if root is None:
        return None
    path = root / f"{key}.json"
    try:
        if not path.is_file() or path.stat().st_size > MAX_ENTRY_BYTES:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None  # missing or corrupt entry: recompute
    # an entry is used only if it is the record for this key and its digest matches
    if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("record"), dict) \
            or doc.get("digest") != record_digest(doc["record"]):
        return None
    return doc["record"]


def disk_put(key: str, record: dict[str, Any]) -> None:
    root = disk_dir()
    if root is None:
        return
    try:
        from ..io import atomic_file  # noqa: PLC0415

        with atomic_file(root / f"{key}.json", force=True) as fh:
            json.dump({"key": key, "digest": record_digest(record), "record": record}, fh)
    except (OSError, SCCError):
        pass  # an unwritable cache directory must not fail a synthesis


def clear_cache() -> None:
    """Forget the in-memory entries (the disk level is left alone)."""
    _MEMORY.clear()
