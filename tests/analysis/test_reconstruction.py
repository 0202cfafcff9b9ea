"""The reconstruction net: layouts, ranges, any-size input, mesh landmarks."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.analysis import backbone as backbone_lib
from tfface.analysis import reconstruction as rec
from tfface.analysis import weights
from tfface.data import synthetic
from tfface.methods.analysis import data

SIZE = 32


@pytest.fixture(scope="module")
def labeled(tmp_path_factory):
  """One batch of a tiny labeled set (both render styles)."""
  directory = str(tmp_path_factory.mktemp("labeled"))
  synthetic.write_synthetic_dataset(directory, 24, SIZE, mode=synthetic.LABELED,
                                    views_per_identity=3, show_progress=False)
  dataset = data.analysis_dataset(
      12, f"{directory}/labeled-*.tfrecord", image_size=SIZE, shuffle=False)
  return next(iter(dataset))


def _net(**kwargs):
  config = dict(input_size=SIZE, widths=(8, 16), pooled_size=2, hidden=16)
  config.update(kwargs)
  return rec.ReconstructionNet(**config)


def test_procedural_groups_match_the_face_model_and_data(labeled):
  model = rec.procedural_model(2)
  for name, size, _ in rec.PROCEDURAL_GROUPS:
    if name in model.parameter_sizes:
      assert model.parameter_sizes[name] == size, name
    assert labeled["factors"][name].shape[-1] == size, name
  assert rec.PROCEDURAL_SLICES["translation"] == (94, 97)


def test_bfm_slices_are_the_converted_rnets():
  from tfface.analysis import public_nets  # pylint: disable=g-import-not-at-top
  assert rec.BFM_257_SLICES == public_nets.BFM_257_SLICES
  assert rec.BFM_257_SLICES == {
      "identity": (0, 80), "expression": (80, 144), "albedo": (144, 224),
      "pose": (224, 227), "sh": (227, 254), "translation": (254, 257)}
  net = _net(layout="bfm257")
  out = net(tf.random.uniform([2, SIZE, SIZE, 3], -1, 1))
  assert out["coefficients"].shape == (2, 257)
  assert "landmarks" not in out
  for name, (start, stop) in rec.BFM_257_SLICES.items():
    np.testing.assert_array_equal(out[name], out["coefficients"][:, start:stop])
  with pytest.raises(ValueError, match="BfmFaceModel"):
    net.landmarks(tf.zeros([1, SIZE, SIZE, 3]))


def test_ground_truth_factors_reproduce_the_dataset_landmarks(labeled):
  model = rec.procedural_model(2)
  points = rec.landmarks_from_coefficients(labeled["factors"], model, SIZE)
  assert points.shape == (12, 68, 2)
  error = np.abs(points.numpy() - labeled["landmarks"].numpy()).max()
  assert error < 0.05
  # At twice the size, with the dataset's camera at that size.
  twice = rec.landmarks_from_coefficients(labeled["factors"], model, 2 * SIZE)
  assert np.abs(twice.numpy() - 2 * labeled["landmarks"].numpy()).max() < 0.1
  # The flat vector of the net's groups gives the same points (the hair
  # shell moves no landmark vertex; the beard's does and is in the layout).
  flat = tf.concat([labeled["factors"][name]
                    for name, _, _ in rec.PROCEDURAL_GROUPS], -1)
  from_flat = rec.landmarks_from_coefficients(flat, model, SIZE)
  assert np.abs(from_flat.numpy() - labeled["landmarks"].numpy()).max() < 0.05
  # Without the beard the jaw line moves: the beard group is needed.
  bare = dict(labeled["factors"])
  del bare["beard_style"]
  bare_points = rec.landmarks_from_coefficients(bare, model, SIZE)
  bearded = labeled["factors"]["beard_style"][:, 0].numpy() > 0.5
  if bearded.any():
    jaw = np.abs(bare_points.numpy() - labeled["landmarks"].numpy())[
        bearded, :17].max()
    assert jaw > 0.05


def test_outputs_ranges_and_the_flat_vector():
  net = _net()
  images = tf.random.uniform([3, SIZE, SIZE, 3], -1, 1, seed=1)
  out = net(images, training=False)
  assert out["coefficients"].shape == (3, 97)
  for name, (start, stop) in rec.PROCEDURAL_SLICES.items():
    np.testing.assert_array_equal(out[name], out["coefficients"][:, start:stop])
  for name in ("expression", "beard_style"):
    values = out[name].numpy()
    assert values.min() >= 0.0 and values.max() <= 1.0
  assert out["landmarks"].shape == (3, 68, 2)
  assert np.all(np.isfinite(out["landmarks"].numpy()))
  # Different images give different coefficients.
  other = net(-images, training=False)
  assert np.abs(other["pose"].numpy() - out["pose"].numpy()).max() > 1e-6


def test_sigmoid_heads_start_at_their_prior():
  net = _net()
  net(tf.zeros([1, SIZE, SIZE, 3]), training=False)
  for name, prior in rec.SIGMOID_PRIORS.items():
    bias = net.heads[name].bias.numpy()
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-bias)), prior, rtol=1e-5)
  assert not np.any(net.heads["pose"].bias.numpy())


def test_any_size_input_and_landmarks_at_the_input_size():
  net = _net()
  images = tf.random.uniform([2, 2 * SIZE, 2 * SIZE, 3], -1, 1, seed=2)
  big = net(images, training=False)
  small = net(backbone_lib.resize_to(images, SIZE), training=False)
  np.testing.assert_allclose(big["pose"], small["pose"], atol=1e-5)
  # The mesh landmarks project with the camera at the caller's size.
  expected = rec.landmarks_from_coefficients(big, net.face_model(), 2 * SIZE,
                                             net.zoom)
  np.testing.assert_allclose(big["landmarks"], expected, atol=1e-3)
  np.testing.assert_allclose(big["landmarks"], 2 * small["landmarks"],
                             atol=1e-3)
  np.testing.assert_allclose(net.landmarks(images), big["landmarks"],
                             atol=1e-5)
  # A dynamic-size call (e.g. a serving signature) works too.
  fn = tf.function(lambda x: net(x, training=False)["landmarks"],
                   input_signature=[tf.TensorSpec([None, None, None, 3])])
  np.testing.assert_allclose(fn(images), big["landmarks"], atol=1e-3)


def test_zeros_input_is_in_range_of_any_image_convention():
  # [-1, 1] input: an all -1 and an all +1 image both give finite outputs.
  net = _net()
  for value in (-1.0, 1.0):
    out = net(tf.fill([1, SIZE, SIZE, 3], value))
    assert all(np.all(np.isfinite(v.numpy())) for v in out.values())


@pytest.mark.parametrize("kwargs, match", [
    (dict(layout="flame"), "layout"),
    (dict(backbone="vgg"), "backbone"),
    (dict(pooled_size=3), "pooled_size"),
    (dict(input_size=30), "multiple"),
])
def test_bad_settings_are_one_clear_error(kwargs, match):
  with pytest.raises(ValueError, match=match):
    _net(**kwargs)


def test_weights_file_round_trip(tmp_path):
  config = dict(input_size=SIZE, widths=[8, 16], pooled_size=2, hidden=16)
  net = rec.ReconstructionNet(**config)
  images = tf.random.uniform([2, SIZE, SIZE, 3], -1, 1, seed=3)
  net(images)
  for variable in net.trainable_variables:  # not the initial values
    variable.assign(variable + 0.01)
  path = str(tmp_path / "rec.npz")
  weights.save_network(path, net, config, {"note": "test"})
  assert "reconstruction" in weights.registered_kinds()
  loaded = weights.load_network(path)
  assert isinstance(loaded, rec.ReconstructionNet)
  assert loaded.weights_metadata == {"note": "test"}
  expected, got = net(images, training=False), loaded(images, training=False)
  for key in expected:
    np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-5)


def test_resnet50_backbone_builds():
  net = rec.ReconstructionNet(input_size=32, backbone="resnet50", hidden=0)
  out = net(tf.zeros([1, 48, 48, 3]))
  assert out["coefficients"].shape == (1, 97)
  assert out["landmarks"].shape == (1, 68, 2)
