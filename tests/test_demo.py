"""`make demo`'s code path end to end at a tiny setting, then its outputs:
the SavedModel, the control sheet, the evaluation and the edit tool."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfface import demo


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
  tile = settings.image_size * 2
  assert png.shape[0] == len(demo.ROWS) * tile
  assert png.shape[1] > settings.columns * tile
  summary = json.load(open(os.path.join(out, "demo_summary.json")))
  assert summary["controls_png"] == paths["controls_png"]


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
