"""What every face-analysis trainer shares: one network, one optimizer, EMA-free
supervised steps, augmentation, and writing the frozen network's weights file.

A trainer subclasses :class:`AnalysisMethod` and provides
:meth:`make_network` (the :mod:`tfface.analysis` network and its constructor
config) and :meth:`compute_losses`; the base class builds the optimizer
(Adam, or any ``optimizer=@tf.keras.optimizers.X`` from gin), applies the
gradients of ``losses["total"]`` and writes the weights file
(:func:`write_weights_from_run`) that the other methods load with
:func:`tfface.analysis.weights.load_network`.
"""

from typing import Any, Dict, Mapping, Optional, Tuple

import tensorflow as tf

from tfface import training
from tfface.analysis import augment
from tfface.analysis import weights as weights_lib
from tfface.training import optimizers
from tfface.training import restore
from tfface.training import seeding


class AnalysisMethod(training.TrainingMethod):
  """Supervised training of one analysis network.

  Args:
    learning_rate: Adam's learning rate (ignored when ``optimizer`` is set).
    optimizer: a gin-configured Keras optimizer class, or None for Adam.
    augment_photometric: strength of :func:`tfface.analysis.augment.photometric`
      (0 = off).
    cosine_decay_steps: > 0: the default Adam's rate follows a cosine decay
      from ``learning_rate`` to ``cosine_decay_alpha · learning_rate`` over
      this many steps (then stays there); 0: constant. Ignored when
      ``optimizer`` is set (bind a schedule on it in gin instead).
    cosine_decay_alpha: the decay's final fraction, in [0, 1].
    augment_geometric: move images and the labels named in
      :attr:`geometric_labels` by :func:`tfface.analysis.augment.similarity`.
    max_rotation_degrees, max_scale, max_shift: its ranges.
  """

  name = "analysis"
  # Batch keys that move with the image: "landmarks" (pixels), "parse".
  geometric_labels: Tuple[str, ...] = ()

  def __init__(self, learning_rate: float = 1e-3,
               optimizer: Optional[Any] = None,
               augment_photometric: float = 1.0,
               cosine_decay_steps: int = 0, cosine_decay_alpha: float = 0.02,
               augment_geometric: bool = False,
               max_rotation_degrees: float = 10.0, max_scale: float = 0.1,
               max_shift: float = 0.06):
    what = type(self).__name__
    if not learning_rate > 0:
      raise ValueError(f"{what} learning_rate must be > 0, got "
                       f"{learning_rate!r}")
    if augment_photometric < 0:
      raise ValueError(f"{what} augment_photometric must be >= 0, got "
                       f"{augment_photometric!r}")
    if int(cosine_decay_steps) < 0 or not 0.0 <= cosine_decay_alpha <= 1.0:
      raise ValueError(
          f"{what} cosine_decay_steps must be >= 0 and cosine_decay_alpha in "
          f"[0, 1], got {cosine_decay_steps!r} and {cosine_decay_alpha!r}")
    self.learning_rate = learning_rate
    self.optimizer_factory = optimizer
    self.augment_photometric = augment_photometric
    self.cosine_decay_steps = int(cosine_decay_steps)
    self.cosine_decay_alpha = float(cosine_decay_alpha)
    self.augment_geometric = bool(augment_geometric)
    self.geometry = {"max_rotation_degrees": float(max_rotation_degrees),
                     "max_scale": float(max_scale),
                     "max_shift": float(max_shift)}

  # --- what a trainer provides -------------------------------------------

  def make_network(self) -> Tuple[tf.keras.Model, Dict[str, Any]]:
    """(network of a registered kind, its JSON constructor config)."""
    raise NotImplementedError

  def compute_losses(self, batch: Mapping[str, Any], images: tf.Tensor,
                     training: bool) -> Dict[str, tf.Tensor]:
    """Scalar losses and metrics; ``"total"`` is minimized.

    Args:
      batch: the (augmented) batch (see
        :func:`tfface.methods.analysis.data.analysis_dataset`).
      images: ``batch["image"]`` after photometric augmentation.
      training: True in a train step.
    """
    raise NotImplementedError

  def augment_geometry(self, batch: Mapping[str, Any], seed: tf.Tensor
                       ) -> Dict[str, Any]:
    """The random similarity on the image and :attr:`geometric_labels`."""
    batch = dict(batch)
    if self.augment_geometric and self.geometric_labels:
      moves_landmarks = "landmarks" in self.geometric_labels
      moves_parse = "parse" in self.geometric_labels
      image, landmarks, parse = augment.similarity(
          batch["image"], seed,
          landmarks=batch["landmarks"] if moves_landmarks else None,
          classes=batch["parse"] if moves_parse else None, **self.geometry)
      batch["image"] = image
      if moves_landmarks:
        batch["landmarks"] = landmarks
      if moves_parse:
        batch["parse"] = parse
    return batch

  def weights_metadata(self) -> Dict[str, Any]:
    """Facts stored with the weights file (input conventions, outputs)."""
    return {}

  # --- the runtime contract -----------------------------------------------

  def learning_rate_schedule(self):
    """The default Adam's rate: constant or the configured cosine decay."""
    if self.cosine_decay_steps > 0 and self.optimizer_factory is None:
      return tf.keras.optimizers.schedules.CosineDecay(
          float(self.learning_rate), self.cosine_decay_steps,
          alpha=self.cosine_decay_alpha)
    return self.learning_rate

  def build(self):
    self.network, self.network_config = self.make_network()
    size = int(self.network.input_size)
    self.network(tf.zeros([1, size, size, 3]), training=False)
    self.optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="optimizer",
        learning_rate=self.learning_rate_schedule(),
        variables=self.network.trainable_variables)

  def checkpoint_items(self):
    return {"network": self.network, "optimizer": self.optimizer}

  def prepare(self, batch, salt: int = 0):
    """Augmented ``(batch, images)`` for this step."""
    seed = seeding.step_seed(self.seed, self.global_step, salt)
    batch = self.augment_geometry(batch, seed)
    images = batch["image"]
    if self.augment_photometric > 0:
      images = augment.photometric(images, seed + [0, 101],
                                   strength=self.augment_photometric)
    return batch, images

  def train_step(self, batch):
    batch, images = self.prepare(batch)
    with tf.GradientTape() as tape:
      losses = self.compute_losses(batch, images, training=True)
    training.minimize(tape, self.optimizer, losses["total"],
                      self.network.trainable_variables)
    return losses


def write_weights_from_run(model_dir: str, path: str,
                           metadata: Optional[Mapping[str, Any]] = None,
                           gin_params=()) -> Dict[str, Any]:
  """Writes the frozen network of a training run as a weights file.

  Args:
    model_dir: a run of an :class:`AnalysisMethod` (``tools/train.py``).
    path: the ``.npz`` to write (atomically).
    metadata: extra facts (e.g. measured accuracy) merged into the trainer's
      own :meth:`AnalysisMethod.weights_metadata`.
    gin_params: gin overrides for rebuilding the method.

  Returns:
    The metadata written, with ``"kind"`` and ``"step"``.

  Raises:
    ValueError: the run is not an analysis trainer's.
  """
  method = restore.restore_run(model_dir, gin_params)
  if not isinstance(method, AnalysisMethod):
    raise ValueError(f"{model_dir} trains {type(method).__name__}, not a "
                     "face-analysis network")
  meta = dict(method.weights_metadata())
  meta.update(metadata or {})
  meta["step"] = int(method.global_step.numpy())
  weights_lib.save_network(path, method.network, method.network_config, meta)
  meta["kind"] = method.network.network_kind
  return meta
