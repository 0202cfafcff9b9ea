"""StyleGAN2 trainer: learns on a toy set, lazy regularization schedule,
MirroredStrategy with 2 logical CPUs, gin wiring, export round trip."""

import json
import os
import subprocess
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfface import config as config_lib
from tfface import export as export_lib
from tfface import training
from tfface.methods.stylegan2 import generate
from tfface.methods.stylegan2 import StyleGAN2Method
from tfface.methods.stylegan2 import stylegan2_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def test_toy_dataset_is_in_range_and_batched():
  batch = next(iter(stylegan2_dataset(4, resolution=16, num_toy_images=8)))
  assert batch["image"].shape == (4, 16, 16, 3)
  assert -1.0 <= float(tf.reduce_min(batch["image"]))
  assert float(tf.reduce_max(batch["image"])) <= 1.0
  with pytest.raises(ValueError, match="source"):
    stylegan2_dataset(4, source="lmdb")
  with pytest.raises(ValueError, match="path"):
    stylegan2_dataset(4, source="folder")


def _fresh_process_outputs(export_dir, z, w, psi):
  """Runs the SavedModel in a Python process that never imports tfface."""
  script = f"""
import json, sys
import numpy as np
import tensorflow as tf
model = tf.saved_model.load({export_dir!r})
z = np.array({json.dumps(z.tolist())}, np.float32)
w = np.array({json.dumps(w.tolist())}, np.float32)
out = {{
  "generate": model.signatures["generate"](
      z=tf.constant(z), truncation_psi=tf.constant({psi}))["image"].numpy().tolist(),
  "from_w": model.signatures["generate_from_w"](
      w=tf.constant(w), truncation_psi=tf.constant(1.0))["image"].numpy().tolist(),
  "mapping": model.signatures["mapping"](z=tf.constant(z))["w"].numpy().tolist(),
  "tfface_imported": any(m.startswith("tfface") for m in sys.modules),
}}
print("RESULT" + json.dumps(out))
"""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
  env.pop("PYTHONPATH", None)
  result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, env=env, cwd="/", timeout=300, check=True)
  line = [l for l in result.stdout.splitlines() if l.startswith("RESULT")][-1]
  return json.loads(line[len("RESULT"):])


def _scalars(logdir):
  """{tag: {step: value}} from the run's TensorBoard event files."""
  out = {}
  for name in tf.io.gfile.listdir(logdir):
    if not name.startswith("events"):
      continue
    for event in tf.compat.v1.train.summary_iterator(os.path.join(logdir, name)):
      for value in event.summary.value:
        if value.HasField("tensor") and not value.tensor.string_val:
          array = tf.make_ndarray(value.tensor)
          if array.ndim == 0:
            out.setdefault(value.tag, {})[event.step] = float(array)
  return out


def test_trains_under_mirrored_strategy_from_gin_then_exports(tmp_path):
  """The test.gin model on 2 logical CPUs: it learns, regularizes lazily on
  schedule, keeps replicas identical, and exports a working SavedModel."""
  config_lib.parse_config([os.path.join(REPO, "gin/stylegan2/test.gin")],
                          finalize=False)
  method = StyleGAN2Method()  # configured by test.gin
  assert (method.resolution, method.d_reg_every, method.g_reg_every) == (16, 4, 2)
  dataset = stylegan2_dataset(8)
  strategy = training.make_strategy("mirrored", 2)
  assert strategy.num_replicas_in_sync == 2
  initial = {}
  build = method.build

  def build_and_record():
    build()
    initial["samples"] = method.g_ema(method.sample_z, noise_mode="const").numpy()

  method.build = build_and_record
  model_dir = str(tmp_path / "run")
  steps = 150
  losses = training.run_training(
      method, dataset, model_dir,
      training.LoopConfig(max_steps=steps, checkpoint_every=steps,
                          image_every=steps, summary_every=1, log_every=50),
      strategy=strategy, operative_config=gin.config_str())
  assert all(np.isfinite(v) for v in losses.values())
  assert training.loop.checkpoints_lib.latest_checkpoint(model_dir)

  # Lazy regularization: one extra optimizer step on steps 0, 4, 8, ... (R1)
  # and 0, 2, 4, ... (path length), none in between.
  assert int(method.d_optimizer.iterations.numpy()) == steps + (steps + 3) // 4
  assert int(method.g_optimizer.iterations.numpy()) == steps + (steps + 1) // 2
  scalars = _scalars(os.path.join(model_dir, "train"))
  r1 = scalars["loss/d_r1"]
  assert all(r1[s] > 0 for s in range(1, steps + 1, 4))
  assert not any(r1[s] for s in range(2, steps + 1, 4))
  pl = scalars["loss/path_length_penalty"]
  assert not any(pl[s] for s in range(2, steps + 1, 2))
  assert float(method.mean_path_length.numpy()) > 0

  # The discriminator loss leaves its initial value ...
  d_loss = scalars["loss/d_gan"]
  late = np.mean([d_loss[s] for s in range(steps - 39, steps + 1)])
  assert abs(late - d_loss[1]) > 0.1, (d_loss[1], late)
  # ... and the EMA generator's samples change.
  samples = method.g_ema(method.sample_z, noise_mode="const").numpy()
  assert np.mean(np.abs(samples - initial["samples"])) > 0.05
  assert np.abs(method.generator.w_avg.numpy()).max() > 0

  # Replicas stay identical (gradients, including the lazy ones, all-reduced).
  for v in (method.discriminator.trainable_variables +
            method.generator.trainable_variables):
    parts = [p.numpy() for p in v.value.values]
    np.testing.assert_array_equal(parts[0], parts[1])

  # Export, then run the SavedModel where tfface is never imported.
  module, signatures = method.export_signatures()
  export_dir = export_lib.export_module(module, str(tmp_path / "export"),
                                        signatures)
  rng = np.random.default_rng(0)
  z = rng.standard_normal([3, 16]).astype(np.float32)
  g = method.g_ema
  w = np.tile(g.mapping(z).numpy()[:, None], [1, g.num_ws, 1])
  out = _fresh_process_outputs(export_dir, z, w, 0.5)
  assert not out["tfface_imported"]
  want = np.clip(g(z, truncation_psi=0.5, noise_mode="const").numpy(), -1, 1)
  np.testing.assert_allclose(np.array(out["generate"]), want, atol=1e-5)
  np.testing.assert_allclose(
      np.array(out["from_w"]),
      np.clip(g.synthesis(w, noise_mode="const").numpy(), -1, 1), atol=1e-5)
  np.testing.assert_allclose(np.array(out["mapping"]), g.mapping(z).numpy(),
                             atol=1e-5)
  assert method.image_summaries()["samples"].shape == (4, 16, 16, 3)

  # tools/generate.py's loader rebuilds g_ema from the run directory.
  restored = generate.load_generator_for_generation(model_dir=model_dir)
  np.testing.assert_allclose(restored(z, noise_mode="const").numpy(),
                             g(z, noise_mode="const").numpy(), atol=1e-5)
