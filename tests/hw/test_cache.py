"""The content-addressed cost cache: keys, roundtrip, corrupt entries, what is (not) cached."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ohq_flow.hw.cache import CostCache, default_cache_dir, make_key
from ohq_flow.hw.costs import CostRow


def _row(**kw) -> CostRow:
    base = dict(layer="fc1", w_bits=4, a_bits=8, lut=123.0, ff=45.0, latency_cycles=3.0, clock_ns=5.0,
                source="yosys", fidelity="post_synth", tool="yosys", tool_version="0.23", part="xc7z020")
    base.update(kw)
    return CostRow(**base)


def _parts(**kw) -> dict:
    parts = dict(subgraph="ab" * 32, w_bits=4, a_bits=8, generator={"name": "da4ml", "adder_size": 1},
                 measurer={"name": "yosys", "flatten": True}, part="xc7z020", clock_ns=5.0, tool_version="0.23")
    parts.update(kw)
    return parts


def test_key_is_canonical_and_sensitive():
    k = make_key(**_parts())
    assert len(k) == 64 and k == CostCache.make_key(**_parts())
    reordered = dict(reversed(list(_parts().items())))
    reordered["generator"] = {"adder_size": 1, "name": "da4ml"}
    assert make_key(**reordered) == k
    assert make_key(**_parts(w_bits=5)) != k
    assert make_key(**_parts(measurer={"name": "yosys", "flatten": False})) != k
    with pytest.raises(ValueError):
        make_key(**_parts(clock_ns=float("nan")))
    with pytest.raises(TypeError):
        make_key(**_parts(weights=object()))


def test_roundtrip_and_log_copy(tmp_path):
    cache = CostCache(tmp_path / "cache")
    key = make_key(**_parts())
    assert cache.get(key) is None
    log = tmp_path / "run" / "job.log"
    log.parent.mkdir()
    log.write_text("yosys said hello\n")
    path = cache.put(key, _row(log_path=str(log)))
    assert path == tmp_path / "cache" / key[:2] / f"{key}.json"
    got = cache.get(key)
    assert got.cached and got.cache_key == key
    expect = _row().to_dict()
    for name in ("layer", "w_bits", "a_bits", "lut", "ff", "latency_cycles", "latency_ns", "tool_version"):
        assert getattr(got, name) == expect[name]
    assert got.dsp is None                                   # missing stays missing
    (tmp_path / "run" / "job.log").unlink()                  # the run dir goes away ...
    assert Path(got.log_path).read_text() == "yosys said hello\n"   # ... the cached log stays
    st = cache.stats()
    assert st.entries == 1 and st.bytes > 0


def test_failed_rows_are_not_cached(tmp_path):
    cache = CostCache(tmp_path)
    key = make_key(**_parts())
    assert cache.put(key, _row(status="failed", error="boom")) is None
    assert cache.put(key, _row(status="timeout", error="slow")) is None
    assert cache.get(key) is None and cache.stats().entries == 0


def _flip_bytes(p: Path) -> None:
    data = bytearray(p.read_bytes())
    i = data.index(b'"lut"') + 8
    data[i] = ord("9") if data[i] != ord("9") else ord("8")   # still valid JSON, different number
    p.write_bytes(bytes(data))


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _bad_checksum(p: Path) -> None:
    entry = json.loads(p.read_text())
    entry["sha256"] = "0" * 64
    p.write_text(json.dumps(entry))


def _garbage(p: Path) -> None:
    p.write_bytes(b"\x00\xff not json")


@pytest.mark.parametrize("damage", [_truncate, _flip_bytes, _bad_checksum, _garbage])
def test_corrupt_entry_is_dropped_and_recomputed(tmp_path, caplog, damage):
    cache = CostCache(tmp_path)
    key = make_key(**_parts())
    path = cache.put(key, _row())
    damage(path)
    with caplog.at_level(logging.WARNING, logger="ohq_flow.hw.cache"):
        assert cache.get(key) is None
    assert str(path) in caplog.text and "corrupt" in caplog.text
    assert not path.exists()
    cache.put(key, _row(lut=7.0))                          # recomputed value is stored again
    assert cache.get(key).lut == 7.0


def test_entry_under_wrong_key_is_rejected(tmp_path, caplog):
    cache = CostCache(tmp_path)
    k1, k2 = make_key(**_parts()), make_key(**_parts(w_bits=2))
    p1 = cache.put(k1, _row())
    p2 = cache.entry_path(k2)
    p2.parent.mkdir(parents=True, exist_ok=True)
    p2.write_bytes(p1.read_bytes())                        # a valid entry, but for another key
    with caplog.at_level(logging.WARNING):
        assert cache.get(k2) is None
    assert str(p2) in caplog.text and not p2.exists()
    assert cache.get(k1) is not None


def test_default_root_reads_env(monkeypatch, tmp_path):
    monkeypatch.setenv("OHQ_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" and CostCache().root == tmp_path / "c"
    monkeypatch.delenv("OHQ_CACHE_DIR")
    assert default_cache_dir() == Path("~/.cache/ohq_flow").expanduser()


def test_bad_key_rejected(tmp_path):
    with pytest.raises(ValueError):
        CostCache(tmp_path).get("../../etc/passwd")


def test_records_share_the_cache_rules(tmp_path):
    """A record (e.g. a whole-design Yosys run) lives in the same cache, checksummed; a damaged one is dropped."""
    from ohq_flow.hw.cache import CostCache, make_key
    cache, key = CostCache(tmp_path), make_key(what="design")
    assert cache.get_record("designs", key) is None
    path = cache.put_record("designs", key, {"lut": 12, "log_path": "x.log"})
    assert cache.get_record("designs", key) == {"lut": 12, "log_path": "x.log"}
    path.write_text(path.read_text().replace('"lut": 12', '"lut": 13'))     # tampered: checksum mismatch
    assert cache.get_record("designs", key) is None and not path.exists()
    with pytest.raises(ValueError):
        cache.record_path("../x", key)
