"""resolve_checkpoint and restore_run: one way to find and rebuild a run."""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from tests.training import subprocess_utils as su
from tests.training import toy_method
from tfface import config as config_lib
from tfface import training
from tfface.training import checkpoints
from tfface.training import restore
from tfface.training import train_lib


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
  """A toy run trained through ``train`` (6 steps, checkpoints at 3 and 6)."""
  model_dir = str(tmp_path_factory.mktemp("run"))
  gin.clear_config()
  config_lib.parse_config([su.TOY_GIN], finalize=False)
  train_lib.train(model_dir)
  gin.clear_config()
  return model_dir


def _checkpointed(path, name):
  return tf.train.load_variable(path, f"{name}/.ATTRIBUTES/VARIABLE_VALUE")


def test_resolve_checkpoint_takes_prefix_checkpoints_dir_or_run_dir(toy_run):
  newest = os.path.join(toy_run, "checkpoints", "ckpt-6")
  assert checkpoints.resolve_checkpoint(toy_run) == newest
  assert checkpoints.resolve_checkpoint(
      os.path.join(toy_run, "checkpoints")) == newest
  older = os.path.join(toy_run, "checkpoints", "ckpt-3")
  assert checkpoints.resolve_checkpoint(older) == older
  assert training.resolve_checkpoint is checkpoints.resolve_checkpoint


@pytest.mark.parametrize("where", ["missing", "empty", "missing/ckpt-1", ""])
def test_resolve_checkpoint_errors_name_the_path(tmp_path, where):
  (tmp_path / "empty").mkdir()
  path = str(tmp_path / where) if where else ""
  with pytest.raises(ValueError, match="no checkpoint in") as error:
    checkpoints.resolve_checkpoint(path)
  assert repr(path) in str(error.value)
  assert "a checkpoints/ directory or a run directory" in str(error.value)
  # Also a FileNotFoundError, which the export and generate tools catch.
  assert isinstance(error.value, FileNotFoundError)
  assert len(str(error.value).splitlines()) == 1


def test_restore_run_rebuilds_the_method_with_the_newest_weights(toy_run):
  method = training.restore_run(toy_run)
  assert isinstance(method, toy_method.ToyRegression)
  assert int(method.global_step.numpy()) == 6
  newest = checkpoints.resolve_checkpoint(toy_run)
  np.testing.assert_array_equal(method.model.dense.kernel.numpy(),
                                _checkpointed(newest, "model/dense/_kernel"))
  np.testing.assert_array_equal(method.ema_model.dense.bias.numpy(),
                                _checkpointed(newest, "ema_model/dense/bias"))
  assert int(method.optimizer.iterations.numpy()) == 6
  assert method.learning_rate == pytest.approx(0.05)  # from the run's config


def test_restore_run_applies_gin_params_after_the_runs_config(toy_run):
  method = restore.restore_run(
      toy_run, ["ToyRegression.learning_rate = 0.5"])
  assert method.learning_rate == pytest.approx(0.5)
  assert int(method.global_step.numpy()) == 6


def test_restore_run_errors(tmp_path):
  with pytest.raises(config_lib.ConfigError, match="no operative_config.gin"):
    restore.restore_run(str(tmp_path))
  # A config but no checkpoint: the one message the export tool prints.
  with open(su.TOY_GIN) as f:
    (tmp_path / "operative_config.gin").write_text(f.read())
  with pytest.raises(checkpoints.CheckpointNotFoundError,
                     match="no checkpoint in"):
    restore.restore_run(str(tmp_path))
  gin.clear_config()
  # A config that binds no train.method (and a checkpoint to restore).
  other = tmp_path / "other"
  method = toy_method.ToyRegression()
  method.build()
  tf.train.Checkpoint(model=method.model).save(
      str(other / "checkpoints" / "ckpt"))
  (other / "operative_config.gin").write_text(
      "import tests.training.toy_method\n"
      "ToyRegression.learning_rate = 0.1\n")
  with pytest.raises(config_lib.ConfigError, match="train.method"):
    restore.restore_run(str(other))
