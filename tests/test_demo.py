"""`make demo`'s code path end to end at a tiny setting, then its outputs:
the SavedModel, the control sheet, the evaluation and the edit tool; the
demo's methods as gin/confignet/cpu_demo.gin builds them; tools/demo.py's
errors."""

import json
import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from tests.training import subprocess_utils
from tfface import config
from tfface import demo

DEMO_TOOL = os.path.join(subprocess_utils.REPO, "tools", "demo.py")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("demo"))
  paths = demo.run_demo(out, demo.tiny_settings())
  return out, paths


def test_demo_writes_everything(demo_run):
  out, paths = demo_run
  for key in ("checkpoint_stage1", "checkpoint_stage2"):
    assert tf.train.latest_checkpoint(paths[key])
  assert os.path.isfile(os.path.join(paths["export"], "saved_model.pb"))
  assert any(name.startswith("events")
             for name in os.listdir(os.path.join(paths["tensorboard"],
                                                 "stage2", "train")))
  png = tf.io.decode_png(tf.io.read_file(paths["controls_png"])).numpy()
  settings = demo.tiny_settings()
  summary = json.load(open(os.path.join(out, "demo_summary.json")))
  # The resolution is demo_tiny.gin's.
  assert summary["resolution"] == 32
  tile = summary["resolution"] * 2
  assert png.shape[0] == len(demo.ROWS) * tile
  assert png.shape[1] > settings.columns * tile
  assert summary["controls_png"] == paths["controls_png"]
  assert summary["schedule"]["stage1_steps"] == 2
  assert "ConfigNetStage1.learning_rate = 0.002" in summary["gin_config"]


def test_export_signatures_and_evaluation(demo_run):
  out, paths = demo_run
  from tfface.methods.confignet import editing
  from tfface.methods.confignet import evaluation
  model = editing.ExportedConfigNet(paths["export"])
  size = model.resolution
  sample = model.signatures["sample"](n=tf.constant(2), seed=tf.constant(1),
                                      truncation=tf.constant(0.7))
  assert sample["image"].shape == (2, size, size, 3)
  z, rot = model.embed(np.zeros([1, size, size, 3], np.float32))
  edited = editing.apply_edits(
      model, z, editing.parse_edits(["expression:jawOpen=1",
                                     "hair_color=0.8,0.66,0.42"]),
      {"expression": ["jawOpen"] + [f"e{i}" for i in range(30)]},
      pgd_steps=5)
  start, stop = model.factors["gaze"]["latent_slice"]
  np.testing.assert_array_equal(edited.numpy()[:, start:stop],
                                z.numpy()[:, start:stop])
  with pytest.raises(ValueError, match="no entry"):
    editing.apply_edits(model, z, {"expression:nope": 1.0}, {}, pgd_steps=1)
  result = evaluation.evaluate_export(
      paths["export"], os.path.join(out, "data", "heldout",
                                    "synthetic-*-of-*.tfrecord"),
      num_faces=4, output_json=os.path.join(out, "control.json"))
  stored = json.load(open(os.path.join(out, "control.json")))
  assert stored["reconstruction"] == result["reconstruction"]
  assert "expression" in stored["swap"] and "pose" in stored
  assert list(evaluation.summary_lines(result))


# ------------------------------------------------ the methods from the gin file

def test_demo_methods_are_cpu_demo_gin():
  """The stage-1 and stage-2 methods the demo trains carry the values
  cpu_demo.gin states (the demo's former DemoSettings, unchanged)."""
  demo.parse_demo_config(demo.CPU_DEMO_GIN)
  stage1, stage2 = demo.build_stages("runs/stage1")
  for method in (stage1, stage2):
    assert method.resolution == 64
    assert method.table.names == demo_table_names()
    assert method.generator_kwargs == dict(
        const_channels=64, channels_3d=(32, 16), channels_3d_post=(16, 16),
        projection_channels=128, channels_2d=(64, 32), mlp_units=64,
        constant_size=16)
    assert method.discriminator_kwargs == dict(num_blocks=4, base_filters=16,
                                               max_filters=128)
    assert method.learning_rate == 2e-3
    assert method.betas == (0.5, 0.99)
    assert method.gan_loss_weight == 0.1
    assert method.latent_regression_weight == 1.0
    assert method.domain_adversarial_weight == 1.0
    assert method.box_loss_weights["g_mouth"][0] == 40.0
    assert method.box_loss_weights["g_eye_box"][0] == 40.0
    assert method.ema_decay == 0.99
    assert method.r1_per_output is False
    assert method.vgg_weights_path is None
    assert method.vgg_width == 0.125
    assert method.pixel_l1_weight == 20.0
  # The warm-up is stage 1's only; stage 2's λ_img is 10 × stage 1's.
  assert stage1.landmark_loss_warmup == (500, 1500)
  assert stage2.landmark_loss_warmup == (0, 0)
  assert stage1.image_loss_weight == 5e-5
  assert stage2.image_loss_weight == 5e-4 == 10 * stage1.image_loss_weight
  assert stage2.encoder_backbone == "small"
  assert stage2.encoder_widths == (16, 32, 64, 128)
  assert stage2.init_checkpoint == "runs/stage1"
  assert demo.read_schedule() == demo.Schedule(
      batch_size=8, stage1_steps=4000, stage2_steps=400, log_every=50,
      summary_every=50, image_every=500, seed=0)
  from tfface.methods.confignet import trainer
  latent_gan = trainer.ConfigNetLatentGAN(latent_dim=stage2.table.latent_dim)
  assert (latent_gan.learning_rate, latent_gan.ema_decay) == (2e-4, 0.99)


def demo_table_names():
  from tfface.methods.confignet import factors
  return factors.synthetic_factor_table().names


def test_vgg19_weights_switch_to_the_real_perceptual_loss():
  demo.parse_demo_config(demo.CPU_DEMO_GIN, vgg19_weights="/w/vgg19.h5")
  stage1, stage2 = demo.build_stages()
  for method in (stage1, stage2):
    assert method.vgg_weights_path == "/w/vgg19.h5"
    assert method.vgg_width == 1.0
    assert method.pixel_l1_weight == 0.0
    assert method.learning_rate == 2e-3  # the rest is the file's
  assert demo.vgg_bindings(None) == []


def test_tiny_mode_and_overrides():
  demo.parse_demo_config(demo.tiny_settings().gin_file,
                         gin_params=["STAGE2_STEPS = 3",
                                     "train.max_steps = 5"])
  stage1, stage2 = demo.build_stages()
  assert stage1.resolution == stage2.resolution == 32
  assert stage2.encoder_widths == (4, 8)
  assert stage1.vgg_width == 0.0625
  schedule = demo.read_schedule()
  assert (schedule.batch_size, schedule.stage1_steps,
          schedule.stage2_steps) == (4, 5, 3)


def test_a_bad_binding_is_a_config_error_before_anything_is_written(tmp_path):
  with pytest.raises(config.ConfigError, match="landmark_loss_warmup"):
    demo.run_demo(str(tmp_path / "out"), demo.tiny_settings(),
                  gin_params=["ConfigNetStage1.landmark_loss_warmup = (9, 1)"])
  assert not os.path.exists(tmp_path / "out")
  # The demo clears gin's global config when it returns or fails.
  assert not gin.config_str().strip()


# ------------------------------------------------------------ tools/demo.py

@pytest.mark.parametrize("args, expected", [
    (["--vgg19_weights=/no/such/vgg19.h5"], "/no/such/vgg19.h5"),
    (["--gin_param=ConfigNetStage1.no_such_arg = 1"], "no_such_arg"),
    (["--gin_file=/no/such.gin"], "/no/such.gin"),
    (["--stage2_steps=0"], "--stage2_steps"),
])
def test_bad_input_is_one_error_line(tmp_path, args, expected):
  out = tmp_path / "out"
  result = subprocess_utils.run(
      [subprocess_utils.sys.executable, DEMO_TOOL, "--tiny",
       f"--output_dir={out}", *args], timeout=120)
  assert result.returncode == 1, result.stderr[-2000:]
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and expected in last, last
  assert not out.exists()
