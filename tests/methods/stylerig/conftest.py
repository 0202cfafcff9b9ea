"""Tiny random stand-ins for StyleRig's frozen networks, and a tiny dataset.

A 16 px StyleGAN2 (6 W+ entries of 8), random-weight landmark / parser /
reconstruction nets in their real classes, saved as the files the tools read,
and 16 examples written once per session.
"""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfface import config as config_lib
from tfface import training

from tfface.analysis import landmarks as landmarks_lib
from tfface.analysis import parser as parser_lib
from tfface.analysis import reconstruction as rec
from tfface.analysis import weights
from tfface.networks import stylegan2
from tfface.networks import stylegan2_weights

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SIZE, Z_DIM, STYLE_DIM = 16, 8, 8
NUM_WS = stylegan2.num_ws_for(SIZE)
LANDMARKS = dict(input_size=32, widths=[4, 8, 8], stem_stride=2,
                 heatmap_stride=4, head_width=8)
PARSER = dict(input_size=32, widths=[4, 8, 8], stem_stride=2,
              decoder_width=8, full_resolution_width=4)
RECONSTRUCTION = dict(input_size=32, widths=[8, 16], pooled_size=2, hidden=16,
                      model_resolution=1)
NUM_EXAMPLES, PER_SHARD = 16, 8


@pytest.fixture(scope="package", autouse=True)
def _no_grappler():
  """Grappler's graph rewrites cost more than they save on these few-step
  runs (the renderer's gradient graph, per replica: the first step takes
  12.6 s with them, 4.3 s without, under load); restored after this package."""
  before = tf.config.optimizer.get_experimental_options().get(
      "disable_meta_optimizer", False)
  tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
  yield
  tf.config.optimizer.set_experimental_options(
      {"disable_meta_optimizer": before})


def tiny_generator(seed=0):
  tf.keras.utils.set_random_seed(seed)
  g = stylegan2.Generator(SIZE, stylegan2.channel_table(SIZE, divisor=64),
                          z_dim=Z_DIM, style_dim=STYLE_DIM, mapping_layers=2)
  g.build_all()
  return g


@pytest.fixture(scope="package")
def frozen_files(tmp_path_factory):
  """Paths of the tiny generator and analysis nets (the bundle's roles)."""
  directory = tmp_path_factory.mktemp("stylerig_nets")
  paths = {k: str(directory / f"{k}.npz")
           for k in ("generator", "landmarks", "parser", "reconstruction")}
  stylegan2_weights.export_model_weights(paths["generator"], tiny_generator())
  tf.keras.utils.set_random_seed(1)
  for kind, cls, config in (
      ("landmarks", landmarks_lib.LandmarkNet, LANDMARKS),
      ("parser", parser_lib.FaceParser, PARSER),
      ("reconstruction", rec.ReconstructionNet, RECONSTRUCTION)):
    net = cls(**config)
    net(tf.zeros([1, 32, 32, 3]))
    weights.save_network(paths[kind], net, config, {"what": "test stand-in"})
  return paths


@pytest.fixture(scope="package")
def data_dir(frozen_files, tmp_path_factory):
  """16 examples in 2 shards, from the tiny networks' files."""
  from tfface.methods.stylerig import data  # pylint: disable=g-import-not-at-top
  directory = str(tmp_path_factory.mktemp("stylerig_data"))
  data.make_stylerig_data(
      directory, frozen_files["generator"], frozen_files["landmarks"],
      frozen_files["parser"], frozen_files["reconstruction"],
      num_examples=NUM_EXAMPLES, examples_per_shard=PER_SHARD,
      truncation_psi=0.7, seed=3, batch_size=8)
  return directory


def gin_run(gin_name, model_dir, params, steps):
  gin.clear_config()
  config_lib.parse_config([os.path.join(REPO, "gin", "stylerig", gin_name)],
                          list(params), finalize=False)
  make = gin.query_parameter("train.method").scoped_configurable_fn
  dataset_fn = gin.query_parameter("train.dataset_fn").scoped_configurable_fn
  batch = gin.query_parameter("train.global_batch_size")
  strategy = training.make_strategy("mirrored", 2)
  method = make()
  losses = training.run_training(
      method, dataset_fn(batch), str(model_dir),
      training.LoopConfig(max_steps=steps, checkpoint_every=steps,
                          image_every=1000, summary_every=1, log_every=steps),
      strategy=strategy, operative_config=gin.config_str())
  return method, losses


@pytest.fixture(scope="package")
def runs(frozen_files, data_dir, tmp_path_factory):
  """F trained 2 steps, then a pose RigNet 2 steps over it (MirroredStrategy,
  2 logical CPUs); the methods, their last losses and F as written."""
  from tfface.methods.stylerig import method as stylerig_method  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp("stylerig_runs")
  estimator_run = str(root / "estimator")
  f_method, f_losses = gin_run("estimator_test.gin", estimator_run, [
      f"EstimatorMethod.generator_path = '{frozen_files['generator']}'",
      f"stylerig_dataset.data_dir = '{data_dir}'"], steps=2)
  gin.clear_config()
  files = stylerig_method.write_run_networks(estimator_run)
  gin.clear_config()
  estimator_file = files[stylerig_method.ESTIMATOR_FILE]
  f_file, _ = stylerig_method.load_estimator(estimator_file)
  r_method, r_losses = gin_run("rignet_test.gin", str(root / "rignet"), [
      f"RigNetMethod.estimator_path = '{estimator_file}'",
      f"stylerig_dataset.data_dir = '{data_dir}'"], steps=2)
  gin.clear_config()
  return {"f_method": f_method, "f_losses": f_losses, "f_file": f_file,
          "r_method": r_method, "r_losses": r_losses,
          "rignet_run": str(root / "rignet")}


def arrays(variables):
  return [np.array(v.numpy()) for v in variables]
