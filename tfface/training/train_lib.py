"""``train``: the gin-configurable entry point behind ``tools/train.py``.

A gin file names the method and the dataset and overrides hyper-parameters::

    train.method = @ConfigNetMethod
    train.dataset_fn = @synthetic_face_dataset
    train.global_batch_size = 16
    train.max_steps = 2000

``dataset_fn(global_batch_size)`` must return a ``tf.data.Dataset`` of global
batches (``drop_remainder=True``).
"""

from typing import Callable, Dict, Optional

import gin
import tensorflow as tf

from tfface.training import loop
from tfface.training import method as method_lib
from tfface.training import strategy as strategy_lib


@gin.configurable(denylist=["model_dir", "strategy", "num_cpu_replicas",
                            "resume"])
def train(model_dir: str,
          method: Callable[[], method_lib.TrainingMethod] = gin.REQUIRED,
          dataset_fn: Callable[[int], tf.data.Dataset] = gin.REQUIRED,
          global_batch_size: int = 16,
          max_steps: int = 1000,
          checkpoint_every: int = 1000,
          keep_checkpoints: int = 3,
          summary_every: int = 100,
          image_every: int = 1000,
          log_every: int = 10,
          seed: int = 0,
          strategy: str = "default",
          num_cpu_replicas: int = 1,
          resume: bool = True,
          max_steps_override: Optional[int] = None) -> Dict[str, float]:
  """Builds the strategy, the method and the data, then runs the loop.

  Args:
    model_dir: run directory (checkpoints, TensorBoard logs, operative config).
    method: a zero-argument callable (a gin-configured class) making the
      :class:`~tfface.training.method.TrainingMethod`.
    dataset_fn: ``global_batch_size -> tf.data.Dataset`` of global batches.
    global_batch_size: examples per step over all replicas.
    max_steps, checkpoint_every, keep_checkpoints, summary_every, image_every,
      log_every, seed: see :class:`~tfface.training.loop.LoopConfig`.
    strategy: ``default``, ``mirrored``, ``multi_worker`` or ``tpu``.
    num_cpu_replicas: logical CPU replicas for ``mirrored`` without GPUs.
    resume: continue from the newest checkpoint in ``model_dir``.
    max_steps_override: a command-line ``--max_steps`` (wins over gin).

  Returns:
    The losses of the last step.

  Raises:
    ValueError: a setting has the wrong type or range (before anything is
      built), or the method or data reject their settings.
    NotADirectoryError: ``model_dir`` is a file.
    NonFiniteLossError, ExistingRunError, CheckpointWriteError: see
      :func:`~tfface.training.loop.run_training`.
  """
  # Every setting is checked before anything is built (one clear line each).
  model_dir = loop.check_model_dir(model_dir)
  loop.check_int_setting("train.global_batch_size", global_batch_size, 1)
  loop.check_int_setting("--num_cpu_replicas", num_cpu_replicas, 1)
  if max_steps_override is not None:
    loop.check_int_setting("--max_steps", max_steps_override, 1)
  config = loop.LoopConfig(
      max_steps=(max_steps if max_steps_override is None
                 else max_steps_override),
      checkpoint_every=checkpoint_every,
      keep_checkpoints=keep_checkpoints,
      summary_every=summary_every,
      image_every=image_every,
      log_every=log_every,
      seed=seed)
  # The strategy first: logical CPU devices must exist before any op runs.
  dist = strategy_lib.make_strategy(strategy, num_cpu_replicas)
  dataset = dataset_fn(global_batch_size)
  return loop.run_training(method(), dataset, model_dir, config,
                           strategy=dist, resume=resume,
                           operative_config=gin.operative_config_str)
