"""Every shipped .gin file parses with all of tfface's configurables registered."""

import glob
import os

import pytest

from tfface import config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIN_FILES = sorted(glob.glob(os.path.join(REPO, "gin", "**", "*.gin"),
                             recursive=True))
# The runtime's own test config ships with the tests.
GIN_FILES.append(os.path.join(REPO, "tests", "training", "toy.gin"))


@pytest.mark.parametrize("path", GIN_FILES,
                         ids=[os.path.relpath(p, REPO) for p in GIN_FILES])
def test_gin_file_parses(path):
  config.parse_config([path], finalize=False)


def test_malformed_file_is_one_clear_error(tmp_path):
  bad = tmp_path / "bad.gin"
  bad.write_text("train.max_steps = \n")
  with pytest.raises(config.ConfigError) as error:
    config.parse_config([str(bad)])
  assert str(bad) in str(error.value)
  assert "\n" not in str(error.value)


def test_unknown_configurable_is_rejected():
  with pytest.raises(config.ConfigError, match="NoSuchThing"):
    config.parse_config([], ["NoSuchThing.x = 1"])


def test_keras_optimizers_are_configurable():
  config.parse_config([], ["tf.keras.optimizers.Adam.learning_rate = 0.01"],
                       finalize=False)


def _repo_gin(*parts):
  return os.path.join(REPO, "gin", *parts)


@pytest.mark.parametrize("path", GIN_FILES,
                         ids=[os.path.relpath(p, REPO) for p in GIN_FILES])
def test_stage2_bindings_only_state_what_differs(path):
  """ConfigNetStage2 inherits the ConfigNetStage1 bindings (next test), so a
  file that binds a stage-2 parameter to its stage-1 value says it twice."""
  import gin  # pylint: disable=g-import-not-at-top
  config.parse_config([path], finalize=False)
  stage1 = gin.get_bindings("ConfigNetStage1")
  stage2 = gin.get_bindings("ConfigNetStage2")
  repeated = sorted(k for k, v in stage2.items()
                    if k in stage1 and stage1[k] == v)
  assert not repeated, f"{path} binds {repeated} on both stages"


def test_stage2_gets_the_stage1_bindings_of_cpu_demo():
  """gin decorates ConfigNetStage1.__init__ in place and ConfigNetStage2
  calls it through super().__init__(**kwargs): the stage-1 bindings reach
  stage 2, and stage-2 bindings win."""
  import gin  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import trainer  # pylint: disable=g-import-not-at-top
  config.parse_config([_repo_gin("confignet", "cpu_demo.gin")], finalize=False)
  stage2 = trainer.ConfigNetStage2()
  assert "learning_rate" not in gin.get_bindings("ConfigNetStage2")
  assert stage2.learning_rate == 2e-3
  assert stage2.betas == (0.5, 0.99)
  assert stage2.resolution == 64
  assert stage2.generator_kwargs["constant_size"] == 16
  assert stage2.discriminator_kwargs == {"num_blocks": 4, "base_filters": 16,
                                         "max_filters": 128}
  assert stage2.gan_loss_weight == 0.1
  assert stage2.latent_regression_weight == 1.0
  assert stage2.domain_adversarial_weight == 1.0
  assert stage2.box_loss_weights["g_mouth"][0] == 40.0
  assert stage2.box_loss_weights["g_eye_box"][0] == 40.0
  assert stage2.r1_per_output is False
  assert stage2.ema_decay == 0.99
  assert (stage2.vgg_width, stage2.pixel_l1_weight) == (0.125, 20.0)
  # Stage-2 bindings override the inherited ones.
  assert gin.query_parameter("ConfigNetStage1.landmark_loss_warmup") == (
      500, 1500)
  assert stage2.landmark_loss_warmup == (0, 0)
  assert stage2.image_loss_weight == 5e-4
  assert stage2.encoder_backbone == "small"
  assert stage2.encoder_widths == (16, 32, 64, 128)
  assert trainer.ConfigNetStage1().landmark_loss_warmup == (500, 1500)


def test_paper_config_builds_the_papers_factor_table():
  """paper_256.gin: the paper's k = 12 factors, n = 145, m = 304."""
  from tfface.methods.confignet import factors  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import trainer  # pylint: disable=g-import-not-at-top
  config.parse_config([_repo_gin("confignet", "paper_256.gin")], finalize=False)
  for method in (trainer.ConfigNetStage1(), trainer.ConfigNetStage2()):
    assert len(method.table) == 12
    assert method.table.latent_dim == 145
    assert method.table.theta_dim == 304
    assert method.table.as_dict() == factors.paper_factor_table().as_dict()
    assert method.resolution == 256


def test_synthetic_256_config_builds_tfface_factor_table():
  """synthetic_256.gin: paper_256.gin's recipe on tfface's synthetic table."""
  import gin  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import factors  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import trainer  # pylint: disable=g-import-not-at-top
  config.parse_config([_repo_gin("confignet", "synthetic_256.gin")],
                      finalize=False)
  expected = factors.synthetic_factor_table().as_dict()
  for method in (trainer.ConfigNetStage1(), trainer.ConfigNetStage2()):
    assert method.table.as_dict() == expected
    assert method.resolution == 256
  assert gin.query_parameter("train.max_steps") == 50000
  assert gin.query_parameter("%SYNTHETIC") == (
      "data/synthetic_256/synthetic-*-of-*.tfrecord")


@pytest.mark.parametrize("name", ["tfrecord_256", "liftedgan_256",
                                  "synthetic_64"])
def test_stylegan2_configs_override_ffhq_256(name, tmp_path, monkeypatch):
  """They include ffhq_256.gin by repository path; that resolves from any
  working directory (tfface.config puts the checkout on gin's search path)."""
  import gin  # pylint: disable=g-import-not-at-top
  from tfface.methods.stylegan2 import trainer  # pylint: disable=g-import-not-at-top
  path = _repo_gin("stylegan2", f"{name}.gin")
  assert "include 'gin/stylegan2/ffhq_256.gin'" in open(path).read()
  monkeypatch.chdir(tmp_path)
  config.parse_config([path], finalize=False)
  method = trainer.StyleGAN2Method()
  expected = {"tfrecord_256": (256, "tfrecord", 800000),
              "liftedgan_256": (256, "folder", 300000),
              "synthetic_64": (64, "synthetic", 20000)}[name]
  assert (method.resolution, gin.query_parameter("stylegan2_dataset.source"),
          gin.query_parameter("train.max_steps")) == expected
  # ffhq_256.gin's recipe, inherited.
  assert (method.learning_rate, method.r1_gamma, method.mixing_prob) == (
      0.002, 10.0, 0.9)


def test_tiny_demo_config_overrides_cpu_demo(tmp_path, monkeypatch):
  from tfface.methods.confignet import trainer  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)
  config.parse_config([_repo_gin("confignet", "demo_tiny.gin")],
                      finalize=False)
  stage1 = trainer.ConfigNetStage1()
  assert stage1.resolution == 32
  assert stage1.learning_rate == 2e-3  # cpu_demo.gin's, inherited
  assert trainer.ConfigNetStage2().encoder_widths == (4, 8)
