"""The one custom training loop every tfface method runs on.

``run_training`` takes a :class:`~tfface.training.method.TrainingMethod`, a
global-batch ``tf.data.Dataset`` and a strategy, and does the rest: builds the
method inside ``strategy.scope()``, distributes the dataset with
``experimental_distribute_dataset``, compiles the step with ``tf.function``,
restores and writes checkpoints, writes TensorBoard scalars (losses, learning
rates, steps/s) and image grids, logs a progress line, and stops with
:class:`NonFiniteLossError` when a loss becomes NaN or Inf.

On a resume the configuration wins over the checkpoint: the hyper-parameters
a method built its optimizers with are re-applied after the restore (see
:func:`configured_hyperparameters`), with one log line per value that changed.
"""

import dataclasses
import os
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Union

from absl import logging
import numpy as np
import tensorflow as tf

from tfface.training import checkpoints as checkpoints_lib
from tfface.training import method as method_lib
from tfface.training import progress as progress_lib
from tfface.training import seeding
from tfface.training import strategy as strategy_lib
from tfface.training import summaries as summaries_lib


class NonFiniteLossError(RuntimeError):
  """A loss became NaN or Inf; the message names the loss and the step."""


class ExistingRunError(RuntimeError):
  """``model_dir`` holds checkpoints and ``resume`` is False."""


@dataclasses.dataclass
class LoopConfig:
  """How long to train and how often to log, summarize and checkpoint.

  Attributes:
    max_steps: train until the global step reaches this.
    checkpoint_every: steps between checkpoints (one is always written at the end).
    keep_checkpoints: how many checkpoints to keep.
    summary_every: steps between scalar summaries.
    image_every: steps between image summaries (0 disables them).
    log_every: steps between progress lines.
    seed: run seed; seeds Python, NumPy, TensorFlow and ``step_seed``.
    checkpoint_iterator: also checkpoint the input iterator, so a resumed run
      sees exactly the batches the uninterrupted run would have seen.
  """
  max_steps: int = 1000
  checkpoint_every: int = 1000
  keep_checkpoints: int = 3
  summary_every: int = 100
  image_every: int = 1000
  log_every: int = 10
  seed: int = 0
  checkpoint_iterator: bool = True

  def __post_init__(self):
    """Checks every field before any graph is built (types and ranges)."""
    for name, minimum in _LOOP_MINIMUMS.items():
      check_int_setting(f"train.{name}", getattr(self, name), minimum)
    if not isinstance(self.checkpoint_iterator, bool):
      raise ValueError("train.checkpoint_iterator must be True or False, got "
                       f"{self.checkpoint_iterator!r}")


# Smallest allowed value of each LoopConfig field (0 disables summaries).
_LOOP_MINIMUMS = {"max_steps": 1, "checkpoint_every": 1, "keep_checkpoints": 1,
                  "summary_every": 0, "image_every": 0, "log_every": 1,
                  "seed": 0}


def check_int_setting(name: str, value, minimum: int) -> int:
  """``value`` if it is an int >= ``minimum``, else one clear ValueError.

  Args:
    name: how the user sets it (``train.max_steps``), named in the message.
    value: the given value; bools, floats and strings are rejected.
    minimum: the smallest allowed value.
  """
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError(f"{name} must be an integer >= {minimum}, got "
                     f"{value!r} ({type(value).__name__})")
  if value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
  return int(value)


def check_model_dir(model_dir) -> str:
  """``model_dir`` as a string, or one clear error if it cannot be a directory.

  Raises:
    ValueError: ``model_dir`` is empty or not a path.
    NotADirectoryError: ``model_dir`` (or the nearest part of it that exists)
      is a file.
  """
  if not isinstance(model_dir, (str, os.PathLike)) or not os.fspath(model_dir):
    raise ValueError(f"model_dir must be a directory path, got {model_dir!r}")
  path = os.fspath(model_dir)
  target = path.rstrip("/") or path
  # The path itself, then (local paths) its parents up to the first that exists.
  probes = [target]
  if "://" not in path:
    parent = os.path.dirname(os.path.abspath(target))
    while parent not in probes:
      probes.append(parent)
      parent = os.path.dirname(parent)
  try:
    for probe in probes:
      if not tf.io.gfile.exists(probe):
        continue
      if tf.io.gfile.isdir(probe):
        break
      if probe == target:
        raise NotADirectoryError(
            f"model_dir {path!r} is a file; expected a run directory (or a "
            "path where one can be created)")
      raise NotADirectoryError(
          f"model_dir {path!r} cannot be created: {probe!r} is a file")
  except tf.errors.OpError:
    pass  # a filesystem that cannot answer; writing will tell.
  return path


class Hyperparameter(NamedTuple):
  """A configured optimizer hyper-parameter the checkpoint also stores."""
  optimizer: str  # the checkpoint item's name, or the optimizer's own
  label: str  # as logged: "learning rate"
  variable: object  # the optimizer's variable
  value: np.ndarray  # the value the method built it with (the config's)


def _optimizers(items: Mapping[str, object]) -> Dict[str, object]:
  """Every Keras optimizer among ``items`` and the objects they track."""
  found: Dict[str, object] = {}
  seen = set()
  for name, item in items.items():
    if isinstance(item, tf.keras.optimizers.Optimizer):
      found[name] = item
      seen.add(id(item))
  root = tf.train.Checkpoint(**items)  # TrackableView keeps a weak reference
  for obj in tf.train.TrackableView(root).descendants():
    if isinstance(obj, tf.keras.optimizers.Optimizer) and id(obj) not in seen:
      seen.add(id(obj))
      name = getattr(obj, "name", None) or f"optimizer_{len(found)}"
      found[name if name not in found else f"{name}_{len(found)}"] = obj
  return found


def configured_hyperparameters(items: Mapping[str, object]
                               ) -> List[Hyperparameter]:
  """Snapshot of the optimizer hyper-parameters a checkpoint would overwrite.

  Call it after ``method.build()`` and before restoring. A Keras 3 optimizer
  keeps a constant learning rate in a variable, which ``tf.train.Checkpoint``
  saves and restores; everything else the method configured stays as built
  (a learning-rate schedule and its settings, ``beta_1``/``beta_2``,
  ``epsilon``, ``momentum``, weight decay are Python values, not checkpointed;
  the step count a schedule reads is ``iterations``, which is progress and is
  restored). So the learning-rate variables are what to put back after a
  restore for the configuration to win (:func:`reapply_hyperparameters`).
  """
  snapshot = []
  for name, optimizer in _optimizers(items).items():
    rate = getattr(optimizer, "_learning_rate", None)
    if isinstance(rate, tf.keras.optimizers.schedules.LearningRateSchedule):
      continue
    if hasattr(rate, "assign") and hasattr(rate, "numpy"):
      snapshot.append(Hyperparameter(name, "learning rate", rate,
                                     np.array(rate.numpy(), copy=True)))
  return snapshot


def check_learning_rate_kinds(path: str, items: Mapping[str, object]) -> None:
  """One clear error when an optimizer switches between a constant learning
  rate and a schedule across a resume.

  Keras 3 keys an optimizer's variables by position, with the constant
  learning rate among them, so such a checkpoint does not restore (the
  momenta would land in the wrong slots).

  Raises:
    ValueError: naming the optimizer, both kinds and the way out.
  """
  stored = {name for name, _ in tf.train.list_variables(path)}
  for name, item in items.items():
    if not isinstance(item, tf.keras.optimizers.Optimizer):
      continue
    if not any(key.startswith(f"{name}/") for key in stored):
      continue
    had_constant = f"{name}/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE" in stored
    has_constant = not isinstance(
        getattr(item, "_learning_rate", None),
        tf.keras.optimizers.schedules.LearningRateSchedule)
    if had_constant != has_constant:
      kinds = ("a constant learning rate", "a learning-rate schedule")
      raise ValueError(
          f"optimizer {name!r} is configured with {kinds[not has_constant]} "
          f"but checkpoint {path} was written with {kinds[not had_constant]}; "
          "Keras checkpoints cannot switch between the two on a resume: keep "
          "the kind (a schedule's settings may change) or start a new "
          "model_dir")


def reapply_hyperparameters(snapshot: List[Hyperparameter]) -> List[str]:
  """Puts the configured values back after a restore; logs each change.

  Returns:
    One line per value that differed, e.g. ``"optimizer 'g_optimizer':
    resumed with learning rate 0.001 (checkpoint had 0.002)"``.
  """
  changes = []
  for item in snapshot:
    restored = np.asarray(item.variable.numpy())
    if np.array_equal(restored, item.value):
      continue
    item.variable.assign(item.value)
    line = (f"optimizer {item.optimizer!r}: resumed with {item.label} "
            f"{_number(item.value)} (checkpoint had {_number(restored)})")
    logging.warning("%s", line)
    changes.append(line)
  return changes


def _number(value: np.ndarray) -> str:
  value = np.asarray(value)
  if value.size == 1:
    return f"{float(value.ravel()[0]):.6g}"
  return np.array2string(value, precision=6)


def _is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
  return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def _prepare_dataset(dataset: tf.data.Dataset,
                     strategy: tf.distribute.Strategy) -> tf.data.Dataset:
  if _is_multi_worker(strategy):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    dataset = dataset.with_options(options)
  return dataset


def _finite_check(losses: Dict[str, float], step: int,
                  last_checkpoint: Optional[str]) -> None:
  for name, value in sorted(losses.items()):
    if not np.all(np.isfinite(value)):
      where = (f"the last good checkpoint is {last_checkpoint}"
               if last_checkpoint else "no checkpoint was written yet")
      raise NonFiniteLossError(
          f"loss {name!r} became {float(np.asarray(value).ravel()[0])} at step "
          f"{step}; training stopped without saving, {where}")


def run_training(method: method_lib.TrainingMethod,
                 dataset: tf.data.Dataset,
                 model_dir: str,
                 config: LoopConfig,
                 strategy: Optional[tf.distribute.Strategy] = None,
                 resume: bool = True,
                 operative_config: Union[str, Callable[[], str], None] = None
                 ) -> Dict[str, float]:
  """Trains ``method`` on ``dataset`` until ``config.max_steps``.

  Args:
    method: the method to train (not yet built).
    dataset: yields global batches (already batched with the global batch
      size, ``drop_remainder=True``); it is split across replicas.
    model_dir: run directory: ``checkpoints/``, ``train/`` (TensorBoard) and
      ``operative_config.gin``.
    config: steps and frequencies.
    strategy: defaults to the current (default) strategy.
    resume: continue from the newest checkpoint in ``model_dir``; when False
      and checkpoints exist, raise instead of overwriting them.
    operative_config: gin's operative config text, saved with the run, or a
      callable returning it (called after the method is built).

  Returns:
    The losses of the last step, as floats.

  Raises:
    NonFiniteLossError: a loss became NaN/Inf (the last checkpoint is kept).
    ExistingRunError: checkpoints exist and ``resume`` is False.
    NotADirectoryError: ``model_dir`` is a file.
    CheckpointWriteError: a checkpoint could not be written (an ``OSError``,
      e.g. a full disk); its partial files were removed.
  """
  model_dir = check_model_dir(model_dir)
  strategy = strategy or tf.distribute.get_strategy()
  chief = strategy_lib.is_chief(strategy)
  seeding.set_global_seed(config.seed)
  batch_size = dataset.element_spec
  first = tf.nest.flatten(batch_size)[0]
  global_batch_size = first.shape[0]
  if global_batch_size is None:
    raise ValueError("the dataset's batch dimension must be static: batch it "
                     "with drop_remainder=True")
  if global_batch_size % strategy.num_replicas_in_sync:
    raise ValueError(f"global batch size {global_batch_size} is not divisible "
                     f"by the {strategy.num_replicas_in_sync} replicas")

  with strategy.scope():
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    method.global_step = step
    method.global_batch_size = int(global_batch_size)
    method.seed = int(config.seed)
    method.build()

  latest = checkpoints_lib.latest_checkpoint(model_dir)
  if latest and not resume:
    raise ExistingRunError(
        f"{model_dir} already holds checkpoints (newest {latest}); "
        "resume it or choose a new model_dir")
  start_step = checkpoints_lib.saved_step(latest) if (latest and resume) else 0

  # The input position survives a resume either by checkpointing the iterator
  # (possible where it is trackable, i.e. single-device runs) or, under
  # distribution strategies whose iterators are not trackable, by skipping the
  # batches the run already consumed (exact for deterministic datasets).
  dataset = _prepare_dataset(dataset, strategy)
  iterator = iter(strategy.experimental_distribute_dataset(dataset))
  saved_iterator = bool(latest and resume
                        and checkpoints_lib.has_iterator(latest))
  track_iterator = (config.checkpoint_iterator
                    and isinstance(iterator, tf.__internal__.tracking.Trackable))
  if start_step and not (track_iterator and saved_iterator):
    iterator = iter(strategy.experimental_distribute_dataset(
        dataset.skip(start_step)))
    track_iterator = False
  items = dict(method.checkpoint_items())
  if "step" in items or "iterator" in items:
    raise ValueError("checkpoint_items() must not use the names 'step' or "
                     "'iterator'; the runtime owns them")
  if track_iterator:
    items["iterator"] = iterator
  checkpoint = tf.train.Checkpoint(step=step, **items)
  missing = checkpoints_lib.untracked_weights(checkpoint, items)
  if missing:
    raise ValueError(
        f"{len(missing)} weights would not be checkpointed (first: "
        f"{missing[0]}); Keras 3 does not track layers held in Python lists "
        "or dicts for tf.train.Checkpoint: assign each layer to an attribute")
  keeper = checkpoints_lib.CheckpointKeeper(checkpoint, model_dir, strategy,
                                            keep=config.keep_checkpoints)
  # The configured hyper-parameters, before a restore overwrites them.
  configured = configured_hyperparameters(items)
  if latest and resume:
    check_learning_rate_kinds(latest, items)
  restored = keeper.restore_latest() if (latest and resume) else None
  if restored:
    logging.info("resumed from %s at step %d", restored, int(step.numpy()))
    with strategy.scope():
      reapply_hyperparameters(configured)

  writer = summaries_lib.SummaryWriter(
      os.path.join(model_dir, "train") if chief else None)
  if callable(operative_config):
    # Read after build(): bindings used only while building (an optimizer
    # factory's learning-rate schedule) are in gin's operative config only
    # once called, and a restore needs them.
    operative_config = operative_config()
  if chief and operative_config:
    tf.io.gfile.makedirs(model_dir)
    path = os.path.join(model_dir, "operative_config.gin")
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
      f.write(operative_config)
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
    writer.text(int(step.numpy()), "operative_config",
                "\n".join("    " + line for line in operative_config.splitlines()))

  @tf.function
  def train_fn(iterator):
    batch = next(iterator)
    losses = strategy.run(method.train_step, args=(batch,))
    reduced = {
        name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
        for name, value in losses.items()
    }
    method.after_step()
    step.assign_add(1)
    return reduced

  current = int(step.numpy())
  progress = progress_lib.Progress(current, config.max_steps, config.log_every)
  last_checkpoint = restored
  values: Dict[str, float] = {}
  while current < config.max_steps:
    losses = train_fn(iterator)
    values = {name: float(value.numpy()) for name, value in losses.items()}
    current = int(step.numpy())
    _finite_check(values, current, last_checkpoint)
    progress.update(current, values)
    final = current >= config.max_steps
    if config.summary_every and (current % config.summary_every == 0 or final):
      scalars = {f"loss/{k}": v for k, v in values.items()}
      for name, rate in method.learning_rates().items():
        scalars[f"learning_rate/{name}"] = float(np.asarray(rate))
      if progress.steps_per_sec:
        scalars["steps_per_sec"] = progress.steps_per_sec
      writer.scalars(current, scalars)
    if config.image_every and (current % config.image_every == 0 or final):
      images = method.image_summaries()
      if images:
        writer.images(current, images)
    if current % config.checkpoint_every == 0 or final:
      try:
        last_checkpoint = keeper.save(current)
      except tf.errors.FailedPreconditionError as e:
        if "iterator" not in items:
          raise
        # Iterators over stateful input (py_function, unseeded ops) cannot be
        # serialized; fall back to resuming by skipping consumed batches.
        logging.warning("cannot checkpoint the input iterator (%s); resumes "
                        "will skip consumed batches instead",
                        str(e).splitlines()[0][:200])
        del items["iterator"]
        keeper = checkpoints_lib.CheckpointKeeper(
            tf.train.Checkpoint(step=step, **items), model_dir, strategy,
            keep=config.keep_checkpoints)
        last_checkpoint = keeper.save(current)
  writer.flush()
  return values
