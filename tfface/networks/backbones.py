"""Image encoder backbones: images in [-1, 1] -> a feature vector.

* ``"resnet50"``: ``keras.applications.ResNet50`` (no top, global average
  pooling, 2048 features) with its "caffe" preprocessing, as ConfigNet's E_R
  and Deep3DFaceRecon's R-Net use it. Weights come from a local Keras weights
  file (``include_top=False``) or are random; they are never downloaded.
* ``"small"``: strided convolutions for CPU runs (not in any reference).
"""

from typing import Optional, Sequence

import tensorflow as tf

from tfface.layers import mlp
from tfface.layers.tracking import track

keras = tf.keras

# ImageNet mean of Keras' "caffe" preprocessing (VGG, ResNet-50), BGR, 0..255.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
BACKBONES = ("resnet50", "small")


def caffe_preprocess(images: tf.Tensor,
                     mean_bgr: Sequence[float] = CAFFE_MEAN_BGR) -> tf.Tensor:
  """Keras' "caffe" preprocessing of tfface images.

  Args:
    images: `[B, H, W, 3]` float32 RGB in [-1, 1].
    mean_bgr: per-channel mean to subtract, BGR order, 0..255 scale.

  Returns:
    `[B, H, W, 3]` float32 BGR, 0..255 minus the mean.
  """
  x = (images + 1.0) * 127.5
  return x[..., ::-1] - tf.constant(list(mean_bgr), tf.float32)


class SmallBackbone(keras.layers.Layer):
  """Conv(k3, stride 2) + LeakyReLU(0.2) blocks, then global average pooling.

  Args:
    widths: channels of each block.

  Call ``(images)``: `[B, H, W, 3]` in [-1, 1] -> `[B, widths[-1]]`.
  """

  def __init__(self, widths: Sequence[int] = (32, 64, 128, 256), **kwargs):
    super().__init__(**kwargs)
    self.convs = track(self, "conv", [
        keras.layers.Conv2D(int(c), 3, strides=2, padding="same",
                            name=f"conv_{i}") for i, c in enumerate(widths)])

  def call(self, images, training=None):
    x = mlp.leaky_stack(images, self.convs, 0.2)
    return tf.reduce_mean(x, axis=[1, 2])


class ResNet50Backbone(keras.layers.Layer):
  """Keras' ResNet-50 (no top, average pooling) behind caffe preprocessing.

  Args:
    resolution: input size (square).
    weights_path: a Keras ResNet-50 ``include_top=False`` weights file, or
      None for random weights.

  Call ``(images, training)``: `[B, R, R, 3]` in [-1, 1] -> `[B, 2048]`.
  """

  def __init__(self, resolution: int, weights_path: Optional[str] = None,
               **kwargs):
    super().__init__(**kwargs)
    self.resnet = keras.applications.ResNet50(
        include_top=False, weights=weights_path, pooling="avg",
        input_shape=(int(resolution), int(resolution), 3))

  def call(self, images, training=None):
    return self.resnet(caffe_preprocess(images), training=training)


def make_backbone(name: str, resolution: int,
                  weights_path: Optional[str] = None,
                  small_widths: Sequence[int] = (32, 64, 128, 256),
                  layer_name: str = "backbone") -> keras.layers.Layer:
  """The backbone called ``name`` (one of :data:`BACKBONES`).

  Raises:
    ValueError: an unknown name, or a weights file for ``"small"``.
  """
  if name == "resnet50":
    return ResNet50Backbone(resolution, weights_path, name=layer_name)
  if name == "small":
    if weights_path:
      raise ValueError("the 'small' backbone has no pretrained weights; "
                       "weights_path is only for backbone='resnet50'")
    return SmallBackbone(small_widths, name=layer_name)
  raise ValueError(f"unknown backbone {name!r}; expected one of {BACKBONES}")
