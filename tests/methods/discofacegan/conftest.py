"""Shared fixtures of the DiscoFaceGAN tests: tiny random-weight analysis
nets, a tiny trainable-looking stand-in VAE, one few-step MirroredStrategy
training run used by several tests."""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfface import config as config_lib
from tfface import training

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SIZE = 16
Z_SIZES = {"id": 8, "exp": 4, "gamma": 4, "rot": 3}


class TinyVAEs(tf.keras.Model):
  """Part A's contract on tiny random decoders: ``decode(z_parts)`` with the
  reference's factor names, ``z_sizes``."""

  def __init__(self, layout):
    super().__init__()
    self.z_sizes = dict(Z_SIZES)
    names = {"id": "identity", "exp": "expression", "gamma": "sh",
             "rot": "pose"}
    self.decoders = {k: tf.keras.layers.Dense(
        layout.factor_sizes[names[k]], name=f"dec_{k}",
        kernel_initializer=tf.keras.initializers.RandomNormal(stddev=0.3))
                     for k in Z_SIZES}
    for k, n in Z_SIZES.items():
      self.decoders[k](tf.zeros([1, n]))

  def decode(self, z_parts):
    return {k: self.decoders[k](z) for k, z in z_parts.items()}

  @property
  def decoder_variables(self):
    return [v for d in self.decoders.values() for v in d.weights]


@gin.configurable
def dfg_test_vaes():
  from tfface.methods.discofacegan import lambda_space as ls  # pylint: disable=g-import-not-at-top
  tf.keras.utils.set_random_seed(5)
  return TinyVAEs(ls.LambdaLayout())


@pytest.fixture(scope="session")
def analysis_files(tmp_path_factory):
  """Tiny random-weight reconstruction / identity / parser weight files."""
  from tfface.analysis import identity, parser, reconstruction  # pylint: disable=g-import-not-at-top
  from tfface.analysis import weights  # pylint: disable=g-import-not-at-top
  base = tmp_path_factory.mktemp("dfg_nets")
  tf.keras.utils.set_random_seed(3)
  configs = {
      "reconstruction": (reconstruction.ReconstructionNet, dict(
          input_size=SIZE, widths=(8, 8), pooled_size=2, hidden=8)),
      "identity": (identity.IdentityNet, dict(
          input_size=SIZE, widths=(4, 8), embedding_size=8)),
      "parser": (parser.FaceParser, dict(
          input_size=SIZE, widths=[4, 8], stem_stride=2, decoder_width=4,
          full_resolution_width=4))}
  out = {}
  for name, (cls, config) in configs.items():
    net = cls(**config)
    net(tf.zeros([1, SIZE, SIZE, 3]))
    path = str(base / f"{name}.npz")
    weights.save_network(path, net, config)
    out[name] = path
  return out


def arrays(variables):
  return [np.array(v.numpy()) for v in variables]


@pytest.fixture(scope="session")
def trained(tmp_path_factory, analysis_files):
  """gin/discofacegan/test.gin at its top LOD (16 px) for 3 steps under
  MirroredStrategy with 2 logical CPUs; (method, losses, before, dir)."""
  from tfface.methods.discofacegan import method as method_lib  # pylint: disable=g-import-not-at-top
  gin.clear_config()
  params = [f"DiscoFaceGANMethod.{k} = '{v}'"
            for k, v in analysis_files.items()]
  params.append("DiscoFaceGANMethod.vaes = @dfg_test_vaes()")
  # One LOD (16 px) keeps the traced step small: every LOD is a branch of a
  # tf.switch_case, traced once per replica. The progressive path is
  # checked eagerly in test_method.py.
  params.append("DiscoFaceGANMethod.start_lod = 2")
  config_lib.parse_config([os.path.join(REPO, "gin", "discofacegan",
                                        "test.gin")], params, finalize=False)
  strategy = training.make_strategy("mirrored", 2)
  method = method_lib.DiscoFaceGANMethod()
  before = {}
  dataset = gin.query_parameter(
      "train.dataset_fn").scoped_configurable_fn(4)
  original_build = method.build

  def build():
    original_build()
    before["generator"] = arrays(method.generator.trainable_variables)
    before["vae"] = arrays(method.vaes.decoder_variables)
    before["nets"] = [arrays(n.weights) for n in (
        method.reconstruction_net, method.identity_net, method.parser_net)]
  method.build = build
  model_dir = tmp_path_factory.mktemp("dfg_run")
  losses = training.run_training(
      method, dataset, str(model_dir),
      training.LoopConfig(max_steps=3, checkpoint_every=3, image_every=3,
                          summary_every=1, log_every=4),
      strategy=strategy, operative_config=gin.config_str())
  gin.clear_config()
  return method, losses, before, model_dir
