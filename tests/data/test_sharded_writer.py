"""Atomic shards: a failed shard leaves no final-named file and no temp file."""

import io
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from tfface.data import sharded_writer


def _read(path):
  return [r.numpy() for r in tf.data.TFRecordDataset(path)]


def test_shard_is_complete_and_no_temp_file_is_left(tmp_path):
  path = sharded_writer.shard_path(str(tmp_path), "faces", 2, 16)
  assert os.path.basename(path) == "faces-00002-of-00016.tfrecord"
  calls = []
  count = sharded_writer.write_records_atomically(
      path, (bytes([i]) * 5 for i in range(4)),
      on_record=lambda: calls.append(1))
  assert count == 4 and len(calls) == 4
  assert _read(path) == [bytes([i]) * 5 for i in range(4)]
  assert os.listdir(tmp_path) == [os.path.basename(path)]


def test_failure_mid_shard_leaves_nothing_under_the_final_name(tmp_path):
  path = str(tmp_path / "faces-00000-of-00001.tfrecord")

  def records():
    yield b"first"
    yield b"second"
    # Visible while the shard is being written: only a temporary name.
    assert not os.path.exists(path)
    assert any(".partial-" in n for n in os.listdir(tmp_path))
    raise RuntimeError("renderer crashed")

  with pytest.raises(RuntimeError, match="renderer crashed"):
    sharded_writer.write_records_atomically(path, records())
  assert os.listdir(tmp_path) == []


def test_failure_keeps_an_existing_complete_shard(tmp_path):
  path = str(tmp_path / "faces-00000-of-00001.tfrecord")
  sharded_writer.write_records_atomically(path, [b"old"])

  def records():
    yield b"new"
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    sharded_writer.write_records_atomically(path, records())
  assert _read(path) == [b"old"]
  assert os.listdir(tmp_path) == [os.path.basename(path)]


def test_leftovers_of_killed_runs_are_removed(tmp_path):
  # A process that has exited: its pid is free (not alive).
  proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True)
  dead = int(proc.stdout)
  stale = tmp_path / f"faces-00001-of-00004.tfrecord.partial-{dead}"
  stale.write_bytes(b"half")
  alive = tmp_path / f"faces-00002-of-00004.tfrecord.partial-{os.getppid()}"
  alive.write_bytes(b"someone else is writing")
  other = tmp_path / f"other-00001-of-00004.tfrecord.partial-{dead}"
  other.write_bytes(b"not ours")
  removed = sharded_writer.remove_stale_partials(str(tmp_path), "faces")
  assert removed == [str(stale)]
  assert sorted(os.listdir(tmp_path)) == sorted([alive.name, other.name])


def test_progress_bar_draws_counts_rate_and_eta():
  class Tty(io.StringIO):
    def isatty(self):
      return True
  stream = Tty()
  bar = sharded_writer.ProgressBar(4, unit="faces", stream=stream, width=8)
  for _ in range(4):
    bar.update()
  text = stream.getvalue()
  assert text.startswith("\r") and "[########] 4/4" in text
  assert "faces/s" in text and text.endswith("\n")
  half = sharded_writer.ProgressBar(4, stream=Tty(), width=8)
  half.update(2)
  assert half.line().startswith("[####....] 2/4")
  assert "ETA" in half.line()
