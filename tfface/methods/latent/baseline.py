"""The baseline AE with a landmark head, and latent-arithmetic keypoint editing.

The paper's comparison (§4.1; ``ivanvovk/controllable-face-generation@gans:
ae_baseline.ipynb``, facts in ``shared/reference/alae.md`` §2.3): a plain
convolutional autoencoder with a landmark regressor on its code, trained with
``L = L_rec + L_landmarks``, where L_rec is a VGG-19 perceptual loss on the
first two blocks; keypoints are then "edited" by arithmetic: with l_t the
target's landmarks, Z̄_t the mean code of the k = 100 faces whose landmarks
are nearest to l_t (mean squared distance) and Z̄ the mean code of all
faces::

    ẑ = a·z_s + b·(Z̄_t − Z̄)        (paper eq. 9: a = b = 1; the notebook:
                                     a = 0.7, b = 1.5)

Networks: :class:`~tfface.networks.latent_conditional.BaselineEncoder`,
``BaselineDecoder`` and ``LandmarkHead`` (landmarks in [0, 1] of the image,
the reference's normalisation). The notebook holds only inference; its
training code is not public, so the loss weights here are this module's
choice: the perceptual term (relu of ``block1_conv2`` and ``block2_conv2``,
"the first two blocks") plus a pixel MSE (``pixel_weight``, which keeps the
random-feature CPU fallback honest) plus the landmark MSE on normalised
coordinates (``landmark_weight``), Adam lr 1e-3.

Losses logged: ``total``, ``perceptual``, ``pixel_mse``, ``landmark_mse``,
``landmark_pixel_error`` (mean point distance in pixels).
"""

from typing import Callable, Dict, Optional, Sequence

import gin
import numpy as np
import tensorflow as tf

from tfface import training
from tfface.methods.latent import acai as acai_lib
from tfface.methods.latent import codes as codes_lib
from tfface.networks import base
from tfface.networks import latent_conditional as nets
from tfface.training import optimizers

NUM_KEYPOINTS = 68
BASELINE_PERCEPTUAL_LAYERS = ("block1_conv2", "block2_conv2")
# Paper eq. 9 and the notebook's variant.
PAPER_ARITHMETIC = (1.0, 1.0)
NOTEBOOK_ARITHMETIC = (0.7, 1.5)


def check_sizes(image_size: int, encoder_widths: Sequence[int],
                decoder_widths: Sequence[int]) -> None:
  """One clear ValueError unless the decoder mirrors the encoder's strides."""
  down = 2**len(encoder_widths)
  if image_size % down or len(decoder_widths) + 1 != len(encoder_widths):
    raise ValueError(f"BaselineAutoencoder: image_size {image_size} must be a "
                     f"multiple of {down} and decoder_widths one shorter than "
                     f"encoder_widths, got {tuple(decoder_widths)} for "
                     f"{tuple(encoder_widths)}")


@codes_lib.register_kind("latent_baseline")
class BaselineAutoencoder(base.Network):
  """The baseline encoder, decoder and landmark head (a
  :class:`~tfface.methods.latent.codes.LatentAutoencoder`).

  Args:
    image_size: R (a multiple of 2**len(encoder_widths)).
    encoder_widths: (32, 64, 128, 128).
    latent_channels: 32 (a 32 × R/16 × R/16 code).
    decoder_widths: (128, 64, 32).
    head_hidden: 272.

  ``encode``: `[B, R, R, 3]` -> `[B, Z]`; ``decode``: `[B, Z]` -> `[B, R, R,
  3]` in [-1, 1]; ``landmarks``: `[B, Z]` -> `[B, 68, 2]` pixels.
  """

  def __init__(self, image_size: int = 64,
               encoder_widths: Sequence[int] = (32, 64, 128, 128),
               latent_channels: int = 32,
               decoder_widths: Sequence[int] = (128, 64, 32),
               head_hidden: int = 272, **kwargs):
    super().__init__(**kwargs)
    check_sizes(image_size, encoder_widths, decoder_widths)
    down = 2**len(encoder_widths)
    self._config = dict(image_size=int(image_size),
                        encoder_widths=[int(w) for w in encoder_widths],
                        latent_channels=int(latent_channels),
                        decoder_widths=[int(w) for w in decoder_widths],
                        head_hidden=int(head_hidden))
    self.image_size = int(image_size)
    side = image_size // down
    self.code_shape = (side, side, int(latent_channels))
    self.code_size = side * side * int(latent_channels)
    self.encoder = nets.BaselineEncoder(encoder_widths, latent_channels,
                                        name="encoder")
    self.decoder = nets.BaselineDecoder(latent_channels, decoder_widths,
                                        name="decoder")
    self.landmark_head = nets.LandmarkHead(self.code_size, head_hidden,
                                           2 * NUM_KEYPOINTS,
                                           name="landmark_head")

  @classmethod
  def from_config(cls, config):
    model = cls(**config)
    model.build_all()
    return model

  def autoencoder_config(self) -> Dict[str, object]:
    return dict(self._config)

  def build_all(self) -> None:
    z = self.encode(tf.zeros([1, self.image_size, self.image_size, 3]))
    self.decode(z)
    self.landmark_head(z)

  def encode(self, images, training=None):
    code = self.encoder(images, training=training)
    return tf.reshape(code, [tf.shape(code)[0], self.code_size])

  def decode(self, z, training=None):
    return self.decoder(tf.reshape(z, [-1] + list(self.code_shape)),
                        training=training)

  def landmarks(self, z, training=None):
    """`[B, Z]` -> `[B, 68, 2]` (x, y) pixels."""
    points = self.landmark_head(z, training=training)
    return tf.reshape(points, [-1, NUM_KEYPOINTS, 2]) * float(self.image_size)

  def call(self, images, training=None):
    return self.decode(self.encode(images, training), training)


def nearest_landmark_shift(target_landmarks: np.ndarray, bank_z: np.ndarray,
                           bank_landmarks: np.ndarray, k: int = 100
                           ) -> np.ndarray:
  """``Z̄_t − Z̄``: the mean code of the k nearest-landmark faces minus the
  mean code of all.

  Args:
    target_landmarks: `[T, 68, 2]` (any units, the bank's).
    bank_z: `[N, Z]` codes.
    bank_landmarks: `[N, 68, 2]`.
    k: neighbours (100), at most N.

  Returns:
    `[T, Z]` float32.
  """
  bank_z = np.asarray(bank_z, np.float32)
  flat_bank = np.asarray(bank_landmarks, np.float32).reshape(len(bank_z), -1)
  flat_target = np.asarray(target_landmarks, np.float32).reshape(
      -1, flat_bank.shape[1])
  k = max(1, min(int(k), len(bank_z)))
  distance = np.mean((flat_target[:, None] - flat_bank[None]) ** 2, axis=-1)
  nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
  return (bank_z[nearest].mean(axis=1) - bank_z.mean(axis=0)).astype(
      np.float32)


def latent_arithmetic(z_source: np.ndarray, target_landmarks: np.ndarray,
                      bank_z: np.ndarray, bank_landmarks: np.ndarray,
                      k: int = 100,
                      weights: Sequence[float] = PAPER_ARITHMETIC
                      ) -> np.ndarray:
  """ẑ = a·z_s + b·(Z̄_t − Z̄) (see the module docstring).

  Args:
    z_source: `[T, Z]`.
    target_landmarks: `[T, 68, 2]`.
    bank_z, bank_landmarks, k: see :func:`nearest_landmark_shift`.
    weights: (a, b): (1, 1) the paper, (0.7, 1.5) the notebook.

  Returns:
    `[T, Z]` float32.
  """
  a, b = (float(w) for w in weights)
  shift = nearest_landmark_shift(target_landmarks, bank_z, bank_landmarks, k)
  return (a * np.asarray(z_source, np.float32) + b * shift).astype(np.float32)


@gin.configurable
class LatentBaselineMethod(training.TrainingMethod):
  """Trains the baseline AE and its landmark head on faces with landmarks.

  Args:
    image_size, encoder_widths, latent_channels, decoder_widths,
      head_hidden: :class:`BaselineAutoencoder`.
    learning_rate, beta_1, beta_2: Adam (1e-3, 0.9, 0.999).
    perceptual_weight: weight of the VGG term (1).
    pixel_weight: weight of the pixel MSE in [0, 1] units (1).
    landmark_weight: weight of the landmark MSE on [0, 1] coordinates (1).
    vgg_weights, vgg_width, perceptual_feature_scale: see
      :class:`tfface.methods.latent.acai.LevelPerceptualLoss`.
    optimizer: optional ``(name=) -> optimizer`` factory.
  """

  def __init__(self, image_size: int = 64,
               encoder_widths: Sequence[int] = (32, 64, 128, 128),
               latent_channels: int = 32,
               decoder_widths: Sequence[int] = (128, 64, 32),
               head_hidden: int = 272, learning_rate: float = 1e-3,
               beta_1: float = 0.9, beta_2: float = 0.999,
               perceptual_weight: float = 1.0, pixel_weight: float = 1.0,
               landmark_weight: float = 1.0,
               vgg_weights: Optional[str] = None, vgg_width: float = 1.0,
               perceptual_feature_scale: float = acai_lib.CAFFE_TO_STANDARDISED,
               num_image_samples: int = 8,
               optimizer: Optional[Callable] = None):
    self.ae_config = dict(image_size=image_size, encoder_widths=encoder_widths,
                          latent_channels=latent_channels,
                          decoder_widths=decoder_widths,
                          head_hidden=head_hidden)
    check_sizes(image_size, encoder_widths, decoder_widths)
    self.image_size = image_size
    self.learning_rate, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
    self.perceptual_weight = perceptual_weight
    self.pixel_weight, self.landmark_weight = pixel_weight, landmark_weight
    self.vgg_weights, self.vgg_width = vgg_weights, vgg_width
    self.perceptual_feature_scale = perceptual_feature_scale
    self.num_image_samples = num_image_samples
    self.optimizer_factory = optimizer

  def build(self) -> None:
    self.model = BaselineAutoencoder(**self.ae_config, name="autoencoder")
    self.model.build_all()
    self.perceptual = None
    if self.perceptual_weight:
      self.perceptual = acai_lib.LevelPerceptualLoss(
          BASELINE_PERCEPTUAL_LAYERS, (1.0, 1.0), self.vgg_weights,
          self.vgg_width, self.perceptual_feature_scale)
      self.perceptual.build(self.image_size)
    self.optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="optimizer",
        learning_rate=self.learning_rate, beta_1=self.beta_1,
        beta_2=self.beta_2, epsilon=1e-8,
        variables=self.model.trainable_variables)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    n = max(1, min(self.num_image_samples, self.global_batch_size // replicas))
    self.sample_images = tf.Variable(
        tf.zeros([n, self.image_size, self.image_size, 3]), trainable=False,
        name="sample_images",
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    return {"autoencoder": self.model, "optimizer": self.optimizer}

  def autoencoder(self) -> BaselineAutoencoder:
    return self.model

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    images, landmarks = batch["image"], batch["landmarks"]
    size = float(self.image_size)
    with tf.GradientTape() as tape:
      z = self.model.encode(images, training=True)
      decoded = self.model.decode(z, training=True)
      predicted = self.model.landmark_head(z, training=True)
      target = tf.reshape(landmarks, [-1, 2 * NUM_KEYPOINTS]) / size
      out = {"pixel_mse": tf.reduce_mean(tf.square(0.5 * (images - decoded))),
             "landmark_mse": tf.reduce_mean(tf.square(predicted - target))}
      out["perceptual"] = (self.perceptual(images, decoded)
                           if self.perceptual is not None else tf.constant(0.0))
      total = (self.perceptual_weight * out["perceptual"] +
               self.pixel_weight * out["pixel_mse"] +
               self.landmark_weight * out["landmark_mse"])
    training.minimize(tape, self.optimizer, total,
                      self.model.trainable_variables)
    error = tf.reshape(predicted * size, [-1, NUM_KEYPOINTS, 2]) - landmarks
    out["landmark_pixel_error"] = tf.reduce_mean(tf.norm(error, axis=-1))
    out["total"] = total
    self.sample_images.assign(images[:self.sample_images.shape[0]])
    return out

  def image_summaries(self) -> Dict[str, tf.Tensor]:
    x = tf.convert_to_tensor(self.sample_images)
    return {"faces": x, "reconstructions": tf.clip_by_value(
        self.model(x), -1.0, 1.0)}

  def export_signatures(self):
    from tfface.methods.latent import export  # pylint: disable=g-import-not-at-top
    module = export.AutoencoderModule(self.model, method="latent_baseline",
                                      landmark_head=self.model.landmark_head)
    return module, module.signatures()
