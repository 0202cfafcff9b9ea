"""The paper's analyses (Tables 1 and 2) on hand-made cases; the embedding
error on the few-step run."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.discofacegan import evaluation
from tfface.methods.discofacegan import lambda_space as ls
from tests.methods.discofacegan.conftest import TinyVAEs


def test_metric_functions_by_hand():
  # Group variances 1 and 0 -> 0.5.
  assert evaluation.group_variance([[[0.0], [2.0]], [[1.0], [1.0]]]) == 0.5
  assert evaluation.total_variance([[0.0, 0.0], [2.0, 4.0]]) == 5.0
  assert evaluation.disentanglement_score({"a": 2.0, "b": 0.5, "c": 4.0},
                                          "a") == pytest.approx(2.0)
  # Ordered pairs: (0, 1) cos 1, (0, 2) and (1, 2) cos 0 -> 2 / 6.
  assert evaluation.mean_pairwise_cosine(
      [[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]]) == pytest.approx(1 / 3)
  with pytest.raises(ValueError, match="M >= 2"):
    evaluation.group_variance([[[1.0]]])


@pytest.fixture(scope="module")
def sampler():
  layout = ls.LambdaLayout()
  tf.keras.utils.set_random_seed(2)
  return ls.LambdaSampler(TinyVAEs(layout), layout)


def test_direction_consistency_linear_is_one_nonlinear_is_lower(sampler):
  rng = np.random.default_rng(0)
  a = tf.constant(rng.standard_normal([sampler.layout.input_dim, 8]),
                  tf.float32)
  linear = lambda x: tf.matmul(x, a)
  for offset in (False, True):
    out = evaluation.direction_consistency(linear, sampler, "exp", 3, 6,
                                           fixed_offset=offset)
    assert out["mean"] == pytest.approx(1.0, abs=1e-5)
    assert out["std"] == pytest.approx(0.0, abs=1e-5)
  # w depends on products of the factors: the direction changes with them.
  entangled = lambda x: tf.sin(3.0 * tf.matmul(x, a))
  out = evaluation.direction_consistency(entangled, sampler, "pose", 3, 6)
  assert out["mean"] < 0.9


def test_disentanglement_scores_separate_clean_from_entangled(sampler):
  layout = sampler.layout

  def reconstruct(images):  # the "images" carry their λ
    flat = images[:, 0, 0, :]
    return {k: v for k, v in layout.split(flat).items()}

  def embed(images):
    return layout.split(images[:, 0, 0, :])["identity"]

  clean = lambda lam, noise: lam[:, None, None, :]
  mix = tf.constant(np.eye(layout.lambda_dim) + 0.5, tf.float32)
  tangled = lambda lam, noise: tf.matmul(lam, mix)[:, None, None, :]
  real = {f: 1.0 for f in ls.FACTORS}
  good = evaluation.disentanglement_scores(clean, sampler, reconstruct, embed,
                                           real, num_groups=4, variations=3,
                                           groups_per_batch=2)
  bad = evaluation.disentanglement_scores(tangled, sampler, reconstruct,
                                          embed, real, num_groups=4,
                                          variations=3, groups_per_batch=2)
  for factor in ls.FACTORS:
    others = [f for f in ls.FACTORS if f != factor]
    assert good[factor][f"variance_{factor}"] > 0
    for f in others:
      assert good[factor][f"variance_{f}"] == pytest.approx(0.0, abs=1e-10)
      assert bad[factor][f"variance_{f}"] > 1e-4
    assert good[factor]["ds"] > 1e6
    assert bad[factor]["ds"] < 1e3


def test_following_reads_slope_correlation_and_degrees():
  rng = np.random.default_rng(3)
  pose = rng.normal(0.0, 0.2, [200, 3])
  # pitch ignored (constant), yaw at half gain, roll exact.
  achieved = np.stack([np.zeros(200), 0.5 * pose[:, 1], pose[:, 2]], -1)
  exp = rng.uniform(0, 1, [200, 4])
  exp[:, 3] = 0.2  # constant in the request: left out of the mean
  out = evaluation.following({"pose": pose, "expression": exp},
                             {"pose": achieved, "expression": -exp})
  assert out["pose"]["pitch"]["r"] == 0.0
  assert out["pose"]["yaw"]["slope"] == pytest.approx(0.5)
  assert out["pose"]["yaw"]["r"] == pytest.approx(1.0)
  assert out["pose"]["roll"]["error_degrees"] == pytest.approx(0.0, abs=1e-9)
  assert out["pose"]["yaw"]["error_degrees"] == pytest.approx(
      np.degrees(np.mean(np.abs(0.5 * pose[:, 1]))))
  assert out["expression"]["r"] == pytest.approx(-1.0)
  assert out["expression"]["r_per_dimension"][3] == 0.0
  assert out["expression"]["r_per_dimension"][0] == pytest.approx(-1.0)
  assert "sh" not in out
  with pytest.raises(ValueError, match="pose must both be"):
    evaluation.following({"pose": pose}, {"pose": pose[:, :2]})


def test_factor_following_separates_a_generator_that_ignores_pose(sampler):
  layout = sampler.layout

  def reconstruct(images):  # the "images" carry their λ
    return layout.split(images[:, 0, 0, :])

  def frozen_pose(lam, noise):
    parts = layout.split(lam)
    parts["pose"] = tf.zeros_like(parts["pose"])
    return layout.join(parts)[:, None, None, :]

  render = lambda lam: lam[:, None, None, :]
  out = evaluation.factor_following(frozen_pose, render, sampler,
                                    reconstruct, num_samples=40,
                                    batch_size=16)
  assert out["samples"] == 40
  for angle in evaluation.POSE_ANGLES:
    assert out["render"]["pose"][angle]["slope"] == pytest.approx(1.0)
    assert out["generated"]["pose"][angle]["r"] == 0.0
  assert out["generated"]["expression"]["r"] == pytest.approx(1.0)
  assert out["render"]["sh"]["r"] == pytest.approx(1.0)


def test_embedding_error_on_the_generators_own_faces(trained):
  method = trained[0]
  g = method.generator_ema
  _, lam, noise = method.sampler.sample(3, tf.constant([4, 4]))
  faces = tf.clip_by_value(g(method.layout.with_noise(lam, noise),
                             noise_mode="const"), -1.0, 1.0)
  out = evaluation.embedding_error(method, faces, steps=20,
                                   learning_rate=0.05, batch_size=2)
  assert out["faces"] == 3 and out["steps"] == 20
  # Its own faces lie in W+: the optimisation gets closer than the start.
  assert out["l1"] < out["l1_start"]
  assert out["loss_end"] < out["loss_start"]
  assert -1.0 <= out["identity_cosine"] <= 1.0
  assert out["landmark_rmse_px"] >= 0.0
  with pytest.raises(ValueError, match="must be \\[N, 16, 16, 3\\]"):
    evaluation.embedding_error(method, faces[:, :8, :8], steps=1)


def test_variation_grids_of_a_run(trained, tmp_path):
  from tfface.methods.discofacegan import editing  # pylint: disable=g-import-not-at-top
  method, _, _, model_dir = trained
  out = editing.variation_grids_run(str(model_dir), str(tmp_path / "v.png"),
                                    num_faces=2, num_columns=3)
  pixels = tf.io.decode_png(tf.io.read_file(out["png"])).numpy()
  r = method.resolution
  gap = max(2, r // 8)
  assert pixels.shape[0] == 2 * 5 * r + gap and pixels.shape[1] > 3 * r
  assert out["rows"][0] == "expression" and out["step"] == 3
  # Drawn at the LOD the run trains at, not the untrained top.
  assert out["lod"] == method.lod_and_alpha_at(3)[0]
  # Row labels left of the faces: white on black.
  assert set(np.unique(pixels[:, :-3 * r])) <= {0, 255}
  assert (pixels[:5 * r, :-3 * r] == 255).any()
  pixels = pixels[:, -3 * r:]
  # The two faces differ; the black gap between them is black.
  assert np.abs(pixels[:5 * r].astype(int) -
                pixels[5 * r + gap:].astype(int)).mean() > 1
  assert pixels[5 * r:5 * r + gap].max() == 0
  with pytest.raises(ValueError, match="num_faces"):
    editing.variation_grids_run(str(model_dir), str(tmp_path / "w.png"), 0)
