"""shards.scan_shard: the framing walk that names a damaged TFRecord file."""

import struct

import pytest
import tensorflow as tf

from tfface.data import shards


def _write(path, records):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in records:
      writer.write(record)
  return str(path)


def test_crc32c_matches_the_standard_check_value_and_tfrecord_headers(
    tmp_path):
  assert shards.crc32c(b"123456789") == 0xE3069283
  path = _write(tmp_path / "a.tfrecord", [b"x" * 37])
  data = open(path, "rb").read()
  assert struct.unpack("<I", data[8:12])[0] == shards.masked_crc32c(data[:8])


def test_intact_file_counts_records_and_keeps_the_first(tmp_path):
  path = _write(tmp_path / "a.tfrecord", [b"first", b"", b"third" * 100])
  scan = shards.scan_shard(path)
  assert scan == shards.ShardScan(path, 3, scan.size, None, b"first")
  empty = _write(tmp_path / "empty.tfrecord", [])
  assert shards.scan_shard(empty) == shards.ShardScan(empty, 0, 0, None, None)


def test_truncated_file_names_record_byte_and_size(tmp_path):
  path = _write(tmp_path / "a.tfrecord", [b"r" * 50] * 3)
  data = open(path, "rb").read()
  record = 12 + 50 + 4
  for cut, index in ((2 * record + 30, 2), (2 * record + 5, 2),
                     (len(data) - 1, 2), (30, 0)):
    short = tmp_path / f"cut{cut}.tfrecord"
    short.write_bytes(data[:cut])
    scan = shards.scan_shard(str(short))
    assert scan.num_records == index
    assert scan.damage.startswith(f"{short} is a truncated TFRecord file: "
                                  f"record #{index} at byte {index * record}")
    assert "expected a complete file" in scan.damage


def test_foreign_and_damaged_files(tmp_path):
  png = tmp_path / "face.png"
  png.write_bytes(tf.io.encode_png(tf.zeros([4, 4, 3], tf.uint8)).numpy())
  scan = shards.scan_shard(str(png))
  assert scan.num_records == 0 and scan.first_record is None
  assert scan.damage.startswith(f"{png} is not a TFRecord file")
  tiny = tmp_path / "tiny.tfrecord"
  tiny.write_bytes(b"abc")
  assert shards.scan_shard(str(tiny)).damage.startswith(
      f"{tiny} is not a TFRecord file")
  path = _write(tmp_path / "a.tfrecord", [b"r" * 50] * 3)
  data = bytearray(open(path, "rb").read())
  data[66 + 3] ^= 0xFF  # the length of record #1
  bad = tmp_path / "bad.tfrecord"
  bad.write_bytes(bytes(data))
  scan = shards.scan_shard(str(bad))
  assert scan.num_records == 1
  assert scan.damage.startswith(
      f"{bad} is a damaged TFRecord file: the header of record #1 at byte 66 "
      "fails its TFRecord checksum")
  with pytest.raises(ValueError, match="is a directory"):
    shards.scan_shard(str(tmp_path))
