"""A poisoned FSM cache entry (edited, truncated, copied from another key, non-JSON) is never
used: the design is recomputed; the cached expression text never leaks into a later request."""

from __future__ import annotations

import json

import pytest

from sccompiler.fsm import cache, synthesize_fsm


@pytest.fixture
def disk_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCC_FSM_CACHE", "1")
    monkeypatch.setenv("SCC_CACHE_DIR", str(tmp_path))
    cache.clear_cache()
    yield tmp_path / "fsm"
    cache.clear_cache()


def entry(root):
    files = list(root.glob("*.json"))
    assert len(files) == 1
    return files[0]


@pytest.mark.parametrize("poison", ["truncate_weights", "edit_keep_digest", "other_key", "garbage", "nested"])
def test_poisoned_entry_is_recomputed(disk_cache, poison):
    first = synthesize_fsm("tanh(2*x)", states=8)
    f = entry(disk_cache)
    doc = json.loads(f.read_text())
    if poison == "truncate_weights":          # digest no longer matches
        doc["record"]["weights"] = doc["record"]["weights"][:3]
    elif poison == "edit_keep_digest":        # wrong length, digest recomputed by the attacker
        doc["record"]["weights"] = doc["record"]["weights"][:3]
        doc["record"]["quantized_weights"] = doc["record"]["quantized_weights"][:3]
        doc["digest"] = cache.record_digest(doc["record"])
    elif poison == "other_key":
        doc["key"] = "0" * 64
    f.write_text("\xff not json" if poison == "garbage" else "[" * 100000 if poison == "nested"
                 else json.dumps(doc))
    cache.clear_cache()
    again = synthesize_fsm("tanh(2*x)", states=8)
    assert not again.cached
    assert len(again.weights) == 8 and again.weights == first.weights


def test_cached_expression_text_does_not_leak(disk_cache):
    synthesize_fsm("tanh(2*x)", states=8)
    same = synthesize_fsm("tanh(2 * x)", states=8)        # same target, other spelling: memory hit
    assert same.cached and same.expression == "tanh(2 * x)"
    cache.clear_cache()
    disk = synthesize_fsm("tanh( 2*x )", states=8)        # disk hit
    assert disk.cached and disk.expression == "tanh( 2*x )"
