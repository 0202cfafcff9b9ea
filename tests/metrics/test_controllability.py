"""Measured control: a perfect generator (the renderer) scores perfectly,
a generator that ignores θ does not."""

import numpy as np
import pytest

from tfface.metrics import controllability
from tests.metrics import faces as test_faces

SIZE = 32


@pytest.fixture(scope="module")
def setup():
  return test_faces.rendered_faces(SIZE, 3)


def _oracle(truth):
  def encode(theta):
    return {k: np.array(v) for k, v in theta.items()}

  def generate(theta, rotation):
    return truth(dict(theta, pose=rotation))["image"]

  return encode, generate


def test_the_renderer_itself_is_a_perfect_generator(setup):
  truth, theta, images = setup
  encode, generate = _oracle(truth)
  result = controllability.evaluate_control(
      encode, generate, theta, images, truth,
      factor_names=["expression", "hair_color", "background"],
      yaw_degrees=(-30, 0, 30))
  rec = result["reconstruction"]
  assert rec["l1_vs_true_render"] < 1e-4 < rec["l1_vs_other_render"]
  assert rec["fraction_closer_to_true"] == 1.0
  # The renderer's own images carry exactly the renders' stripes.
  for orientation, score in result["stripes"].items():
    assert score["generated"] == pytest.approx(score["true"], abs=1e-6)
    assert 0.0 < score["true"] < 1.0, orientation
  grid = result["grid"]
  assert grid["grid_generated"] == pytest.approx(grid["grid_true"])
  assert grid["detail_generated"] == pytest.approx(grid["detail_true"])
  assert grid["grid_true"] >= 1.0
  for name, swap in result["swap"].items():
    assert swap["correlation_with_true_change"] == pytest.approx(1.0), name
    assert swap["generated_change_outside_region"] == pytest.approx(
        swap["true_change_outside_region"], abs=1e-6)
  # Changing the background colour leaves the head alone.
  background = result["swap"]["background"]
  assert background["true_change_outside_region"] < 0.1 * background[
      "true_change_inside_region"]
  assert result["pose"]["yaw_error_degrees_mean"] == 0.0
  assert set(result["sweeps"]) == set(controllability.CONTROL_SWEEPS)
  for name, sweep in result["sweeps"].items():
    assert sweep["correlation_with_true_change"] == pytest.approx(1.0), name
    assert sweep["gain"] == pytest.approx(1.0), name
  # Opening the jaw changes the mouth far more than the rest of the image.
  jaw = result["sweeps"]["jawOpen"]
  assert jaw["true_change_inside_region"] > 5 * jaw[
      "generated_change_outside_region"]


def test_a_generator_that_ignores_theta_scores_badly(setup):
  truth, theta, images = setup
  mean = images.mean(0, keepdims=True)

  def encode(theta):
    return theta

  def generate(z, rotation):
    return np.repeat(mean, len(rotation), 0)

  result = controllability.evaluate_control(
      encode, generate, theta, images, truth, factor_names=["hair_color"],
      yaw_degrees=(-30, 30))
  assert result["reconstruction"]["fraction_closer_to_true"] < 1.0
  swap = result["swap"]["hair_color"]
  assert swap["generated_change_inside_region"] == 0.0
  assert swap["correlation_with_true_change"] == 0.0
  for name, sweep in result["sweeps"].items():
    assert sweep["gain"] == 0.0, name
    assert sweep["true_change_inside_region"] > 0.0, name


def test_a_generator_with_the_control_backwards_correlates_negatively(setup):
  truth, theta, _ = setup
  names = truth.expression_names
  jaw = names.index("jawOpen")

  def generate(theta, rotation):
    flipped = {k: np.array(v, copy=True) for k, v in theta.items()}
    flipped["expression"][:, jaw] = 1.0 - flipped["expression"][:, jaw]
    return truth(dict(flipped, pose=rotation))["image"]

  sweeps = controllability.evaluate_sweeps(
      lambda t: t, generate, theta, truth, controls=["jawOpen"])
  assert list(sweeps) == ["jawOpen"]
  assert sweeps["jawOpen"]["correlation_with_true_change"] == pytest.approx(
      -1.0)
  assert sweeps["jawOpen"]["gain"] == pytest.approx(1.0)
