"""Damage in a history log segment is told apart from a frame cut short.

A frame is ``length, crc32, seq`` and its text; the checksum covers the seq and the text, not the length. A single
flipped bit in the length of an early frame made that frame claim more bytes than the file holds, which recovery
took for a torn last write: every later frame of the segment was dropped with a warning and the segment deleted
once the rest was applied (5 of 6 waiting runs gone). A torn write is the last thing in its segment; damage has
whole frames after it, and reading goes on there.
"""

from __future__ import annotations

import logging
import shutil
import struct
from pathlib import Path

import pytest

from aether_nb.store.duckdb import DuckDBStore
from aether_nb.store.logfile import FOLDER_SUFFIX, LogFile, read_log

DB_ID = "0b4e7d3c-damage"
HEAD = struct.Struct("<IIq")


def write_segment(tmp_path: Path, texts: list[str]) -> tuple[str, Path, list[int]]:
    """A segment as a killed process leaves it: one frame per text (seqs 10, 20, ...); and each frame's offset."""
    location = str(tmp_path / "s.duckdb")
    log = LogFile(location, DB_ID)
    for i, text in enumerate(texts):
        log.append(10 * (i + 1), text)
    log.close(applied=False)
    [seg] = sorted(Path(location + FOLDER_SUFFIX).iterdir())
    data = seg.read_bytes()
    pos, offsets = data.index(b"\n") + 1, []
    while pos < len(data):
        offsets.append(pos)
        pos += HEAD.size + HEAD.unpack_from(data, pos)[0]
    return location, seg, offsets


TEXTS = [f'{{"events":[["r{i}",{{"i":{i},"pad":"{"x" * (i * 7 % 40)}"}}]]}}' for i in range(6)]
SEQS = [10 * (i + 1) for i in range(len(TEXTS))]


@pytest.mark.parametrize("frame", range(len(TEXTS)))
def test_any_flipped_bit_of_a_frame_length_loses_no_batch_and_keeps_the_segment(
    tmp_path: Path, frame: int, caplog: pytest.LogCaptureFixture
) -> None:
    location, seg, offsets = write_segment(tmp_path, TEXTS)
    original = seg.read_bytes()
    for bit in range(32):
        data = bytearray(original)
        data[offsets[frame] + bit // 8] ^= 1 << (bit % 8)
        seg.write_bytes(bytes(data))
        with caplog.at_level(logging.WARNING, logger="aether_nb"):
            caplog.clear()
            found = read_log(location, DB_ID)
        # its checksum holds up to the next frame: even the damaged batch is read, whole
        assert [(r.seq, r.text) for r in found.records] == list(zip(SEQS, TEXTS, strict=True)), bit
        assert found.unreadable == [seg]  # kept aside (renamed .unreadable), never deleted as applied
        assert any(f"length of history batch {SEQS[frame]}" in p for p in found.problems)
        assert not any("cut short" in r.getMessage() for r in caplog.records)  # damage is not a torn write


def test_a_damaged_header_loses_its_batch_only(tmp_path: Path) -> None:
    """Its checksum (or seq) damaged too: that batch cannot be trusted, the ones after it are read."""
    location, seg, offsets = write_segment(tmp_path, TEXTS)
    data = bytearray(seg.read_bytes())
    data[offsets[1] : offsets[1] + 6] = b"\xff" * 6  # length and checksum
    seg.write_bytes(bytes(data))
    found = read_log(location, DB_ID)
    assert [r.seq for r in found.records] == [SEQS[0], *SEQS[2:]]
    assert found.unreadable == [seg] and any("no history batch that can be read" in p for p in found.problems)


def test_every_torn_last_frame_is_still_a_frame_cut_short(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """What a process killed while writing leaves: the frames before it read, the segment not reported."""
    location, seg, offsets = write_segment(tmp_path, TEXTS)
    original = seg.read_bytes()
    for cut in range(offsets[-1] + 1, len(original)):
        seg.write_bytes(original[:cut])
        with caplog.at_level(logging.WARNING, logger="aether_nb"):
            caplog.clear()
            found = read_log(location, DB_ID)
        assert [r.seq for r in found.records] == SEQS[:-1], cut
        assert found.unreadable == [] and found.problems == []
        assert any("cut short" in r.getMessage() for r in caplog.records)


def test_a_damaged_text_is_still_skipped_alone(tmp_path: Path) -> None:
    location, seg, offsets = write_segment(tmp_path, TEXTS)
    data = bytearray(seg.read_bytes())
    data[offsets[2] + HEAD.size + 3] ^= 0x01
    seg.write_bytes(bytes(data))
    found = read_log(location, DB_ID)
    assert [r.seq for r in found.records] == [s for s in SEQS if s != SEQS[2]]
    assert found.unreadable == [seg] and any("fails its checksum" in p for p in found.problems)


def test_a_reopened_store_holds_every_batch_after_a_damaged_length(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """End to end: the store a killed process left, one bit of an early frame's length flipped on disk."""
    db = tmp_path / "s.duckdb"
    with DuckDBStore(db, apply_after_s=3600) as store:
        for i in range(8):
            store.append_events("r1", [{"i": i}])
            store.kv_set("s", f"k{i}", i, None)
        crash = tmp_path / "crash"
        crash.mkdir()
        copy = crash / db.name
        for suffix in ("", ".wal"):
            if Path(str(db) + suffix).exists():
                shutil.copyfile(str(db) + suffix, str(copy) + suffix)
        shutil.copytree(str(db) + FOLDER_SUFFIX, str(copy) + FOLDER_SUFFIX)
    [seg] = sorted(Path(str(copy) + FOLDER_SUFFIX).iterdir())
    data = bytearray(seg.read_bytes())
    data[data.index(b"\n") + 1 + 2] ^= 0x10  # the first frame now claims a megabyte more than it holds
    seg.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, logger="aether_nb"), DuckDBStore(copy) as again:
        assert again.load_events("r1") == [{"i": i} for i in range(8)]
        assert [again.kv_get("s", f"k{i}") for i in range(8)] == [(i, None) for i in range(8)]
    assert any("is damaged" in r.getMessage() for r in caplog.records)
    assert [p.name for p in Path(str(copy) + FOLDER_SUFFIX).iterdir()] == [seg.name + ".unreadable"]
    with DuckDBStore(copy) as third:  # applied once: the segment kept aside is not read again
        assert len(third.load_events("r1")) == 8
