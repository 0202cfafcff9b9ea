"""Shared fixtures of the latent-model tests: tiny labeled faces, a tiny
random-weight ACAI autoencoder, gin-driven few-step runs."""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfface import config as config_lib
from tfface import training
from tfface.data import synthetic

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SIZE = 16
# 8 identities of 4 views; with heldout_modulus 4, identities 3 and 7 are
# held out (8 faces), the other 24 faces train.
NUM_FACES, VIEWS, HELDOUT_MODULUS = 32, 4, 4


@pytest.fixture(scope="session")
def faces(tmp_path_factory):
  """File pattern of 32 labeled faces at 16 px (runs of 4 per identity)."""
  directory = str(tmp_path_factory.mktemp("latent_faces"))
  synthetic.write_synthetic_dataset(
      directory, NUM_FACES, SIZE, mode=synthetic.LABELED,
      views_per_identity=VIEWS, batch_size=16, show_progress=False)
  return f"{directory}/labeled-*.tfrecord"


def tiny_acai(seed: int = 0):
  """A built random-weight ACAI autoencoder: 16 px, 8-D codes."""
  from tfface.methods.latent import acai  # pylint: disable=g-import-not-at-top
  tf.keras.utils.set_random_seed(seed)
  ae = acai.ACAIAutoencoder(image_size=SIZE, scales=3, depth=4,
                            latent_channels=2)
  ae.build_all()
  return ae


@pytest.fixture(scope="session")
def autoencoder_file(tmp_path_factory):
  """Path of a tiny random-weight ACAI weights file (its own directory, so
  the codes cache lands there)."""
  from tfface.methods.latent import codes  # pylint: disable=g-import-not-at-top
  path = str(tmp_path_factory.mktemp("latent_ae") / "autoencoder.npz")
  codes.save_autoencoder(path, tiny_acai(), {"what": "test stand-in"})
  return path


def gin_run(gin_name, model_dir, params=(), steps=4, replicas=2):
  """Trains the configured method ``steps`` steps under MirroredStrategy with
  ``replicas`` logical CPUs; returns (method, last losses)."""
  gin.clear_config()
  config_lib.parse_config([os.path.join(REPO, "gin", "latent", gin_name)],
                          list(params), finalize=False)
  train_method = gin.query_parameter("train.method").scoped_configurable_fn
  dataset_fn = gin.query_parameter("train.dataset_fn").scoped_configurable_fn
  batch = gin.query_parameter("train.global_batch_size")
  strategy = training.make_strategy("mirrored", replicas)
  method = train_method()
  losses = training.run_training(
      method, dataset_fn(batch), str(model_dir),
      training.LoopConfig(max_steps=steps, checkpoint_every=steps,
                          image_every=steps, summary_every=1, log_every=steps),
      strategy=strategy, operative_config=gin.config_str())
  return method, losses


def replica_values(variable):
  """The per-replica arrays of a mirrored variable."""
  value = getattr(variable, "value", variable)
  return [v.numpy() for v in getattr(value, "values", [value])]


def assert_replicas_identical(variables):
  for v in variables:
    parts = replica_values(v)
    for p in parts[1:]:
      np.testing.assert_array_equal(parts[0], p)


def arrays(model):
  return [np.array(v.numpy()) for v in model.trainable_variables]


def changed(before, after):
  return any(np.abs(a - b).max() > 0 for a, b in zip(before, after))


class StandInLandmarks(tf.keras.Model):
  """A random-weight landmark detector with LandmarkNet's call contract:
  `[B, H, W, 3]` in [-1, 1] -> `[B, 68, 2]` pixels."""

  def __init__(self):
    super().__init__()
    self.conv = tf.keras.layers.Conv2D(4, 3, strides=2)
    self.dense = tf.keras.layers.Dense(136)

  def call(self, images):
    size = float(images.shape[1])
    x = tf.reduce_mean(self.conv(images), axis=[1, 2])
    return tf.reshape(tf.sigmoid(self.dense(x)), [-1, 68, 2]) * size


class StandInIdentity(tf.keras.Model):
  """A random-weight identity net: `[B, H, W, 3]` -> L2-normalised `[B, 8]`."""

  def __init__(self):
    super().__init__()
    self.conv = tf.keras.layers.Conv2D(8, 3, strides=2)

  def call(self, images):
    return tf.math.l2_normalize(tf.reduce_mean(self.conv(images), [1, 2]), -1)


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
  """Tiny random-weight exports of every latent model, with the in-process
  models: name -> (version dir, module)."""
  from tfface.export import metadata  # pylint: disable=g-import-not-at-top
  from tfface.methods.latent import baseline  # pylint: disable=g-import-not-at-top
  from tfface.methods.latent import export  # pylint: disable=g-import-not-at-top
  from tfface.methods.latent import keypoints  # pylint: disable=g-import-not-at-top
  from tfface.methods.latent import labels  # pylint: disable=g-import-not-at-top
  from tfface.networks import latent_conditional as nets  # pylint: disable=g-import-not-at-top
  base = tmp_path_factory.mktemp("latent_exports")
  ae = tiny_acai(seed=1)
  tf.keras.utils.set_random_seed(2)
  generator = nets.CBNGenerator(8, 2, 8, output_dropout=0.5)
  generator(tf.zeros([2, 8]), tf.zeros([2, 2]))
  modules = {"acai": export.AutoencoderModule(ae, "acai"),
             "cgan": export.ConditionalModule(
                 ae, generator, labels.make_condition("beard"))}
  mapper = nets.KeypointMapper(8, 136, 2, relu_output=True)
  mapper(tf.zeros([2, 8]), tf.zeros([2, 136]))
  modules["mapper"] = export.KeypointModule(
      ae, mapper, lambda k: keypoints.normalize_keypoints(k, SIZE))
  small = baseline.BaselineAutoencoder(SIZE, (8, 8), 4, (8,), 16)
  small.build_all()
  modules["baseline"] = export.AutoencoderModule(
      small, "latent_baseline", landmark_head=small.landmark_head)
  out = {}
  for name, module in modules.items():
    path = metadata.export_servable(module, str(base / name),
                                    module.signatures(),
                                    module.export_metadata(),
                                    module.signature_inputs())
    out[name] = (path, module)
  return out
