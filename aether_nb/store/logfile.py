"""The DuckDB store's history log on disk: append-only segment files beside the database file.

Why a file of our own: a durable write is the store's hot path (a pause, an answer, a step in ``sync``
durability), and a DuckDB statement with its commit costs ~0.75 ms in a tight loop and 1.1-1.25 ms in the running
store, where appending a few hundred bytes to a file and ``fdatasync`` costs ~0.2 ms on the same machine
(``bench/README.md``). So a batch of history is one *frame* appended to ``<file>.history-log/<n>.seg`` and synced:
when :meth:`LogFile.append` returns, the batch is durable (``sync=False``: from the next sync on, see there). The
typed tables are brought up to date from these frames later, in DuckDB transactions (:mod:`aether_nb.store.log`,
:mod:`aether_nb.store.apply`), and a segment is deleted once everything in it is applied.

What keeps this exactly-once:

* **Frames are checked.** A frame is ``length, crc32, seq`` and the batch's JSON text. A frame cut short (the
  process died while writing it, so its writer never returned) ends the segment, and is the last thing in it; a
  frame whose checksum or text is wrong is reported and skipped, and its segment is kept aside (``.unreadable``)
  rather than deleted. A damaged *length* is told apart from a frame cut short by the whole frames after it
  (reading goes on at the next frame whose checksum holds, and the batch itself is applied when its checksum holds
  up to there): a flipped bit there had the acknowledged batches after it taken for a torn write and dropped.
* **The database says what it holds.** Each apply records the highest ``seq`` it applied (``log_state`` table) in
  the same transaction as the rows, so frames a crash left in a segment after their apply committed are skipped at
  the next open, never applied twice.
* **A log belongs to one database.** Every segment starts with the database's id (``log_state.db_id``): a
  segment of another file (the database deleted and created again beside an old folder) is never applied to this
  one; it is renamed ``.orphaned`` and reported.
* **Segments rotate when an apply starts** (:meth:`LogFile.rotate`): every closed segment then holds only frames of
  the generation being applied or of earlier, applied ones, so it can be deleted when that apply commits
  (:meth:`LogFile.discard`).

Only the process that holds the DuckDB file for writing writes here (DuckDB's lock keeps other processes out),
and a store closed normally applies everything and leaves no segment: at rest, the database file is whole.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FOLDER_SUFFIX", "LogFile", "LogRecord", "Recovered", "read_log"]

_log = logging.getLogger("aether_nb")

FOLDER_SUFFIX = ".history-log"
"""The folder beside the database file: ``<file>.history-log/``."""

_MAGIC = b"AETHERLOG1 "
_HEAD = struct.Struct("<IIq")  # payload length, crc32 of seq + payload, seq
_SUFFIX = ".seg"


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One batch read back from a segment: its ``seq``, its rows' JSON text and the segment it is in."""

    seq: int
    text: str
    segment: Path


@dataclass
class Recovered:
    """What :func:`read_log` found: the records (every segment, in ``seq`` order), the segments they came from,
    and what could not be read (messages, already logged)."""

    records: list[LogRecord] = field(default_factory=list)
    segments: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)
    orphaned: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def max_seq(self) -> int:
        return max((r.seq for r in self.records), default=0)


def folder_of(location: str) -> Path:
    """The log folder of ``location``, absolute: a notebook that changes its working directory later
    (``os.chdir``) still writes its log where the next open looks for it."""
    return Path(os.path.abspath(location + FOLDER_SUFFIX))


def _segment_number(path: Path) -> int | None:
    stem = path.name[: -len(_SUFFIX)] if path.name.endswith(_SUFFIX) else ""
    return int(stem) if stem.isdigit() else None


def _segments(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [(n, p) for p in folder.iterdir() if (n := _segment_number(p)) is not None]
    return [p for _, p in sorted(found)]


def read_log(location: str, db_id: str) -> Recovered:
    """Every frame the segments of ``location``'s log hold (see the module docstring for what is skipped)."""
    out = Recovered()
    for path in _segments(folder_of(location)):
        _read_segment(path, db_id, out)
    out.records.sort(key=lambda r: r.seq)
    return out


def _read_segment(path: Path, db_id: str, out: Recovered) -> None:
    data = path.read_bytes()
    header = _MAGIC + db_id.encode() + b"\n"
    if not data.startswith(header):
        if len(data) < len(header) and header.startswith(data):
            out.segments.append(path)  # created, nothing written yet (or its header cut short): no frame in it
            return
        out.orphaned.append(path)
        out.problems.append(_orphaned(path, data, db_id))
        return
    out.segments.append(path)
    pos, prev, size, bad = len(header), 0, len(data), False
    while pos < size:
        end = _frame_end(data, pos)
        if end is None:
            end, readable, problem = _after_bad_frame(data, pos, prev, path)
            if problem is None:
                # A frame cut short: the process died while writing it, so its writer never returned (a failed
                # write cuts its frame off and moves to a new segment); no whole frame follows it.
                _log.warning(
                    "aether_nb: the last %d bytes of %s are a history batch cut short, ignored", size - pos, path
                )
                break
            bad = True
            out.problems.append(problem)
            if not readable:
                pos = end
                continue
        seq = _HEAD.unpack_from(data, pos)[2]
        try:
            out.records.append(LogRecord(seq, data[pos + _HEAD.size : end].decode("utf-8"), path))
        except UnicodeDecodeError as exc:
            bad = True
            out.problems.append(f"history batch {seq} in {path} cannot be read: {exc}")
        prev, pos = seq, end
    if bad:
        out.unreadable.append(path)


def _orphaned(path: Path, data: bytes, db_id: str) -> str:
    """What to say of a segment whose header names another database.

    Why it names the likely cause: besides a database deleted and created again beside an old folder, a copy of a
    store a process held, made of the file and its folder without DuckDB's ``<file>.wal``, opens as a new, empty
    database (the tables' changes since DuckDB's last checkpoint are in that WAL), and its log is then "another
    database's"; said this way only, it read as if the copy held someone else's log."""
    line = data[len(_MAGIC) : data.find(b"\n")] if data.startswith(_MAGIC) and b"\n" in data else b""
    theirs = f" ({line.decode('utf-8', 'replace')!r}; this file is {db_id!r})" if line else ""
    return (
        f"{path} is not a history log segment of this database (its header names another one{theirs}): it is "
        "never applied here, and a writable open renames it .orphaned. Either the database file was deleted and "
        "created again beside this log, or it is a copy made without its .wal (DuckDB's write-ahead log, which "
        "holds what the tables gained since DuckDB's last checkpoint: copy <file>, <file>.wal and "
        "<file>.history-log together, or close the store first)"
    )


def _frame_end(data: bytes, pos: int, after_seq: int | None = None) -> int | None:
    """Where the frame at ``pos`` ends, when a whole frame whose checksum holds starts there (and, with
    ``after_seq``, its seq is above it: seqs grow along a segment); else None."""
    if pos + _HEAD.size > len(data):
        return None
    length, crc, seq = _HEAD.unpack_from(data, pos)
    end = pos + _HEAD.size + length
    if end > len(data) or (after_seq is not None and seq <= after_seq):
        return None
    return end if zlib.crc32(data[pos + _HEAD.size : end], zlib.crc32(struct.pack("<q", seq))) == crc else None


def _next_frame(data: bytes, start: int, after_seq: int) -> int:
    """Where the first whole frame at or after ``start`` begins (its checksum holds, its seq is above
    ``after_seq``), or the end of ``data``.

    Why this finds one fast: the text of a frame is JSON (control characters escaped, UTF-8), which holds no zero
    byte, while a frame's header ends with the high byte of its seq, zero below 2**56: only the positions 15 bytes
    before a zero byte are tried, a few per frame, each at the cost of its checksum."""
    zero = data.find(b"\0", start + _HEAD.size - 1)
    while zero != -1:
        if _frame_end(data, zero - _HEAD.size + 1, after_seq) is not None:
            return zero - _HEAD.size + 1
        zero = data.find(b"\0", zero + 1)
    return len(data)


def _after_bad_frame(data: bytes, pos: int, prev: int, path: Path) -> tuple[int, bool, str | None]:
    """What the bytes at ``pos`` are, which are no whole frame whose checksum holds, and where reading goes on:
    ``(end, readable, problem)``, the problem None for a frame cut short (no whole frame follows it: a torn last
    write, which was never acknowledged); ``readable``: only the frame's length field is damaged, its batch reads
    whole up to the next frame (its checksum holds) and ends at ``end``.

    Why not take every frame that runs past the end for one cut short: a single flipped bit in the length of a
    frame early in a segment made it claim the rest of the file, and the acknowledged batches after it were dropped
    as "cut short" (their segment deleted once the rest was applied). A torn write is the last thing in its segment;
    damage is not, and is told apart by the whole frames after it."""
    size = len(data)
    if pos + _HEAD.size > size:
        return size, False, None
    length, crc, seq = _HEAD.unpack_from(data, pos)
    end = pos + _HEAD.size + length
    following = _next_frame(data, pos + 1, prev)
    if zlib.crc32(data[pos + _HEAD.size : following], zlib.crc32(struct.pack("<q", seq))) == crc:
        problem = (
            f"the length of history batch {seq} in {path} is damaged: the batch was read up to the next frame (its "
            "checksum holds) and applied; the segment is kept aside for a person to look at"
        )
        return following, True, problem
    if following == size and end > size:
        return size, False, None
    if following == end:  # its length leads to the next frame: its text (or its seq or checksum) was damaged
        return end, False, f"a history batch in {path} (seq {seq}) fails its checksum and cannot be applied"
    problem = (
        f"{following - pos} bytes of {path} from offset {pos} are no history batch that can be read (a frame whose "
        f"length or checksum is damaged, after seq {prev}): the batches in them cannot be applied"
        + (", the ones after them are" if following < size else "")
    )
    return following, False, problem


class LogFile:
    """The segment being appended to, and the closed ones not applied yet (for one database, by one process).

    Args:
        location: the database file; ``None`` for an in-memory database (nothing to keep: appends are no-ops).
        db_id: the database's id, written at the head of every segment.
        first_number: the number of the first segment to create (above every segment found at open).
    """

    def __init__(self, location: str | None, db_id: str, first_number: int = 1) -> None:
        self.folder = None if location is None else folder_of(location)
        self._header = _MAGIC + db_id.encode() + b"\n"
        self._next_number = first_number
        self._fd: int | None = None
        self._path: Path | None = None
        self._frames = 0  # frames in the open segment
        self.unsynced = False
        """Whether the open segment holds frames appended without sync and not synced since."""
        self.closed: list[Path] = []
        """Closed segments whose frames are not all known to be applied yet."""

    @classmethod
    def after(cls, location: str | None, db_id: str, recovered: Recovered) -> LogFile:
        """A log continuing after the segments ``recovered`` found (they stay closed, awaiting their apply)."""
        numbers = [
            n
            for p in (*recovered.segments, *recovered.unreadable, *recovered.orphaned)
            if (n := _segment_number(p)) is not None
        ]
        log = cls(location, db_id, max(numbers, default=0) + 1)
        log.closed = [p for p in recovered.segments if p not in recovered.unreadable]
        return log

    def append(self, seq: int, text: str | bytes, *, sync: bool = True) -> None:
        """Write one frame and, with ``sync``, sync it: durable when this returns. Raises OSError (nothing was
        acknowledged).

        Without ``sync`` the frame is in the operating system's hands when this returns: it survives the process
        being killed, not a power loss, until the next synced append or :meth:`sync` (a segment is synced when it
        closes, i.e. when an apply starts). The runtime writes its ``"async"`` background batches so: their sync
        cost a W1 step ~3 µs of its ~40 on DuckDB, more while the applier writes too (bench/README)."""
        if self.folder is None:
            return
        if self._fd is None:
            self._open()
        payload = text if isinstance(text, bytes) else text.encode("utf-8")  # (bytes: a batch's ASCII JSON)
        crc = zlib.crc32(payload, zlib.crc32(struct.pack("<q", seq)))
        frame = _HEAD.pack(len(payload), crc, seq) + payload
        fd = self._fd
        assert fd is not None
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            written = os.write(fd, frame)
            if written != len(frame):  # (disk full)
                raise OSError(f"short write to {self._path}: {written} of {len(frame)} bytes")
            if sync:
                _datasync(fd)  # (also syncs the frames appended before without sync: same file)
        except OSError:
            # Not acknowledged, so not to be applied after a crash either: cut the frame off (best effort; a cut
            # frame ends its segment when read) and go on in a new segment, after a whole frame.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            with contextlib.suppress(OSError):  # the frames before it that were appended without sync (best effort)
                self.sync()
            self._close_open(sync=False)
            raise
        self._frames += 1
        self.unsynced = not sync

    def _open(self) -> None:
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self._next_number:012d}{_SUFFIX}"
        self._next_number += 1  # (a failed attempt leaves its number behind: the next one never collides)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            os.write(fd, self._header)
            os.fsync(fd)
            _sync_dir(self.folder)  # the new file's name survives a power loss too
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):  # (it holds no frame; left behind, it would read as empty)
                path.unlink()
            raise
        self._fd, self._path, self._frames = fd, path, 0

    def rotate(self) -> list[Path]:
        """An apply starts: close the open segment (when it holds frames) and return every closed segment, all
        of whose frames the apply about to start covers."""
        if self._fd is not None and self._frames:
            self._close_open()
        return list(self.closed)

    def sync(self) -> None:
        """Make every frame appended so far durable (the closed segments were synced when they closed).
        Raises OSError."""
        if self._fd is not None and self.unsynced:
            _datasync(self._fd)
            self.unsynced = False

    def _close_open(self, *, sync: bool = True) -> None:
        """Close the open segment, synced first when it holds unsynced frames (``sync=False``: after a failed
        write, whose caller raises anyway). A closed segment is then durable whole."""
        assert self._fd is not None and self._path is not None
        if sync:
            self.sync()
        os.close(self._fd)
        self.closed.append(self._path)
        self._fd, self._path, self._frames = None, None, 0
        self.unsynced = False

    def discard(self, segments: list[Path]) -> None:
        """Their frames are applied (committed): delete them. A file that cannot be deleted is harmless (its
        frames are skipped at the next open) and is tried again after the next apply."""
        for path in segments:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                _log.warning("aether_nb: cannot delete the applied history log segment %s: %s", path, exc)
                continue
            if path in self.closed:
                self.closed.remove(path)

    def close(self, *, applied: bool) -> None:
        """Close the open segment; when everything is applied, delete every segment and the empty folder."""
        if self._fd is not None:
            try:
                self._close_open(sync=not applied)  # (applied: deleted below, nothing to keep)
            except OSError as exc:  # closing anyway: its frames are in the file, synced or not
                _log.warning("aether_nb: cannot sync the history log segment %s at close: %s", self._path, exc)
                self._close_open(sync=False)
        if applied and self.folder is not None:
            self.discard(list(self.closed))
            with contextlib.suppress(OSError):  # not empty (a segment kept aside) or gone: nothing to tidy
                self.folder.rmdir()

    def hold(self, segments: list[Path]) -> None:
        """Never delete these segments (they hold a batch that cannot be read): see :meth:`set_aside`."""
        self.closed = [p for p in self.closed if p not in segments]

    def set_aside(self, recovered: Recovered) -> None:
        """Rename the segments that cannot be applied (``.unreadable``, ``.orphaned``), keeping them for a person.
        Called once the readable batches of those segments are applied."""
        self.hold(recovered.unreadable)
        for paths, suffix in ((recovered.unreadable, ".unreadable"), (recovered.orphaned, ".orphaned")):
            for path in paths:
                try:
                    path.rename(path.with_name(path.name + suffix))
                except OSError as exc:
                    _log.warning("aether_nb: cannot rename the history log segment %s: %s", path, exc)


_datasync = getattr(os, "fdatasync", os.fsync)  # (macOS has no fdatasync)


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # (a platform without directory handles)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
