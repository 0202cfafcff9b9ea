"""The pretrained bundle (make pretrained) at seconds-long test settings."""

import json
import os

import pytest

from tfface.analysis import weights
from tfface.methods.analysis import bundle
from tfface.methods.analysis import evaluation
from tfface.networks import stylegan2_weights


@pytest.fixture(scope="module")
def made(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp("bundle"))
  manifest = bundle.make_bundle(directory, bundle.test_settings())
  return directory, manifest


def test_bundle_writes_every_network_with_its_manifest(made):
  directory, manifest = made
  with open(os.path.join(directory, bundle.MANIFEST)) as f:
    assert json.load(f) == manifest
  assert set(manifest["files"]) == set(bundle.NETS) | {"stylegan2"}
  for name in bundle.NETS:
    entry = manifest["files"][name]
    network = weights.load_network(os.path.join(directory, entry["file"]))
    assert network.input_size == entry["input_size"]
    assert entry["kind"] == weights.read_header(
        os.path.join(directory, entry["file"]))["kind"]
    assert entry["accuracy_heldout"], name
    assert entry["steps"] == 3
  generator = stylegan2_weights.load_generator(
      os.path.join(directory, manifest["files"]["stylegan2"]["file"]))
  assert generator.resolution == 16
  assert manifest["tfface_version"]
  for picture in ("analysis_on_stylegan2.png",
                  "stylegan2_samples/samples.png"):
    assert os.path.getsize(os.path.join(directory, picture)) > 100
  # Each net is also a SavedModel with its named signature.
  assert set(manifest["savedmodels"]) == set(bundle.NETS)
  for name, version in manifest["savedmodels"].items():
    meta = os.path.join(directory, version, "assets.extra", "tfface.json")
    with open(meta) as f:
      assert json.load(f)["method"] == name


def test_rerun_skips_finished_stages_and_stage_reruns_one(made, monkeypatch):
  directory, manifest = made
  calls = []
  monkeypatch.setattr(bundle, "train_stage",
                      lambda *a, **k: calls.append(a) or {})
  again = bundle.make_bundle(directory, bundle.test_settings())
  assert not calls
  assert again["files"] == manifest["files"]
  with pytest.raises(ValueError, match="unknown bundle stages"):
    bundle.make_bundle(directory, bundle.test_settings(), ["nope"])


def test_evaluate_weights_measures_a_bundle(made, tmp_path):
  directory, _ = made
  paths = evaluation.bundle_paths(directory)
  assert set(paths) == set(bundle.NETS)
  out = str(tmp_path / "analysis.json")
  result = evaluation.evaluate_weights(
      {"landmarks": paths["landmarks"]},
      os.path.join(directory, "work/data/heldout/labeled-*-of-*.tfrecord"),
      image_size=32, num_faces=24, output_json=out)
  with open(out) as f:
    assert json.load(f) == json.loads(json.dumps(result))
  assert result["faces"] == 25 and "landmarks" in result
  with pytest.raises(ValueError, match="unknown analysis nets"):
    evaluation.evaluate_weights({"eyes": "x.npz"}, "x")
