"""Rebuilding a finished (or running) training run from its directory.

A run directory written by ``tools/train.py`` holds ``operative_config.gin``
(every binding the run used) and ``checkpoints/``. :func:`restore_run` parses
the one, builds the method it binds to ``train.method`` and restores the newest
of the other: what export, sampling and evaluation tools start from.
"""

import os
from typing import Sequence

import gin
import tensorflow as tf

from tfface import config as config_lib
from tfface.training import checkpoints
from tfface.training import method as method_lib

OPERATIVE_CONFIG = "operative_config.gin"


def operative_config_path(model_dir: str) -> str:
  """Where a run keeps the gin config it ran with."""
  return os.path.join(model_dir, OPERATIVE_CONFIG)


def build_method_from_config() -> method_lib.TrainingMethod:
  """Constructs the method that the parsed gin config binds to ``train.method``.

  Raises:
    ConfigError: the config does not bind ``train.method``.
  """
  try:
    reference = gin.query_parameter("train.method")
  except ValueError as e:
    raise config_lib.ConfigError(
        "the gin config does not bind train.method; expected e.g. "
        "'train.method = @StyleGAN2Method'") from e
  return reference.scoped_configurable_fn()


def restore_run(model_dir: str,
                gin_params: Sequence[str] = ()) -> method_lib.TrainingMethod:
  """The run's method, built and holding its newest checkpoint's weights.

  Parses ``<model_dir>/operative_config.gin`` and then ``gin_params`` into the
  current gin config (not finalized, not cleared first), builds the method
  ``train.method`` names outside any distribution strategy (global batch size
  1, seed 0) and restores the newest checkpoint of ``<model_dir>/checkpoints``
  (without the data iterator, which is not needed here).

  Args:
    model_dir: a run directory written by ``tools/train.py``.
    gin_params: extra bindings applied after the run's config, e.g.
      ``["StyleGAN2Method.fused_modconv = False"]``.

  Returns:
    The built, restored method (``method.global_step`` holds the saved step).

  Raises:
    ConfigError: the run has no ``operative_config.gin``, or it or a binding
      does not parse, or it binds no ``train.method``.
    CheckpointNotFoundError: the run has no checkpoint (a ``ValueError`` and
      a ``FileNotFoundError``).
  """
  model_dir = os.fspath(model_dir)
  operative = operative_config_path(model_dir)
  if not tf.io.gfile.exists(operative):
    raise config_lib.ConfigError(
        f"{model_dir!r} is not a training run: it has no {OPERATIVE_CONFIG}; "
        "expected a run directory written by tools/train.py")
  config_lib.parse_config([operative], gin_params, finalize=False)
  path = checkpoints.resolve_checkpoint(model_dir)
  method = build_method_from_config()
  method.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
  method.global_batch_size = 1
  method.seed = 0
  method.build()
  checkpoint = tf.train.Checkpoint(step=method.global_step,
                                   **method.checkpoint_items())
  checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
  return method
