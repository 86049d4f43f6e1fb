"""Reading fetched Kafka records whose header names are not UTF-8, which aiokafka cannot read.

Kafka declares a header name a string, and aiokafka decodes it as UTF-8 while it reads a fetched batch:
one name that is not UTF-8 fails the whole fetch, and every fetch after it (see
:mod:`hypercare_runtime.consumer`). Java clients and aiokafka's producer cannot write such a name, but
a producer that takes raw bytes can (librdkafka, ``kcat -H``).

:class:`LenientMemoryRecords` reads the same bytes as aiokafka's ``MemoryRecords`` (the message set of
one partition in a fetch response), yielding batches that aiokafka's ``PartitionRecords`` iterates as
it iterates its own. A header name that is not UTF-8 is decoded with ``surrogateescape``: its bytes are
kept, and :func:`undecodable_header_names` finds them. It parses in Python, so it only reads what
aiokafka failed on.
"""

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.codec import gzip_decode, lz4_decode, snappy_decode, zstd_decode
from aiokafka.errors import CorruptRecordException, UnsupportedCodecError
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.record.util import calc_crc32c, decode_varint

_ENTRY = struct.Struct(">qi")
"""Before every batch of a message set: its first offset (the last one in the old formats) and length."""
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
"""The header of a batch in format v2 (magic 2), up to its records."""
_MAGIC_AT = 16
_MAGIC_V2 = 2
_CRC_FROM = 21
"""The CRC of a v2 batch covers its bytes from the attributes on."""

_CODEC_MASK = 0x07
_LOG_APPEND_TIME = 0x08
_TRANSACTIONAL = 0x10
_CONTROL = 0x20
_DECOMPRESS = {1: gzip_decode, 2: snappy_decode, 3: lz4_decode, 4: zstd_decode}


@dataclass(frozen=True, slots=True)
class LenientRecord:
    """One record of a v2 batch, as aiokafka's ``PartitionRecords`` reads records."""

    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    checksum: None = None


class LenientBatch:
    """A record batch in format v2, read like aiokafka's ``DefaultRecordBatch`` except for header names.

    Iterating it yields its records (it is its own iterator, as aiokafka's batches are: aiokafka reads
    the first record of a control batch with ``next``).
    """

    def __init__(self, buffer: memoryview) -> None:
        """``buffer``: the batch, from its first offset to its end."""
        (
            self.base_offset,
            _length,
            _leader_epoch,
            self.magic,
            self.crc,
            self.attributes,
            self.last_offset_delta,
            self.first_timestamp,
            self.max_timestamp,
            self.producer_id,
            self.producer_epoch,
            self.base_sequence,
            self._count,
        ) = _BATCH_HEADER.unpack_from(buffer)
        self._buffer = buffer
        self._records: bytes | None = None
        self._pos = 0
        self._read = 0

    @property
    def next_offset(self) -> int:
        """The offset after this batch's last (even if compaction removed that record)."""
        return int(self.base_offset + self.last_offset_delta + 1)

    @property
    def compression_type(self) -> int:
        """Kafka's codec number: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd."""
        return int(self.attributes & _CODEC_MASK)

    @property
    def timestamp_type(self) -> int:
        """0: the producer's create time; 1: the broker's log append time."""
        return 1 if self.attributes & _LOG_APPEND_TIME else 0

    @property
    def is_transactional(self) -> bool:
        """Whether a transactional producer wrote the batch."""
        return bool(self.attributes & _TRANSACTIONAL)

    @property
    def is_control_batch(self) -> bool:
        """Whether the batch holds a transaction marker rather than records."""
        return bool(self.attributes & _CONTROL)

    def validate_crc(self) -> bool:
        """Whether the batch's CRC-32C matches its bytes."""
        return bool(calc_crc32c(self._buffer[_CRC_FROM:].tobytes()) == self.crc)

    def __iter__(self) -> "LenientBatch":
        return self

    def __next__(self) -> LenientRecord:
        if self._records is None:
            self._records = self._decompressed()
        if self._read >= self._count:
            if self._pos != len(self._records):
                raise CorruptRecordException(f"{len(self._records) - self._pos} bytes after the last record")
            raise StopIteration
        try:
            record = self._read_record(self._records)
        except (ValueError, IndexError, struct.error) as exc:
            raise CorruptRecordException(f"invalid record structure: {exc!r}") from exc
        self._read += 1
        return record

    def _decompressed(self) -> bytes:
        body = self._buffer[_BATCH_HEADER.size :]
        codec = self.compression_type
        if codec == 0:
            return body.tobytes()
        decompress = _DECOMPRESS.get(codec)
        if decompress is None:
            raise UnsupportedCodecError(f"unknown compression codec {codec:#04x}")
        return bytes(decompress(body.tobytes()))

    def _read_record(self, buffer: bytes) -> LenientRecord:
        length, pos = decode_varint(buffer, self._pos)
        start = pos
        _attributes, pos = decode_varint(buffer, pos)
        timestamp_delta, pos = decode_varint(buffer, pos)
        offset_delta, pos = decode_varint(buffer, pos)
        key, pos = _nullable_bytes(buffer, pos)
        value, pos = _nullable_bytes(buffer, pos)
        count, pos = decode_varint(buffer, pos)
        if count < 0:
            raise CorruptRecordException(f"a negative number of headers: {count}")
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(count):
            name, pos = _nullable_bytes(buffer, pos)
            if name is None:
                raise CorruptRecordException("a header without a name")
            header_value, pos = _nullable_bytes(buffer, pos)
            headers.append((name.decode("utf-8", errors="surrogateescape"), header_value))
        if pos - start != length:
            raise CorruptRecordException(f"a record of {length} bytes read as {pos - start}")
        self._pos = pos
        timestamp = self.max_timestamp if self.timestamp_type == 1 else self.first_timestamp + timestamp_delta
        return LenientRecord(
            self.base_offset + offset_delta, timestamp, self.timestamp_type, key, value, headers
        )


def _nullable_bytes(buffer: bytes, pos: int) -> tuple[bytes | None, int]:
    length, pos = decode_varint(buffer, pos)
    if length < 0:
        return None, pos
    if pos + length > len(buffer):
        raise CorruptRecordException(f"{length} bytes past the end of the batch")
    return buffer[pos : pos + length], pos + length


class LenientMemoryRecords:
    """The batches of one partition's message set from a fetch response, from ``from_offset`` on.

    Has the interface of aiokafka's ``MemoryRecords`` (``has_next``, ``next_batch``). A batch whose
    records all lie before ``from_offset`` is left out, so that reading a message set again from the
    middle does not take aiokafka's position back (it moves it to the end of every batch it reads). A
    batch in an old format (magic 0 or 1, without headers) is aiokafka's own; an incomplete batch at the
    end, which a fetch response may hold, is left out as aiokafka leaves it out.
    """

    def __init__(self, data: bytes, *, from_offset: int) -> None:
        """``data``: the message set as the fetch response held it."""
        self._data = memoryview(data)
        self._pos = 0
        self._from = from_offset
        self._next: Any = None
        self._advance()

    def has_next(self) -> bool:
        """Whether another complete batch follows."""
        return self._next is not None

    def next_batch(self) -> Any:
        """The next batch (a :class:`LenientBatch` in format v2, else aiokafka's), or None."""
        batch = self._next
        self._advance()
        return batch

    def _advance(self) -> None:
        data = self._data
        self._next = None
        while len(data) - self._pos >= _ENTRY.size:
            offset, length = _ENTRY.unpack_from(data, self._pos)
            end = self._pos + _ENTRY.size + length
            if end > len(data):
                return
            entry, self._pos = data[self._pos : end], end
            if len(entry) <= _MAGIC_AT or (entry[_MAGIC_AT] >= _MAGIC_V2 and len(entry) < _BATCH_HEADER.size):
                raise CorruptRecordException(f"a batch of {len(entry)} bytes, shorter than its header")
            if entry[_MAGIC_AT] >= _MAGIC_V2:
                batch = LenientBatch(entry)
                if batch.next_offset > self._from:
                    self._next = batch
                    return
            elif offset >= self._from:  # an old-format entry's offset is its last record's
                self._next = MemoryRecords(entry.tobytes()).next_batch()
                return


def undecodable_header_names(headers: Sequence[tuple[str, bytes | None]]) -> list[bytes]:
    """The header names, as their bytes, that were not UTF-8 (read by :class:`LenientBatch`)."""
    found: list[bytes] = []
    for name, _ in headers:
        raw = name.encode("utf-8", errors="surrogateescape")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            found.append(raw)
    return found
