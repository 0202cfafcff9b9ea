"""Training the face parser on labeled synthetic faces.

:class:`ParserMethod` trains :class:`tfface.analysis.parser.FaceParser` on the
``parse`` label of :func:`tfface.methods.analysis.data.analysis_dataset`
(ids of :data:`tfface.data.schema.PARSE_CLASSES`) with

* geometric augmentation of image and class map together
  (:func:`tfface.analysis.augment.similarity`, nearest sampling of the map)
  and the base class's photometric augmentation;
* per-pixel softmax cross-entropy, optionally class-weighted: each pixel's
  loss is multiplied by its true class's weight and the sum divided by the
  sum of the weights. At 64 px the eyes, brows, lips and the mouth interior
  cover 0.05-0.7 % of the pixels each (background 61 %, skin 28 %, hair 8 %
  on the 64 px labeled set), and unweighted they are learned last.

:func:`evaluate_parser` measures per-class and mean IoU per render style;
:meth:`ParserMethod.export_signatures` serves ``parse(images) ->
probabilities, classes``.
"""

from typing import Any, Dict, Optional, Sequence

import gin
import numpy as np
import tensorflow as tf

from tfface.analysis import parser as parser_lib
from tfface.data import schema
from tfface.export import metadata as metadata_lib
from tfface.export import validation as v
from tfface.methods.analysis import base
# Imported for its gin configurable analysis_dataset (the gin files' data).
from tfface.methods.analysis import data  # noqa: F401

STYLES = ("synthetic", "pseudo_real")
IMAGES_MEANING = "RGB in [-1, 1], any size"


@gin.configurable
class ParserMethod(base.AnalysisMethod):
  """Supervised training of the :class:`FaceParser`.

  Args:
    input_size, widths, blocks_per_stage, stem_stride, decoder_width,
      full_resolution_width: the :class:`~tfface.analysis.parser.FaceParser`.
    class_weights: one loss weight per class of
      :data:`schema.PARSE_CLASSES`, or None for plain cross-entropy.
    augment_geometric: apply :func:`augment.similarity`.
    max_rotation_degrees, max_scale, max_shift: its ranges.
    learning_rate, optimizer, augment_photometric: see
      :class:`~tfface.methods.analysis.base.AnalysisMethod`.
    cosine_decay_steps: > 0: Adam's learning rate follows a cosine decay
      from ``learning_rate`` to ``cosine_decay_alpha · learning_rate`` over
      this many steps (ignored when ``optimizer`` is set); 0: constant.
    cosine_decay_alpha: the decay's final fraction.
  """

  name = "parser"
  geometric_labels = ("parse",)

  def __init__(self, input_size: int = 64,
               widths: Sequence[int] = (32, 64, 128, 256),
               blocks_per_stage: int = 1, stem_stride: int = 2,
               decoder_width: int = 32, full_resolution_width: int = 16,
               class_weights: Optional[Sequence[float]] = None,
               augment_geometric: bool = True,
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
    num_classes = len(schema.PARSE_CLASSES)
    if class_weights is not None:
      class_weights = [float(w) for w in class_weights]
      if len(class_weights) != num_classes or min(class_weights) < 0 or (
          max(class_weights) <= 0):
        raise ValueError(
            f"ParserMethod class_weights must be {num_classes} weights >= 0 "
            f"(one per {schema.PARSE_CLASSES}), got {class_weights!r}")
    self.class_weights = class_weights
    self.network_config = {
        "input_size": int(input_size), "widths": [int(w) for w in widths],
        "blocks_per_stage": int(blocks_per_stage),
        "stem_stride": int(stem_stride), "decoder_width": int(decoder_width),
        "full_resolution_width": int(full_resolution_width),
        "num_classes": num_classes}
    # Fail on a bad network setting now, not inside strategy.scope().
    parser_lib.FaceParser(**self.network_config)

  def make_network(self):
    return (parser_lib.FaceParser(**self.network_config),
            dict(self.network_config))

  def compute_losses(self, batch, images, training):
    labels = tf.cast(batch["parse"], tf.int32)
    logits = self.network(images, training=training)
    per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    losses = {"cross_entropy": tf.reduce_mean(per_pixel)}
    if self.class_weights is not None:
      weight = tf.gather(tf.constant(self.class_weights, tf.float32), labels)
      losses["weighted_cross_entropy"] = (
          tf.reduce_sum(weight * per_pixel) /
          tf.maximum(tf.reduce_sum(weight), 1e-6))
      losses["total"] = losses["weighted_cross_entropy"]
    else:
      losses["total"] = losses["cross_entropy"]
    predicted = tf.argmax(logits, -1, output_type=tf.int32)
    losses["pixel_accuracy"] = tf.reduce_mean(
        tf.cast(tf.equal(predicted, labels), tf.float32))
    return losses

  def weights_metadata(self):
    return {
        "input": "images [B, H, W, 3] float32 RGB in [-1, 1], any size "
                 f"(resized to {self.network_config['input_size']} inside)",
        "output": "logits [B, H, W, C] at the input size; softmax over C",
        "classes": list(schema.PARSE_CLASSES),
        "hair_channel": parser_lib.HAIR_CLASS}

  def export_signatures(self):
    module = ParserServing(self.network)
    return module, {"parse": module.parse}


class ParserServing(tf.Module):
  """Serves a :class:`FaceParser`: ``parse(images) -> probabilities,
  classes``."""

  def __init__(self, network: parser_lib.FaceParser):
    super().__init__(name="parser")
    self.network = network
    inputs = self.signature_inputs()

    @v.validated_function("parse", inputs["parse"])
    def parse(images):
      probabilities = self.network.probabilities(images, training=False)
      return {"probabilities": probabilities,
              "classes": tf.argmax(probabilities, -1, output_type=tf.int32)}

    self.parse = parse

  def signature_inputs(self):
    return {"parse": (v.Input("images", (v.BATCH, "H", "W", 3),
                              meaning=IMAGES_MEANING, finite=True),)}

  def export_metadata(self):
    c = self.network.num_classes
    return metadata_lib.build_metadata(
        "parser", self.network.input_size, "parse", self.signature_inputs(),
        {"parse": {"probabilities": f"[B, H, W, {c}] float32 softmax over "
                                    "the classes, in [0, 1]",
                   "classes": "[B, H, W] int32 argmax class ids"}},
        extra={"classes": list(schema.PARSE_CLASSES),
               "hair_channel": parser_lib.HAIR_CLASS,
               "network_input_size": self.network.input_size})


def evaluate_parser(network: tf.keras.Model, dataset: tf.data.Dataset,
                    num_batches: int) -> Dict[str, Any]:
  """Per-class and mean IoU of a parser on labeled faces, per render style.

  IoU is pooled over every pixel of every face read (not averaged per
  image); a class absent from both prediction and truth in a style is left
  out of that style's mean (its IoU is None).

  Args:
    network: maps images `[B, H, W, 3]` in [-1, 1] to logits `[B, H, W, C]`.
    dataset: batches of :func:`~tfface.methods.analysis.data.analysis_dataset`
      (``image``, ``parse``, ``pseudo_real``).
    num_batches: batches to read.

  Returns:
    ``{"all"|"synthetic"|"pseudo_real": {"per_class_iou": {class: IoU or
    None}, "mean_iou", "pixel_accuracy", "count"}, "classes"}``.
  """
  if int(num_batches) < 1:
    raise ValueError(f"evaluate_parser num_batches must be >= 1, got "
                     f"{num_batches!r}")
  classes = schema.PARSE_CLASSES
  c = len(classes)

  @tf.function
  def predict(images):
    return tf.argmax(network(images, training=False), -1,
                     output_type=tf.int32)

  counts = {name: [np.zeros(c, np.int64), np.zeros(c, np.int64), 0, 0, 0]
            for name in ("all",) + STYLES}
  for batch in dataset.take(int(num_batches)):
    pred = predict(batch["image"]).numpy()
    true = batch["parse"].numpy()
    style = np.asarray(batch["pseudo_real"]) > 0.5
    for name, pick in (("all", np.ones_like(style)), (STYLES[0], ~style),
                       (STYLES[1], style)):
      if not pick.any():
        continue
      inter, union = parser_lib.iou_counts(pred[pick], true[pick], c)
      entry = counts[name]
      entry[0] += inter
      entry[1] += union
      entry[2] += int((pred[pick] == true[pick]).sum())
      entry[3] += int(true[pick].size)
      entry[4] += int(pick.sum())

  if not counts["all"][4]:
    raise ValueError("evaluate_parser: the dataset yielded no batches")
  out = {"classes": list(classes)}
  for name, (inter, union, right, pixels, faces) in counts.items():
    per_class, mean = parser_lib.iou_from_counts(inter, union)
    out[name] = {
        "per_class_iou": {k: (None if np.isnan(x) else float(x))
                          for k, x in zip(classes, per_class)},
        "mean_iou": mean,
        "pixel_accuracy": right / pixels if pixels else float("nan"),
        "count": faces}
  return out
