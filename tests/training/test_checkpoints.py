"""Checkpoint writes that fail (a full disk) leave nothing half-written."""

import errno
import os

import pytest
from tensorflow.python.checkpoint import checkpoint_management
from tensorflow.python.checkpoint import functional_saver

from tests.training import toy_method
from tfface import cli
from tfface import training
from tfface.training import checkpoints


def _train(model_dir, max_steps):
  method = toy_method.ToyRegression()
  config = training.LoopConfig(max_steps=max_steps, checkpoint_every=2,
                               log_every=1)
  return training.run_training(method, toy_method.toy_dataset(8),
                               str(model_dir), config)


def _full_disk_while_merging(monkeypatch, failing_prefix, seen):
  """The data files of ``failing_prefix`` are written to ``<prefix>_temp/``,
  then the merge into place fails as on a full disk."""
  real = functional_saver.gen_io_ops.merge_v2_checkpoints

  def merge(prefixes, destination, **kwargs):
    target = destination.numpy().decode()
    if target.endswith(failing_prefix):
      seen.append(sorted(os.listdir(target + "_temp")))
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
    return real(prefixes, destination, **kwargs)

  monkeypatch.setattr(functional_saver.gen_io_ops, "merge_v2_checkpoints",
                      merge)


def _full_disk_writing_state(monkeypatch, failing_prefix, seen):
  """ckpt-N's files are in place; writing the ``checkpoint`` state fails."""
  real = checkpoint_management.update_checkpoint_state_internal

  def update(save_dir, model_checkpoint_path, *args, **kwargs):
    if model_checkpoint_path.endswith(failing_prefix):
      seen.append(sorted(os.listdir(save_dir)))
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC),
                    os.path.join(save_dir, "checkpoint"))
    return real(save_dir, model_checkpoint_path, *args, **kwargs)

  monkeypatch.setattr(checkpoint_management,
                      "update_checkpoint_state_internal", update)


@pytest.mark.parametrize("failure", [_full_disk_while_merging,
                                     _full_disk_writing_state])
def test_full_disk_removes_the_partial_checkpoint(tmp_path, monkeypatch,
                                                  capsys, failure):
  seen = []
  failure(monkeypatch, "ckpt-4", seen)
  with pytest.raises(checkpoints.CheckpointWriteError) as error:
    _train(tmp_path, 6)
  assert seen and seen[0], "the failure happened with files on disk"
  assert error.value.errno == errno.ENOSPC
  assert isinstance(error.value, OSError)
  entries = sorted(os.listdir(tmp_path / "checkpoints"))
  assert not [e for e in entries if "_temp" in e], entries
  assert not [e for e in entries if e.startswith("ckpt-4")], entries
  latest = checkpoints.latest_checkpoint(str(tmp_path))
  assert latest.endswith("ckpt-2")
  assert checkpoints.saved_step(latest) == 2
  # The binaries turn it into one line naming the checkpoint and the reason.
  code = cli.guard(lambda: _train(tmp_path, 6))()
  assert code == 1
  err = capsys.readouterr().err
  lines = [l for l in err.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "Traceback" not in err, err
  assert lines[0].startswith("error: could not write checkpoint "), lines
  assert "ckpt-4: No space left on device" in lines[0]
  assert "ckpt-2 stays the latest checkpoint" in lines[0]
  # With the disk free again the run resumes from ckpt-2 and finishes.
  monkeypatch.undo()
  _train(tmp_path, 6)
  assert checkpoints.latest_checkpoint(str(tmp_path)).endswith("ckpt-6")


def test_temporaries_of_a_killed_save_are_removed_on_open(tmp_path):
  _train(tmp_path, 2)
  stale = tmp_path / "checkpoints" / "ckpt-4_temp"
  stale.mkdir()
  (stale / "part-00000-of-00001.index").write_bytes(b"partial")
  _train(tmp_path, 4)
  assert not stale.exists()
  assert checkpoints.latest_checkpoint(str(tmp_path)).endswith("ckpt-4")
