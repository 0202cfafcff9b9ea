"""Exporting a trained run: rebuild its method from gin, restore, save signatures."""

import os
from typing import Sequence

import gin
import tensorflow as tf

from tfface import config as config_lib
from tfface.export import savedmodel


def build_method_from_config():
  """Constructs the method that the parsed gin config binds to ``train.method``."""
  try:
    reference = gin.query_parameter("train.method")
  except ValueError as e:
    raise config_lib.ConfigError(
        "the gin config does not bind train.method; expected e.g. "
        "'train.method = @StyleGAN2Method'") from e
  return reference.scoped_configurable_fn()


def restore_method(model_dir: str):
  """Builds the run's method and restores its newest checkpoint.

  Args:
    model_dir: a run directory written by ``tools/train.py`` (holds
      ``operative_config.gin`` and ``checkpoints/``); gin must already be parsed.

  Returns:
    The built method with the checkpoint's weights.
  """
  directory = os.path.join(model_dir, "checkpoints")
  path = tf.train.latest_checkpoint(directory)
  if path is None:
    raise FileNotFoundError(f"no checkpoint in {directory}; train first")
  method = build_method_from_config()
  method.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
  method.global_batch_size = 1
  method.seed = 0
  method.build()
  checkpoint = tf.train.Checkpoint(step=method.global_step,
                                   **method.checkpoint_items())
  # The data iterator was checkpointed too; it is not needed here.
  checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
  return method


def export_run(model_dir: str, base_dir: str,
               gin_params: Sequence[str] = ()) -> str:
  """Exports the newest checkpoint of a run as ``<base_dir>/<version>``.

  Reads the run's ``operative_config.gin`` (plus ``gin_params`` overrides),
  restores the method and saves its ``export_signatures()``.

  Returns:
    The written version directory.
  """
  operative = os.path.join(model_dir, "operative_config.gin")
  config_lib.parse_config([operative], gin_params, finalize=False)
  method = restore_method(model_dir)
  module, signatures = method.export_signatures()
  return savedmodel.export_module(module, base_dir, signatures)
