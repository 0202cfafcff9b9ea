"""Shared fixtures of the LiftedGAN tests: ONE few-step training run of
test.gin under MirroredStrategy (2 logical CPUs) on a tiny random G, and the
method restored from it (used by the trainer, control and export tests)."""

import os

import gin
import pytest
import tensorflow as tf

from tfface import config as config_lib
from tfface import training
from tfface.methods.liftedgan import method as method_lib
from tests.methods.liftedgan import fixtures




def _parse(tmp, extra=()):
  params = [f"GENERATOR = '{tmp}/g.npz'", f"IDENTITY = '{tmp}/id.npz'"]
  config_lib.parse_config(
      [os.path.join(fixtures.REPO, "gin/liftedgan/test.gin")],
      params + list(extra), finalize=False)


@pytest.fixture(scope="session")
def run(tmp_path_factory):
  tmp = str(tmp_path_factory.mktemp("liftedgan"))
  fixtures.write_generator(f"{tmp}/g.npz")
  fixtures.write_identity(f"{tmp}/id.npz")
  gin.clear_config()
  _parse(tmp)
  method = method_lib.LiftedGANMethod()
  strategy = training.make_strategy("mirrored", 2)
  record = {}
  build = method.build

  def build_and_record():
    build()
    record["trainable"] = [v.numpy().copy() for v in method.variables]
    record["generator"] = [v.numpy().copy()
                           for v in method.model.generator.generator.weights]

  method.build = build_and_record
  model_dir = os.path.join(tmp, "run")
  # Grappler would spend far longer optimising the ~40k-node two-replica
  # step graph than the 3 steps take to run; the option is restored after.
  options = tf.config.optimizer.get_experimental_options()
  tf.config.optimizer.set_experimental_options(
      {"disable_meta_optimizer": True})
  try:
    losses = training.run_training(
        method, method_lib.liftedgan_latents(4, z_dim=fixtures.Z_DIM),
        model_dir,
        training.LoopConfig(max_steps=fixtures.STEPS, checkpoint_every=fixtures.STEPS,
                            image_every=0, summary_every=1, log_every=1),
        strategy=strategy, operative_config=gin.config_str())
  finally:
    tf.config.optimizer.set_experimental_options(
        dict(options, disable_meta_optimizer=options.get(
            "disable_meta_optimizer", False)))
  gin.clear_config()
  return {"method": method, "losses": losses, "record": record,
          "model_dir": model_dir, "tmp": tmp,
          "replicas": strategy.num_replicas_in_sync}


@pytest.fixture(scope="session")
def restored(run):
  gin.clear_config()
  method = training.restore.restore_run(run["model_dir"])
  gin.clear_config()
  return method


