"""ConfigNet's input pipelines (gin ``dataset_fn``s for ``train``).

:func:`confignet_dataset` zips labeled synthetic faces with unlabeled real (or
pseudo-real) faces: every element is
``{"synthetic": {image, factors, iris_mask, landmarks}, "real": {image}}``
with ``global_batch_size // 2`` faces in each half (the reference's 12 + 12
of a batch of 24).
"""

import inspect
from typing import Mapping, Optional, Tuple, Union

import gin
import numpy as np
import tensorflow as tf

from tfface.data import datasets
from tfface.data import schema
from tfface.data import sources
from tfface.methods.confignet import factors as factors_lib

# What a model's factor table can be given as: a table, a mapping
# name -> (θ dim, z dim), or a preset name of factors.make_factor_table.
TableLike = Union[factors_lib.FactorTable, Mapping[str, Tuple[int, int]], str]
_TABLE_ARGS = ("factor_preset", "factors", "z_dims")


def as_factor_table(table: TableLike) -> factors_lib.FactorTable:
  """A :class:`FactorTable` from a table, a mapping or a preset name."""
  if isinstance(table, factors_lib.FactorTable):
    return table
  if isinstance(table, str):
    return factors_lib.make_factor_table(table)
  return factors_lib.make_factor_table(factors=table)


def configured_factor_table() -> Optional[factors_lib.FactorTable]:
  """The table gin gives the ConfigNet stage bound to ``train.method``.

  The same arguments (``factor_preset``, ``factors``, ``z_dims``, bound on
  the stage or the stages it extends, else their defaults) that the stage's
  constructor turns into its table. None when gin binds no ConfigNet stage
  to ``train.method`` (e.g. the dataset is built from Python).
  """
  try:
    method = gin.query_parameter("train.method")
  except ValueError:
    return None
  cls = getattr(getattr(method, "configurable", None), "wrapped", None)
  from tfface.methods.confignet import trainer  # pylint: disable=g-import-not-at-top
  stage1 = trainer.ConfigNetStage1
  if not (isinstance(cls, type) and issubclass(cls, stage1)):
    return None
  parameters = inspect.signature(stage1.__init__).parameters
  kwargs = {name: parameters[name].default for name in _TABLE_ARGS}
  for klass in reversed(cls.__mro__):  # the most derived binding wins
    if not (isinstance(klass, type) and issubclass(klass, stage1)):
      continue
    try:
      bindings = gin.get_bindings(klass)
    except (ValueError, KeyError):
      continue
    kwargs.update((k, v) for k, v in bindings.items() if k in _TABLE_ARGS)
  return factors_lib.make_factor_table(kwargs["factor_preset"],
                                       kwargs["factors"], kwargs["z_dims"])


def check_factor_table(table: TableLike, factor_sizes: Mapping[str, int],
                       source: str) -> None:
  """One ValueError when a dataset's factors do not fit a model's table.

  The model reads θ_i of every factor of its table, with the table's size,
  and the 3 ``pose`` values (its rotation input); other factors of the data
  are ignored.

  Args:
    table: the model's table (see :data:`TableLike`).
    factor_sizes: name -> n of the dataset (``dataset.factor_sizes``).
    source: the dataset, as the message names it (a file or pattern).

  Raises:
    ValueError: naming both tables and each factor that differs.
  """
  table = as_factor_table(table)
  needed = {f.name: f.theta_dim for f in table.factors}
  needed[factors_lib.POSE_FACTOR] = 3
  problems = []
  for name, size in needed.items():
    if name not in factor_sizes:
      problems.append(f"no {name}")
    elif int(factor_sizes[name]) != size:
      problems.append(f"{name} has {factor_sizes[name]} values, the model "
                      f"{size}")
  if problems:
    raise ValueError(
        f"the synthetic faces {source} were written for another factor "
        f"table than the model's ({'; '.join(problems)}): the data holds "
        f"{schema.format_sizes(factor_sizes)}, the model reads "
        f"{schema.format_sizes(needed)}; render the data for the model's "
        "table (tools/make_synthetic.py) or configure the model's table "
        "(ConfigNetStage1.factor_preset / factors) for the data.")


@gin.configurable
def confignet_dataset(global_batch_size: int,
                      synthetic_pattern: str = gin.REQUIRED,
                      real_source: str = gin.REQUIRED,
                      image_size: int = 256,
                      real_kind: str = "pseudo_real",
                      seed: int = 0,
                      skip_corrupt: bool = False,
                      factor_table: Optional[TableLike] = None
                      ) -> tf.data.Dataset:
  """Synthetic + real batches for ConfigNet stage 1 and stage 2.

  Args:
    global_batch_size: faces per step over all replicas and both domains
      (even); each domain gets half.
    synthetic_pattern: glob of labeled synthetic TFRecord shards.
    real_source: pattern (``pseudo_real``/``tfrecord``) or directory
      (``folder``) of real faces.
    image_size: training resolution.
    real_kind: a kind of :func:`tfface.data.image_source`: ``"pseudo_real"``,
      ``"folder"``, ``"tfrecord"`` (or ``"synthetic"``, its images only).
    seed: shuffle seed.
    skip_corrupt: skip and count damaged TFRecord records instead of
      raising (see :mod:`tfface.data.datasets`).
    factor_table: the model's factor table, checked against the shards'
      factors here, before any step is traced; None: the table gin
      configures for ``train.method`` (:func:`configured_factor_table`), or
      no check when gin binds no ConfigNet stage.

  Returns:
    Dataset of ``{"synthetic": {...}, "real": {"image"}}``, each half batched
    with ``global_batch_size // 2``.

  Raises:
    ValueError: an odd batch size, bad data (see the readers), or shards
      written for another factor table than the model's.
  """
  if global_batch_size < 2 or global_batch_size % 2:
    raise ValueError("ConfigNet's global_batch_size must be even (half "
                     f"synthetic, half real), got {global_batch_size}")
  half = global_batch_size // 2
  synthetic = datasets.synthetic_dataset(synthetic_pattern, image_size,
                                         batch_size=half, seed=seed,
                                         skip_corrupt=skip_corrupt)
  table = (factor_table if factor_table is not None else
           configured_factor_table())
  if table is not None:
    check_factor_table(table, synthetic.factor_sizes,
                       f"{synthetic_pattern!r} (e.g. "
                       f"{synthetic.source_files[0]})")
  real = sources.image_source(real_kind, real_source, image_size, half,
                              seed=seed + 1, skip_corrupt=skip_corrupt)
  return tf.data.Dataset.zip({"synthetic": synthetic, "real": real}).prefetch(
      tf.data.AUTOTUNE)


def embed_images(real_encoder, images: tf.data.Dataset,
                 max_batches: int) -> np.ndarray:
  """E_R embeddings of up to ``max_batches`` batches: `[N, Z]` float32."""
  out = []
  for i, batch in enumerate(images):
    if i >= max_batches:
      break
    z, _ = real_encoder(batch["image"], training=False)
    out.append(z.numpy())
  if not out:
    raise ValueError("no real images to embed")
  return np.concatenate(out, 0)


@gin.configurable
def configured_zoom() -> Optional[float]:
  """Camera zoom of the synthetic faces gin's ``confignet_dataset`` reads.

  From the ``synthetic_info.json`` beside ``synthetic_pattern`` (written by
  ``tools/make_synthetic.py``); None when the pattern is not bound or the
  dataset records no zoom.
  """
  from tfface import config as config_lib  # pylint: disable=g-import-not-at-top
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  pattern = config_lib.query_value("confignet_dataset.synthetic_pattern")
  if not isinstance(pattern, str):
    return None
  info = synthetic.read_info(pattern) or {}
  return float(info["zoom"]) if "zoom" in info else None


def embedding_dataset(global_batch_size: int,
                      embeddings_path: str = gin.REQUIRED,
                      seed: int = 0) -> tf.data.Dataset:
  """Batches ``{"z": [B, Z]}`` of E_R embeddings saved as a ``.npy`` file.

  The file is written by :func:`tfface.methods.confignet.export.save_embeddings`
  (or the demo) from a stage-2 run.
  """
  try:
    z = np.load(embeddings_path).astype(np.float32)
  except OSError as e:
    raise ValueError(f"cannot read embeddings {embeddings_path!r}: expected a "
                     ".npy file of [N, Z] E_R embeddings") from e
  if z.ndim != 2 or z.shape[0] < global_batch_size:
    raise ValueError(f"embeddings {embeddings_path!r} have shape {z.shape}; "
                     f"expected [N >= {global_batch_size}, Z]")
  return (tf.data.Dataset.from_tensor_slices({"z": z}).repeat()
          .shuffle(min(len(z), 10000), seed=seed)
          .batch(global_batch_size, drop_remainder=True))
