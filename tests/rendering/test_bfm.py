"""Tests for tfface.rendering.bfm on a synthetic BFM-format .mat file."""

import os
import re

import numpy as np
import pytest
import scipy.io
import tensorflow as tf

from tfface.rendering import bfm
from tfface.rendering import face_model


@pytest.fixture(scope="module")
def mat_path(tmp_path_factory):
  path = os.path.join(str(tmp_path_factory.mktemp("bfm")), "BFM_front.mat")
  bfm.save_bfm_mat(path, bfm.synthetic_bfm_fields(seed=3))
  return path


@pytest.fixture(scope="module")
def model(mat_path):
  return bfm.BfmFaceModel(mat_path)


def test_file_round_trip_keeps_the_reference_format(mat_path):
  raw = scipy.io.loadmat(mat_path)
  n = raw["meanshape"].shape[1] // 3
  assert raw["meanshape"].shape == (1, 3 * n)
  assert raw["idBase"].shape == (3 * n, 80)
  assert raw["exBase"].shape == (3 * n, 64)
  assert raw["texBase"].shape == (3 * n, 80)
  assert raw["point_buf"].shape == (n, 8)
  assert raw["keypoints"].shape == (1, 68)
  assert raw["tri"].min() == 1  # 1-based
  assert not [f for f in os.listdir(os.path.dirname(mat_path))
              if f.startswith(".tmp")]


def test_interface_basics(model, mat_path):
  raw = scipy.io.loadmat(mat_path)
  assert model.num_vertices == raw["meanshape"].shape[1] // 3
  np.testing.assert_array_equal(model.triangles, raw["tri"] - 1)
  assert model.triangles.dtype == np.int32
  np.testing.assert_array_equal(model.landmark_indices,
                                raw["keypoints"][0] - 1)
  assert list(model.parameter_sizes.items()) == [
      ("identity", 80), ("expression", 64), ("albedo", 80)]
  assert len(model.expression_names) == 64
  regions = model.region_weights()
  assert {"skin", "front", "gan"} <= set(regions)
  np.testing.assert_array_equal(regions["skin"], raw["skinmask"][0])
  front = np.zeros(model.num_vertices)
  front[raw["frontmask2_idx"][:, 0].astype(int) - 1] = 1
  np.testing.assert_array_equal(regions["front"], front)


def test_vertices_and_albedo_match_reference_formulas(model, mat_path):
  raw = scipy.io.loadmat(mat_path)
  n = model.num_vertices
  rng = np.random.default_rng(0)
  params = {
      "identity": rng.normal(size=(2, 80)).astype(np.float32),
      "expression": rng.normal(size=(2, 64)).astype(np.float32),
      "albedo": rng.normal(0, 0.5, size=(2, 80)).astype(np.float32),
  }
  mean = raw["meanshape"].astype(np.float64)
  shape = (mean + params["identity"] @ raw["idBase"].T.astype(np.float64) +
           params["expression"] @ raw["exBase"].T.astype(np.float64))
  shape = shape.reshape(2, n, 3) - mean.reshape(n, 3).mean(0)
  np.testing.assert_allclose(model.vertices(params).numpy(), shape,
                             atol=2e-5)
  tex = (raw["meantex"] + params["albedo"] @ raw["texBase"].T) / 255.0
  np.testing.assert_allclose(model.albedo(params).numpy(),
                             np.clip(tex.reshape(2, n, 3), 0, 1), atol=1e-5)
  # The neutral face is the centred mean shape: centroid at the origin.
  neutral = model.vertices(model.default_parameters(1)).numpy()[0]
  np.testing.assert_allclose(neutral.mean(0), 0.0, atol=1e-5)
  assert neutral[:, 2].max() > 0.2  # face toward +z


def test_point_buf_normals_match_generic_normals_and_face_outward(model):
  params = model.default_parameters(2)
  params["identity"] = tf.random.stateless_normal([2, 80], [1, 2])
  verts = model.vertices(params)
  ours = model.vertex_normals(verts).numpy()
  generic = face_model.vertex_normals(verts, model.all_triangles).numpy()
  # Every grid vertex has at most 6 triangles, so point_buf lists them all.
  np.testing.assert_allclose(ours, generic, atol=1e-5)
  # Outward: away from a point behind the face, toward the camera on +z.
  neutral = model.vertices(model.default_parameters(1))
  normals = model.vertex_normals(neutral).numpy()[0]
  outward = neutral.numpy()[0] - np.float32([0, 0, -1])
  assert np.all(np.sum(normals * outward, -1) > 0)
  assert normals[:, 2].mean() > 0.7


def test_triangle_regions(mat_path):
  raw = scipy.io.loadmat(mat_path)
  front = bfm.BfmFaceModel(mat_path, triangle_region="front")
  idx = raw["frontmask2_idx"][:, 0].astype(int) - 1
  np.testing.assert_array_equal(front.triangles,
                                idx[raw["tri_mask2"].astype(int) - 1])
  # The front triangles are exactly the triangles of `tri` inside the region.
  inside = np.zeros(front.num_vertices, bool)
  inside[idx] = True
  expected = front.all_triangles[np.all(inside[front.all_triangles], 1)]
  np.testing.assert_array_equal(np.sort(front.triangles, 0),
                                np.sort(expected, 0))
  gan = bfm.BfmFaceModel(mat_path, triangle_region="gan")
  assert 0 < len(gan.triangles) < len(gan.all_triangles)
  fields = bfm.synthetic_bfm_fields()
  for key in ("gan_mask", "gan_tl"):
    del fields[key]
  with pytest.raises(ValueError, match="'gan_mask' and 'gan_tl'"):
    bfm.BfmFaceModel(fields, triangle_region="gan")
  with pytest.raises(ValueError, match="triangle_region must be"):
    bfm.BfmFaceModel(fields, triangle_region="eyes")


def test_discofacegan_file_without_skin_fields():
  fields = bfm.synthetic_bfm_fields(rows=8, cols=8)
  for key in ("skinmask", "frontmask2_idx", "tri_mask2"):
    del fields[key]
  model = bfm.BfmFaceModel(fields)
  regions = model.region_weights()
  np.testing.assert_array_equal(regions["front"], regions["gan"])
  np.testing.assert_array_equal(regions["skin"], regions["gan"])


@pytest.mark.parametrize("field, value, message", [
    ("idBase", None, r"missing field 'idBase'"),
    ("exBase", np.zeros([10, 64]), r"'exBase' has shape \(10, 64\); expected "
     r"\(192, 64\)"),
    ("texBase", np.zeros([192, 79]), r"'texBase' .* expected \(192, 80\)"),
    ("meanshape", np.zeros([1, 100]), r"'meanshape' .* expected \(1, 3N\)"),
    ("meantex", np.zeros([1, 9]), r"'meantex' .* expected \(1, 192\)"),
    ("keypoints", np.ones([1, 5]), r"'keypoints' .* expected \(1, 68\)"),
    ("point_buf", np.ones([64, 8]) * 999, r"'point_buf' must hold 1-based"),
    ("tri", np.zeros([5, 3]), r"'tri' must hold 1-based indices in \[1, 64\]"),
])
def test_bad_fields_raise_clear_errors(field, value, message):
  fields = bfm.synthetic_bfm_fields(rows=8, cols=8)
  if value is None:
    del fields[field]
  else:
    fields[field] = value
  with pytest.raises(ValueError, match=message):
    bfm.BfmFaceModel(fields)


@pytest.mark.parametrize("field, index, value", [
    ("idBase", (5, 7), np.nan), ("meanshape", (0, 4), np.inf),
    ("meantex", (0, 0), -np.inf), ("tri", (2, 1), np.nan)])
def test_non_finite_fields_are_rejected_by_name(tmp_path, field, index, value):
  fields = bfm.synthetic_bfm_fields(rows=8, cols=8)
  fields[field] = fields[field].astype(np.float64)
  fields[field][index] = value
  with pytest.raises(ValueError, match=rf"field '{field}' holds 1 non-finite "
                     rf"values .*index \({index[0]}, {index[1]}\)"):
    bfm.BfmFaceModel(fields)
  # Also from a .mat file: the message starts with the file's path.
  path = str(tmp_path / "nan.mat")
  bfm.save_bfm_mat(path, fields)
  with pytest.raises(ValueError, match="^" + re.escape(path) + f": field '{field}' holds"):
    bfm.BfmFaceModel(path)


def test_non_numeric_field_is_rejected_by_name():
  fields = bfm.synthetic_bfm_fields(rows=8, cols=8)
  fields["exBase"] = np.full(fields["exBase"].shape, "x")
  with pytest.raises(ValueError, match=r"field 'exBase' holds .* expected "
                     "numbers"):
    bfm.BfmFaceModel(fields)


def test_missing_or_corrupt_file(tmp_path):
  with pytest.raises(ValueError, match="does not exist"):
    bfm.BfmFaceModel(str(tmp_path / "nope.mat"))
  bad = tmp_path / "bad.mat"
  bad.write_bytes(b"not a mat file at all" * 10)
  with pytest.raises(ValueError, match="not a readable"):
    bfm.BfmFaceModel(str(bad))


def test_split_and_join_coefficients():
  coeffs = tf.reshape(tf.range(2 * 257, dtype=tf.float32), [2, 257])
  parts = bfm.split_coefficients(coeffs)
  assert {k: v.shape[1] for k, v in parts.items()} == {
      "identity": 80, "expression": 64, "albedo": 80, "pose": 3, "sh": 27,
      "translation": 3}
  np.testing.assert_array_equal(parts["expression"].numpy()[0],
                                np.arange(80, 144))
  np.testing.assert_array_equal(parts["pose"].numpy()[0], [224, 225, 226])
  np.testing.assert_array_equal(parts["sh"].numpy()[0], np.arange(227, 254))
  np.testing.assert_array_equal(parts["translation"].numpy()[0],
                                [254, 255, 256])
  np.testing.assert_array_equal(bfm.join_coefficients(parts).numpy(),
                                coeffs.numpy())
  dfg = bfm.split_coefficients(coeffs, layout="discofacegan")
  np.testing.assert_array_equal(dfg["albedo"].numpy()[0], np.arange(80, 160))
  np.testing.assert_array_equal(dfg["expression"].numpy()[0],
                                np.arange(160, 224))
  with pytest.raises(ValueError, match=r"\[\.\.\., 257\]"):
    bfm.split_coefficients(tf.zeros([2, 254]))
  with pytest.raises(ValueError, match="layout must be"):
    bfm.split_coefficients(coeffs, layout="pytorch")


def test_vertices_and_albedo_are_differentiable(model):
  params = {k: tf.Variable(v) for k, v in model.default_parameters(1).items()}
  with tf.GradientTape() as tape:
    loss = (tf.reduce_sum(model.vertices(params) ** 2) +
            tf.reduce_sum(model.albedo(params)))
  grads = tape.gradient(loss, list(params.values()))
  for name, g in zip(params, grads):
    assert g is not None and np.abs(g.numpy()).sum() > 0, name
  with pytest.raises(ValueError, match="missing parameter group 'albedo'"):
    model.albedo({"identity": params["identity"],
                  "expression": params["expression"]})
