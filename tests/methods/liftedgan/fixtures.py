"""Tiny random-weight stand-ins for the LiftedGAN tests: a 16 px StyleGAN2,
an identity net, the 3D generator around them."""

import os

import tensorflow as tf

from tfface.analysis import identity as identity_lib
from tfface.analysis import weights as analysis_weights
from tfface.methods.liftedgan import model as model_lib
from tfface.networks import stylegan2
from tfface.networks import stylegan2_weights

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SIZE = 16
Z_DIM = STYLE_DIM = 8
NETWORK_ARGS = dict(hidden=16, depth_z_dim=16, transform_z_dim=8, nf=4,
                    max_channels=16, blur_size=3, blur_sigma=1.0)


def tiny_generator(seed: int = 0) -> stylegan2.Generator:
  tf.keras.utils.set_random_seed(seed)
  g = stylegan2.Generator(SIZE, channels={4: 8, 8: 8, 16: 8}, z_dim=Z_DIM,
                          style_dim=STYLE_DIM, mapping_layers=2)
  g.build_all()
  return g


def tiny_model(seed: int = 0) -> model_lib.LiftedGAN:
  model = model_lib.LiftedGAN(tiny_generator(seed), **NETWORK_ARGS)
  model.generator.compute_w_statistics(2000)
  model.build_all()
  return model


def write_generator(path: str, seed: int = 0) -> str:
  stylegan2_weights.export_model_weights(path, tiny_generator(seed))
  return path


def write_identity(path: str, seed: int = 0) -> str:
  tf.keras.utils.set_random_seed(seed)
  config = dict(input_size=16, widths=(4, 8), embedding_size=8)
  net = identity_lib.IdentityNet(**config)
  net(tf.zeros([1, 16, 16, 3]))
  analysis_weights.save_network(path, net, config)
  return path
STEPS = 3  # steps of the shared training run (conftest.run)
