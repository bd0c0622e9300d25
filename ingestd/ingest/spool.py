"""An append-only spool on disk: segment files of checksummed records.

Each record is `length (u32) | crc32 (u32) | payload`, appended to the newest segment.
A torn write at a crash shows as a short or mismatching last record: it is cut off at
open, never replayed as garbage. Appends are buffered in memory and made durable by
one background write that writes and fsyncs everything buffered so far (group commit:
every request waiting on the same write shares one fsync).

A record's position is one integer, `segment << 40 | end offset`, so positions order
the records across segments and fit a PostgreSQL bigint.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import uuid
import zlib
from pathlib import Path

log = logging.getLogger("ingestd.spool")

HEADER = struct.Struct("<II")
OFFSET_BITS = 40
OFFSET_MASK = (1 << OFFSET_BITS) - 1
SEGMENT_SUFFIX = ".seg"
READ_CHUNK = 1 << 20


class SpoolFull(Exception):
    """The spool has reached its size limit, or the disk is full."""


class SpoolLocked(Exception):
    """Another process uses this spool."""


def position(segment: int, offset: int) -> int:
    return segment << OFFSET_BITS | offset


def split_position(pos: int) -> tuple[int, int]:
    return pos >> OFFSET_BITS, pos & OFFSET_MASK


def _segment_name(number: int) -> str:
    return f"{number:012d}{SEGMENT_SUFFIX}"


def _scan(path: Path) -> tuple[list[tuple[int, bytes]], int]:
    """(end offset, payload) of every intact record, and the offset where intact data ends."""
    records = _records(path.read_bytes())
    return records, records[-1][0] if records else 0


def _records(data: bytes) -> list[tuple[int, bytes]]:
    """(end offset, payload) of the intact records at the start of data."""
    records = []
    offset = 0
    while offset + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, offset)
        end = offset + HEADER.size + length
        if end > len(data):
            break
        payload = data[offset + HEADER.size : end]
        if zlib.crc32(payload) != crc:
            break
        records.append((end, payload))
        offset = end
    return records


class Spool:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = 64 << 20) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._durable: dict[int, int] = {}  # segment number -> durable bytes
        self._current = 0
        self._offset = 0  # end of what is appended (durable or not) in the current segment
        self._pending: list[tuple[int, bytes]] = []  # (segment, record) awaiting a write
        self._pending_bytes = 0
        self._pending_done: asyncio.Future[None] | None = None
        self._writing = False
        self._lock_fd: int | None = None
        self.torn_records = 0
        #: Names this spool in the checkpoints table; kept in the directory.
        self.id = ""

    @property
    def size_bytes(self) -> int:
        return sum(self._durable.values()) + self._pending_bytes

    @property
    def writing(self) -> bool:
        """Records are appended that are not durable yet."""
        return self._writing or bool(self._pending)

    @property
    def durable_end(self) -> int:
        """The position after the last durable record."""
        if not self._durable:
            return 0
        last = max(self._durable)
        return position(last, self._durable[last])

    def open(self) -> None:
        """Lock the directory, find the segments, and cut a torn tail off the last one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise SpoolLocked(
                f"another ingestd uses the spool in {self.directory}: give each replica its own "
                "INGESTD_DATA_DIR"
            ) from None
        id_file = self.directory / "id"
        if not id_file.exists():
            id_file.write_text(f"spool-{uuid.uuid4()}\n")
            _fsync_dir(self.directory)
        self.id = id_file.read_text().strip()
        for path in sorted(self.directory.glob(f"*{SEGMENT_SUFFIX}")):
            _, intact = _scan(path)
            size = path.stat().st_size
            if intact < size:
                self.torn_records += 1
                log.warning(
                    "spool segment %s: %d bytes after offset %d are torn or corrupt; cut off",
                    path.name,
                    size - intact,
                    intact,
                )
                with path.open("r+b") as handle:
                    handle.truncate(intact)
            self._durable[int(path.stem)] = intact
        self._current = max(self._durable, default=0)
        self._offset = self._durable.get(self._current, 0)

    def append(self, payload: bytes, *, force: bool = False) -> tuple[int, asyncio.Future[None]]:
        """Queue one record for the next group write. Returns its position and a future
        that resolves once it is durable (or fails with SpoolFull). `force` skips the size
        limit, for tiny internal records."""
        size = HEADER.size + len(payload)
        if not force and self.size_bytes + size > self.max_bytes:
            raise SpoolFull(
                f"the spool holds {self.size_bytes} bytes; its limit is {self.max_bytes}"
            )
        if self._offset > 0 and self._offset + size > self.segment_bytes:
            self._current += 1
            self._offset = 0
        self._offset += size
        self._pending.append(
            (self._current, HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        )
        self._pending_bytes += size
        if self._pending_done is None:
            self._pending_done = asyncio.get_running_loop().create_future()
        done = self._pending_done
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._write_loop(), name="spool-writer")
        return position(self._current, self._offset), done

    async def _write_loop(self) -> None:
        """Write and fsync what is pending, again and again until nothing is."""
        try:
            while self._pending:
                records, done = self._pending, self._pending_done
                self._pending, self._pending_done, self._pending_bytes = [], None, 0
                assert done is not None
                chunks: dict[int, list[bytes]] = {}
                for segment, record in records:
                    chunks.setdefault(segment, []).append(record)
                data = {segment: b"".join(parts) for segment, parts in chunks.items()}
                try:
                    await asyncio.to_thread(_write_segments, self.directory, data, self._durable)
                except OSError as exc:
                    self._fail(done, exc)
                    continue
                for segment, blob in data.items():
                    self._durable[segment] = self._durable.get(segment, 0) + len(blob)
                done.set_result(None)
        finally:
            self._writing = False

    def _fail(self, done: asyncio.Future[None], exc: OSError) -> None:
        """A write failed (disk full): its records and every later one are not kept."""
        error = SpoolFull(f"cannot write the spool: {exc}")
        done.set_exception(error)
        if self._pending_done is not None:
            self._pending_done.set_exception(error)
        for future in (done, self._pending_done):
            if future is not None:
                future.exception()  # retrieved: nobody may be waiting on a failed batch
        self._pending, self._pending_done, self._pending_bytes = [], None, 0
        self._current = max(self._durable, default=0)
        self._offset = self._durable.get(self._current, 0)
        log.error("spool write failed, %s", exc)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def read_after(self, after: int, limit: int | None = None) -> list[tuple[int, bytes]]:
        """Up to `limit` (position, payload) of the durable records after position `after`,
        in order. Positions carry offsets, so this seeks straight to the next record."""
        found: list[tuple[int, bytes]] = []
        first_segment, first_offset = split_position(after)
        for number, durable in sorted(self._durable.items()):
            if number < first_segment:
                continue
            start = first_offset if number == first_segment else 0
            with (self.directory / _segment_name(number)).open("rb") as handle:
                handle.seek(start)
                pending = b""
                # Read a chunk at a time: a reader that wants a few records must not
                # read (and checksum) the rest of a 64 MB segment to get them.
                while start < durable:
                    chunk = handle.read(min(READ_CHUNK, durable - start - len(pending)))
                    if not chunk:
                        break
                    pending += chunk
                    records = _records(pending)
                    for end, payload in records:
                        found.append((position(number, start + end), payload))
                        if limit is not None and len(found) >= limit:
                            return found
                    used = records[-1][0] if records else 0
                    start += used
                    pending = pending[used:]
        return found

    def release(self, upto: int) -> int:
        """Records up to `upto` are committed: delete the segments wholly before it. When that
        is everything, start a new (empty) segment so the old one can go too; the empty file
        keeps the numbering going across restarts, so positions only ever grow."""
        if upto >= self.durable_end and not self.writing and self._offset > 0:
            self._current += 1
            self._offset = 0
            (self.directory / _segment_name(self._current)).touch(0o600)
            _fsync_dir(self.directory)
            self._durable[self._current] = 0
            upto = position(self._current, 0)
        segment, _ = split_position(upto)
        freed = 0
        for number in sorted(self._durable):
            if number >= segment or number >= self._current:
                break
            freed += self._durable.pop(number)
            (self.directory / _segment_name(number)).unlink(missing_ok=True)
        return freed


def _write_segments(directory: Path, data: dict[int, bytes], durable: dict[int, int]) -> None:
    for segment, blob in sorted(data.items()):
        path = directory / _segment_name(segment)
        created = segment not in durable
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            start = durable.get(segment, 0)
            try:
                _write_all(fd, blob, start)
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, start)  # leave no half record behind
                raise
        finally:
            os.close(fd)
        if created:
            _fsync_dir(directory)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _fsync_dir(directory: Path) -> None:
    """A new segment's directory entry must survive a crash too."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
