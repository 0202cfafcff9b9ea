"""TFRecord files checked before a pipeline reads them.

tf.data reports a damaged TFRecord file only while it iterates, in an error
that names neither the file nor the record (``corrupted record at 244``) and,
inside a ``tf.function``, comes wrapped in a graph traceback. The readers of
:mod:`tfface.data.datasets` therefore first walk every file's record framing
here, in Python, before building anything: :func:`scan_shard` reads the
12-byte header of each record (length and its checksum) and seeks over the
payload, so a pass costs one small read per record, not a read of the data.
It finds what breaks most shards -- a file cut short (a killed writer, a
partial copy), a file that is not a TFRecord file at all, damaged framing --
and says which file, which record and at which byte, in one sentence.

What the walk cannot see without reading the payload, a record whose data no
longer matches its checksum, the readers catch while they run (see
``datasets``), again naming the file and the record.

TFRecord framing, per record::

    uint64 length | uint32 masked_crc32c(length) | data[length] | uint32 masked_crc32c(data)
"""

import struct
from typing import List, NamedTuple, Optional

import tensorflow as tf

_HEADER = 12  # uint64 length + uint32 masked CRC of the length
_FOOTER = 4  # uint32 masked CRC of the data
# Explains what a reader expected, after every damage message.
SKIP_HINT = ("rewrite the file, or pass skip_corrupt=True to skip damaged "
             "records and count them in read_stats")


def _crc_table() -> List[int]:
  table = []
  for i in range(256):
    crc = i
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    table.append(crc)
  return table


_CRC32C_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
  """CRC-32C (Castagnoli) of ``data``; pure Python, for short strings."""
  crc = 0xFFFFFFFF
  table = _CRC32C_TABLE
  for byte in data:
    crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
  """The masked CRC-32C TFRecord files store."""
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class ShardScan(NamedTuple):
  """What :func:`scan_shard` found in one file.

  Attributes:
    path: the file.
    num_records: complete records before the first damage (all of them when
      the file is intact).
    size: the file size in bytes.
    damage: None for an intact file; else one sentence saying what is wrong
      at record ``#num_records`` (it and everything after it are unreadable).
    first_record: the payload of record #0 (None when the file holds none).
  """
  path: str
  num_records: int
  size: int
  damage: Optional[str]
  first_record: Optional[bytes]


def _open(path: str):
  if "://" in path:
    return tf.io.gfile.GFile(path, "rb")
  return open(path, "rb")  # pylint: disable=consider-using-with


def _size(path: str) -> int:
  if "://" in path:
    return tf.io.gfile.stat(path).length
  import os  # pylint: disable=g-import-not-at-top
  return os.path.getsize(path)


def scan_shard(path: str) -> ShardScan:
  """Walks the record framing of one TFRecord file (uncompressed).

  Args:
    path: a local path or any `tf.io.gfile` URL.

  Returns:
    A :class:`ShardScan`. A file whose very first header is wrong is reported
    as not a TFRecord file.

  Raises:
    ValueError: ``path`` is a directory.
    OSError: the file cannot be opened.
  """
  if tf.io.gfile.isdir(path):
    raise ValueError(f"{path} is a directory; expected a TFRecord file.")
  size = _size(path)
  offset = 0
  index = 0
  first = None
  damage = None
  truncated = False
  with _open(path) as f:
    while offset < size:
      header = f.read(_HEADER)
      if len(header) < _HEADER:
        damage = (f"record #{index} at byte {offset} is cut off after "
                  f"{len(header)} of its 12 header bytes")
        truncated = index > 0
        break
      length_bytes = header[:8]
      (length,) = struct.unpack("<Q", length_bytes)
      (stored,) = struct.unpack("<I", header[8:])
      if masked_crc32c(length_bytes) != stored:
        damage = (f"the header of record #{index} at byte {offset} fails its "
                  "TFRecord checksum")
        break
      end = offset + _HEADER + length + _FOOTER
      if end > size:
        damage = (f"record #{index} at byte {offset} needs {length} data "
                  f"bytes but the file ends at byte {size}")
        truncated = True
        break
      if index == 0:
        first = f.read(length)
      f.seek(end)
      offset = end
      index += 1
  if damage is None:
    pass
  elif truncated:
    damage = (f"{path} is a truncated TFRecord file: {damage} (after "
              f"{index} complete records); expected a complete file")
  elif index == 0:
    damage = (f"{path} is not a TFRecord file ({damage}; the file has {size} "
              "bytes); expected TFRecord files of tf.train.Example records")
  else:
    damage = (f"{path} is a damaged TFRecord file: {damage} (after {index} "
              "good records); expected an intact file")
  return ShardScan(path, index, size, damage, first)
