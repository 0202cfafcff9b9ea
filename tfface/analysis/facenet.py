"""FaceNet identity embeddings (facenet-pytorch's InceptionResnetV1).

The identity network of DiscoFaceGAN's imitative loss (L_id) and of identity
metrics. Users have timesler/facenet-pytorch's released weights ('vggface2':
Sandberg's 20180402-114759, 'casia-webface': 20180408-102900), which
``tools/convert_weights.py`` turns into a tfface weights file
(:func:`tfface.analysis.convert_facenet.convert_facenet`); load it with
:func:`tfface.analysis.weights.load_network`.

Note: DiscoFaceGAN itself used David Sandberg's TF1 FaceNet 20170512-110547
(MS-Celeb-1M, a **128-d** embedding, same 160 px input and standardisation;
``microsoft/DiscoFaceGAN`` ``training/pretrained_weights/id_net``).
facenet-pytorch does not ship that model; its 512-d models have the same
architecture but were trained anew (VGGFace2 / CASIA-WebFace), so their
embeddings (and the cosine scale DiscoFaceGAN's 0.3 margin
in L_id was tuned on) differ. The converter reads the embedding size off
``last_linear.weight``, so a 128-d model exported in facenet-pytorch's layout
(e.g. with its ``tensorflow2pytorch`` script) converts as
``embedding_size=128``; that path is not tested against the TF1 checkpoint.

Preprocessing (facenet-pytorch's MTCNN crops, then
``fixed_image_standardization``): 160×160 RGB, ``(pixel_0_255 - 127.5) /
128``. From tfface's `[-1, 1]` images that is ``x · 127.5 / 128``.
"""

import tensorflow as tf

from tfface.analysis import weights
from tfface.networks import base
from tfface.networks import inception_resnet_v1

INPUT_SIZE = 160


def standardize(images: tf.Tensor) -> tf.Tensor:
  """tfface images -> facenet-pytorch's ``fixed_image_standardization``.

  Args:
    images: `[B, H, W, 3]` float32 RGB in [-1, 1].

  Returns:
    `[B, H, W, 3]` float32, ``((x + 1) · 127.5 - 127.5) / 128 = x · 127.5 /
    128``, in [-0.996, 0.996].
  """
  return images * (127.5 / 128.0)


@weights.register_kind("facenet")
class FaceNet(base.Network):
  """Identity embedding of face images (facenet-pytorch InceptionResnetV1).

  Args:
    embedding_size: 512 (facenet-pytorch's weights) or 128 (Sandberg's
      20170512-110547 layout).
    num_classes: keep facenet-pytorch's ``logits`` layer of this size (for
      :meth:`classify`), or 0 (the embedding only).
    dropout_rate: dropout before ``last_linear`` when training.
    name: the Keras model name (weights files key variables by attribute
      path, not by name).

  Call: ``images`` `[B, H, W, 3]` float32 RGB in [-1, 1], any H, W (aligned
  face crops as facenet-pytorch's MTCNN makes them: the face box with a
  margin, square) -> `[B, embedding_size]` float32 L2-normalised embedding
  (each row has norm 1; compare with a dot product = cosine similarity).
  """

  input_size = INPUT_SIZE

  def __init__(self, embedding_size: int = 512, num_classes: int = 0,
               dropout_rate: float = 0.6, name: str = "facenet", **kwargs):
    super().__init__(name=name, **kwargs)
    self.network = inception_resnet_v1.InceptionResnetV1(
        embedding_size, num_classes, dropout_rate, name="inception_resnet_v1")

  def build(self, input_shape):
    # Any input size is resized to 160 px before the network.
    self.network.build((input_shape[0], INPUT_SIZE, INPUT_SIZE, 3))

  def preprocess(self, images: tf.Tensor) -> tf.Tensor:
    """`[B, H, W, 3]` in [-1, 1] -> `[B, 160, 160, 3]` standardised."""
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[-1] not in (None, 3):
      raise ValueError("FaceNet takes images [B, H, W, 3] (RGB in [-1, 1]), "
                       f"got shape {images.shape}")
    if tuple(images.shape[1:3]) != (INPUT_SIZE, INPUT_SIZE):
      # Half-pixel bilinear, i.e. F.interpolate(mode='bilinear',
      # align_corners=False); DiscoFaceGAN's TF1 resize_images used corner
      # alignment, a sub-pixel shift of no consequence for an embedding.
      images = tf.image.resize(images, [INPUT_SIZE, INPUT_SIZE],
                               method="bilinear")
    return standardize(images)

  def call(self, images, training=False):
    return self.network(self.preprocess(images), training=training)

  def classify(self, images, training=False) -> tf.Tensor:
    """`[B, num_classes]` logits over the training identities (needs
    ``num_classes > 0``)."""
    return self.network.classify(self.preprocess(images), training=training)

  def get_config(self):
    """Constructor arguments, JSON-serializable (for ``save_network``)."""
    config = self.network.get_config()
    del config["name"]
    return config
