"""Training the 68-point landmark detector on labeled synthetic faces.

:class:`LandmarkMethod` trains :class:`tfface.analysis.landmarks.LandmarkNet`
on the ``landmarks`` label of
:func:`tfface.methods.analysis.data.analysis_dataset` with

* geometric augmentation: a random rotation, scale and shift of image and
  points together (:func:`tfface.analysis.augment.similarity`), and the base
  class's photometric augmentation;
* the loss ``coordinate_weight · L1 + heatmap_weight · KL``: the L1 distance
  of the soft-argmax points from the true ones divided by the image width
  (so it reads the same at 64 and 256 px), plus the KL divergence from a
  Gaussian target (std ``heatmap_sigma`` cells) to each heatmap's softmax,
  which gives every cell a gradient early on (the soft-argmax L1 alone only
  moves the mass it already has).

:func:`evaluate_landmarks` measures the inter-ocular NME (outer eye corners
36-45) per render style; :meth:`LandmarkMethod.export_signatures` serves
``landmarks(images) -> landmarks``.
"""

from typing import Any, Dict, Optional, Sequence

import gin
import numpy as np
import tensorflow as tf

from tfface.analysis import landmarks as landmarks_lib
from tfface.export import metadata as metadata_lib
from tfface.export import validation as v
from tfface.methods.analysis import base
# Imported for its gin configurable analysis_dataset (the gin files' data).
from tfface.methods.analysis import data  # noqa: F401

# NME above this counts as a failure (a common 300-W/WFLW threshold is 0.08
# or 0.10 of the inter-ocular distance).
FAILURE_THRESHOLD = 0.08
STYLES = ("synthetic", "pseudo_real")
IMAGES_MEANING = "RGB in [-1, 1], any size"


@gin.configurable
class LandmarkMethod(base.AnalysisMethod):
  """Supervised training of the 68-point :class:`LandmarkNet`.

  Args:
    input_size, widths, blocks_per_stage, stem_stride, heatmap_stride,
      head_width: the :class:`~tfface.analysis.landmarks.LandmarkNet`.
    coordinate_weight: weight of the soft-argmax L1 / image width.
    heatmap_weight: weight of the Gaussian-target KL (0 = off).
    heatmap_sigma: std of the Gaussian target, in heatmap cells.
    augment_geometric: apply :func:`augment.similarity`.
    max_rotation_degrees, max_scale, max_shift: its ranges.
    learning_rate, optimizer, augment_photometric: see
      :class:`~tfface.methods.analysis.base.AnalysisMethod`.
    cosine_decay_steps: > 0: Adam's learning rate follows a cosine decay
      from ``learning_rate`` to ``cosine_decay_alpha · learning_rate`` over
      this many steps (ignored when ``optimizer`` is set); 0: constant.
    cosine_decay_alpha: the decay's final fraction.
  """

  name = "landmarks"
  geometric_labels = ("landmarks",)

  def __init__(self, input_size: int = 64,
               widths: Sequence[int] = (32, 64, 128, 256),
               blocks_per_stage: int = 1, stem_stride: int = 2,
               heatmap_stride: int = 4, head_width: int = 64,
               coordinate_weight: float = 1.0, heatmap_weight: float = 0.1,
               heatmap_sigma: float = 1.0, augment_geometric: bool = True,
               max_rotation_degrees: float = 10.0, max_scale: float = 0.1,
               max_shift: float = 0.06, learning_rate: float = 1e-3,
               cosine_decay_steps: int = 0, cosine_decay_alpha: float = 0.02,
               optimizer: Optional[Any] = None,
               augment_photometric: float = 1.0):
    super().__init__(learning_rate=learning_rate, optimizer=optimizer,
                     augment_photometric=augment_photometric,
                     cosine_decay_steps=cosine_decay_steps,
                     cosine_decay_alpha=cosine_decay_alpha,
                     augment_geometric=augment_geometric,
                     max_rotation_degrees=max_rotation_degrees,
                     max_scale=max_scale, max_shift=max_shift)
    if coordinate_weight < 0 or heatmap_weight < 0 or (
        coordinate_weight + heatmap_weight <= 0):
      raise ValueError(
          "LandmarkMethod coordinate_weight and heatmap_weight must be >= 0 "
          f"and not both 0, got {coordinate_weight!r} and {heatmap_weight!r}")
    if not heatmap_sigma > 0:
      raise ValueError(f"LandmarkMethod heatmap_sigma must be > 0, got "
                       f"{heatmap_sigma!r}")
    self.network_config = {
        "input_size": int(input_size), "widths": [int(w) for w in widths],
        "blocks_per_stage": int(blocks_per_stage),
        "stem_stride": int(stem_stride), "heatmap_stride": int(heatmap_stride),
        "head_width": int(head_width),
        "num_landmarks": landmarks_lib.NUM_LANDMARKS}
    # Fail on a bad network setting now, not inside strategy.scope().
    landmarks_lib.LandmarkNet(**self.network_config)
    self.coordinate_weight = float(coordinate_weight)
    self.heatmap_weight = float(heatmap_weight)
    self.heatmap_sigma = float(heatmap_sigma)

  def make_network(self):
    return (landmarks_lib.LandmarkNet(**self.network_config),
            dict(self.network_config))

  def compute_losses(self, batch, images, training):
    true = tf.cast(batch["landmarks"], tf.float32)
    pred, logits = self.network(images, training=training,
                                return_heatmaps=True)
    width = float(images.shape[2])
    losses = {"coordinate_l1": tf.reduce_mean(tf.abs(pred - true)) / width}
    total = self.coordinate_weight * losses["coordinate_l1"]
    if self.heatmap_weight > 0:
      net = self.network
      cells = net.input_size // net.heatmap_stride
      # The true points in the network's frame (it resizes to input_size).
      in_frame = true * (float(net.input_size) / width)
      target = landmarks_lib.gaussian_heatmaps(
          in_frame, cells, float(net.heatmap_stride), self.heatmap_sigma)
      log_p = tf.nn.log_softmax(_flat_maps(logits), axis=-1)
      target = _flat_maps(target)
      kl = tf.reduce_sum(
          target * (tf.math.log(tf.maximum(target, 1e-12)) - log_p), -1)
      losses["heatmap_kl"] = tf.reduce_mean(kl)
      total += self.heatmap_weight * losses["heatmap_kl"]
    losses["nme"] = tf.reduce_mean(nme_tensor(pred, true))
    losses["total"] = total
    return losses

  def weights_metadata(self):
    return {
        "input": "images [B, H, W, 3] float32 RGB in [-1, 1], any size "
                 f"(resized to {self.network_config['input_size']} inside)",
        "output": "[B, 68, 2] float32 (x, y) continuous pixels of the input "
                  "image, iBUG-68 order, pixel (r, c) centred at "
                  "(c + 0.5, r + 0.5)",
        "nme_normalisation": "inter-ocular: outer eye corners 36 and 45 "
                             "(0-based)"}

  def export_signatures(self):
    module = LandmarkServing(self.network)
    return module, {"landmarks": module.landmarks}


def _flat_maps(maps: tf.Tensor) -> tf.Tensor:
  """`[B, h, w, N]` -> `[B, N, h · w]`."""
  shape = tf.shape(maps)
  return tf.reshape(tf.transpose(maps, [0, 3, 1, 2]),
                    [shape[0], shape[3], shape[1] * shape[2]])


def nme_tensor(pred: tf.Tensor, true: tf.Tensor) -> tf.Tensor:
  """`[B]` inter-ocular NME in TensorFlow (see
  :func:`tfface.analysis.landmarks.inter_ocular_nme`)."""
  a, b = landmarks_lib.OUTER_EYE_CORNERS
  errors = tf.reduce_mean(tf.norm(pred - true, axis=-1), -1)
  distance = tf.norm(true[:, a] - true[:, b], axis=-1)
  return errors / tf.maximum(distance, 1e-6)


class LandmarkServing(tf.Module):
  """Serves a :class:`LandmarkNet`: ``landmarks(images) -> landmarks``."""

  def __init__(self, network: landmarks_lib.LandmarkNet):
    super().__init__(name="landmarks")
    self.network = network
    inputs = self.signature_inputs()

    @v.validated_function("landmarks", inputs["landmarks"])
    def landmarks(images):
      return {"landmarks": self.network(images, training=False)}

    self.landmarks = landmarks

  def signature_inputs(self):
    return {"landmarks": (v.Input("images", (v.BATCH, "H", "W", 3),
                                  meaning=IMAGES_MEANING, finite=True),)}

  def export_metadata(self):
    return metadata_lib.build_metadata(
        "landmarks", self.network.input_size, "landmarks",
        self.signature_inputs(),
        {"landmarks": {"landmarks": "[B, 68, 2] float32 (x, y) continuous "
                                    "pixels of the input image (iBUG-68 "
                                    "order, pixel centres at +0.5)"}},
        extra={"network_input_size": self.network.input_size,
               "nme_normalisation": "outer eye corners 36 and 45"})


def evaluate_landmarks(network: tf.keras.Model, dataset: tf.data.Dataset,
                       num_batches: int,
                       failure_threshold: float = FAILURE_THRESHOLD
                       ) -> Dict[str, Any]:
  """Inter-ocular NME of a landmark network on labeled faces.

  Args:
    network: maps images `[B, H, W, 3]` in [-1, 1] to `[B, 68, 2]` pixels.
    dataset: batches of :func:`~tfface.methods.analysis.data.analysis_dataset`
      (``image``, ``landmarks``, ``pseudo_real``).
    num_batches: batches to read.
    failure_threshold: NME above this is a failure.

  Returns:
    ``{"all"|"synthetic"|"pseudo_real": {"nme_mean", "nme_median",
    "failure_rate", "count"}, "normalisation", "failure_threshold"}``
    (a style with no faces gets ``count`` 0 and NaN statistics).
  """
  if int(num_batches) < 1:
    raise ValueError(f"evaluate_landmarks num_batches must be >= 1, got "
                     f"{num_batches!r}")

  @tf.function
  def predict(images):
    return network(images, training=False)

  nmes, styles = [], []
  for batch in dataset.take(int(num_batches)):
    pred = predict(batch["image"]).numpy()
    nmes.append(landmarks_lib.inter_ocular_nme(pred,
                                               batch["landmarks"].numpy()))
    styles.append(np.asarray(batch["pseudo_real"]) > 0.5)
  if not nmes:
    raise ValueError("evaluate_landmarks: the dataset yielded no batches")
  nmes, styles = np.concatenate(nmes), np.concatenate(styles)

  def summary(values):
    if not values.size:
      return {"nme_mean": float("nan"), "nme_median": float("nan"),
              "failure_rate": float("nan"), "count": 0}
    return {"nme_mean": float(values.mean()),
            "nme_median": float(np.median(values)),
            "failure_rate": float((values > failure_threshold).mean()),
            "count": int(values.size)}

  return {"all": summary(nmes), STYLES[0]: summary(nmes[~styles]),
          STYLES[1]: summary(nmes[styles]),
          "normalisation": "inter-ocular (outer eye corners 36 and 45)",
          "failure_threshold": float(failure_threshold)}
