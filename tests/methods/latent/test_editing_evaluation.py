"""Editing (PNG grids from exports) and the evaluation's JSON, on tiny
random-weight exports with stand-in landmark and identity nets."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.methods.latent import conftest as fx
from tfface.methods.latent import editing
from tfface.methods.latent import evaluation


@pytest.fixture(scope="module")
def face_files(faces, tmp_path_factory):
  tmp = tmp_path_factory.mktemp("face_pngs")
  table = evaluation.read_faces(faces, 16, max_faces=4)
  paths = []
  for i, image in enumerate(table["image"][:2]):
    path = str(tmp / f"face{i}.png")
    editing.write_png(path, np.clip((image + 1) * 127.5 + 0.5, 0, 255).astype(
        np.uint8))
    paths.append(path)
  return paths, table


def test_attribute_edit_grid(exports, face_files, tmp_path):
  paths, _ = face_files
  out = editing.edit_latent(exports["cgan"][0], paths,
                            str(tmp_path / "edit.png"))
  assert out["columns"] == ["input", "reconstruction", "none", "beard"]
  grid = tf.io.decode_png(tf.io.read_file(out["png"])).numpy()
  assert grid.shape == (2 * 18 + 2, 4 * 18 + 2, 3)
  only = editing.edit_attributes(exports["cgan"][0],
                                 np.zeros([1, 16, 16, 3], np.float32),
                                 ["beard"])
  assert only["edits"].shape == (1, 1, 16, 16, 3)
  with pytest.raises(ValueError, match="unknown class 'red'"):
    editing.edit_attributes(exports["cgan"][0],
                            np.zeros([1, 16, 16, 3], np.float32), ["red"])


def test_keypoint_transfer_grid(exports, face_files, tmp_path):
  paths, table = face_files
  keypoints_file = str(tmp_path / "target.npy")
  np.save(keypoints_file, table["landmarks"][2:3])
  out = editing.edit_latent(exports["mapper"][0], paths,
                            str(tmp_path / "kp.png"),
                            target_keypoints=keypoints_file)
  assert out["columns"] == ["source", "reconstruction", "transferred"]
  detected = editing.transfer_keypoints(
      exports["mapper"][0], table["image"][:2], table["image"][2:4],
      landmarks_weights=fx.StandInLandmarks())
  assert detected["keypoints"].shape == (2, 68, 2)
  with pytest.raises(ValueError, match="expected a conditional latent GAN or "
                     "a keypoint mapper"):
    editing.edit_latent(exports["acai"][0], paths, str(tmp_path / "x.png"))


def test_evaluation_json_side_by_side(exports, faces, tmp_path):
  mapper = exports["mapper"][0]
  evaluation.evaluate_latent(
      faces, autoencoders={"acai": exports["acai"][0]},
      cgan_export=exports["cgan"][0],
      mappers={"fixed": mapper, "reference_cancelled": mapper},
      baseline_export=exports["baseline"][0],
      landmarks_weights=fx.StandInLandmarks(),
      identity_weights=fx.StandInIdentity(),
      heldout_modulus=fx.HELDOUT_MODULUS, max_pairs=8, neighbours=5,
      output_json=str(tmp_path / "latent.json"), png_dir=str(tmp_path / "png"))
  written = json.loads((tmp_path / "latent.json").read_text())
  assert written["faces"] == {"train": 24, "heldout": 8}
  for name in ("autoencoder_acai", "baseline", "cgan", "mapper_fixed"):
    r = written["reconstruction"][name]
    assert r["faces"] == 8 and 0 < r["mse"] < 1 and r["psnr"] > 0
  control = written["attribute_control"]
  assert control["condition"]["classes"] == ["none", "beard"]
  assert 0 <= control["acceptance"] <= 1 and 0 <= control["judge_accuracy"] <= 1
  assert control["edits"] == control["faces"] and control["cycle_l1"] >= 0
  methods = written["keypoint_transfer"]["methods"]
  assert set(methods) == {
      "mapper_fixed", "mapper_reference_cancelled",
      "arithmetic_on_fixed_codes", "arithmetic_on_reference_cancelled_codes",
      "baseline_arithmetic", "baseline_no_edit", "no_edit", "oracle_target"}
  for m in methods.values():
    assert m["nme"] > 0 and -1 <= m["identity_similarity"] <= 1
  assert methods["mapper_fixed"] == methods["mapper_reference_cancelled"]
  assert written["keypoint_transfer"]["pairs"] == 8
  for path in written["png"].values():
    assert os.path.isfile(path)
  # Without a detector, a ridge probe on the codes measures the keypoints.
  probe = evaluation.evaluate_latent(
      faces, mappers={"fixed": mapper}, heldout_modulus=fx.HELDOUT_MODULUS,
      max_pairs=4, neighbours=5)
  fixed = probe["keypoint_transfer"]["methods"]["mapper_fixed"]
  assert fixed["probe_nme_floor"] > 0 and "identity_similarity" not in fixed
  assert probe["keypoint_transfer"]["keypoint_measure"].startswith("ridge")


def test_judges_and_probes_fit_what_they_can():
  rng = np.random.default_rng(0)
  z = rng.standard_normal([200, 4]).astype(np.float32)
  labels = (z[:, 0] + 0.5 * z[:, 1] > 0).astype(np.int32)
  judge = evaluation.SoftmaxJudge(z, labels, 2, steps=200)
  assert np.mean(judge.predict(z) == labels) > 0.95
  targets = z @ rng.standard_normal([4, 3]).astype(np.float32)
  probe = evaluation.RidgeProbe(z, targets, l2=1e-3)
  np.testing.assert_allclose(probe.predict(z), targets, atol=1e-2)
