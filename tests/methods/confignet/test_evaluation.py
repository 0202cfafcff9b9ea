"""tools/evaluate.py confignet with the face-analysis meters: a tiny random
ConfigNet export over the synthetic factor table, held-out faces rendered
at the demo's zoom 1, tiny random analysis nets."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfface.analysis import landmarks as landmarks_lib
from tfface.analysis import reconstruction as rec
from tfface.analysis import weights
from tfface.data import sharded_writer
from tfface.data import synthetic
from tfface.methods.confignet import evaluation
from tfface.methods.confignet import export
from tfface.methods.confignet import factors
from tfface.methods.confignet import model

SIZE = 32


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  """(export dir, held-out glob, {role: weights file}, controller)."""
  root = tmp_path_factory.mktemp("confignet_eval")
  heldout = str(root / "heldout")
  synthetic.write_synthetic_dataset(heldout, 3, SIZE, seed=5, batch_size=3,
                                    zoom=1.0, show_progress=False)
  table = factors.synthetic_factor_table()
  tf.keras.utils.set_random_seed(0)
  g = model.Generator(table.latent_dim, SIZE, const_channels=8,
                      channels_3d=(4, 4), channels_3d_post=(4, 4),
                      projection_channels=8, channels_2d=(4,), mlp_units=8)
  e_s = model.SyntheticEncoder(table)
  e_r = model.RealEncoder(table.latent_dim, SIZE, "small", small_widths=(4,))
  g_lat = model.LatentGenerator(table.latent_dim, 8)
  model.build_networks({"g": g, "e_s": e_s, "e_r": e_r, "g_lat": g_lat},
                       table, SIZE)
  module = export.ConfigNetServing(g, e_s, table, e_r, g_lat)
  from tfface.export import savedmodel  # pylint: disable=g-import-not-at-top
  export_dir = savedmodel.export_module(module, str(root / "export"),
                                        module.signatures())
  nets = {}
  for kind, cls, config in (
      ("landmarks", landmarks_lib.LandmarkNet,
       dict(input_size=32, widths=[4, 8, 8], stem_stride=2, heatmap_stride=4,
            head_width=8)),
      ("reconstruction", rec.ReconstructionNet,
       dict(input_size=32, widths=[8, 16], pooled_size=2, hidden=16,
            model_resolution=1))):
    net = cls(**config)
    net(tf.zeros([1, 32, 32, 3]))
    nets[kind] = str(root / f"{kind}.npz")
    weights.save_network(nets[kind], net, config)
  from tfface.methods.confignet import control  # pylint: disable=g-import-not-at-top
  return (export_dir, sharded_writer.shard_pattern(heldout, "synthetic"),
          nets, control.ConfigNetController(g, e_s, table))


def test_evaluate_export_writes_the_measured_figures(setup, tmp_path):
  export_dir, pattern, nets, _ = setup
  out = str(tmp_path / "control.json")
  lines = []
  result = evaluation.evaluate_export(
      export_dir, pattern, num_faces=3, output_json=out,
      reconstruction_weights=nets["reconstruction"],
      landmarks_weights=nets["landmarks"], log=lines.append)
  stored = json.load(open(out))
  assert not lines and not os.path.exists(out + ".tmp")
  assert stored["meters"]["sources"] == nets
  measured = stored["pose"]["measured"]
  assert measured["num_faces"] == 3
  for axis, requested in (("yaw", [-30, -20, -10, 0, 10, 20, 30]),
                          ("pitch", [-10, -5, 0, 5, 10])):
    assert measured[axis]["requested_degrees"] == requested
    for who in ("generated", "true_render"):
      figures = measured[axis][who]
      assert len(figures["mean_achieved_degrees"]) == len(requested)
      assert np.isfinite(figures["slope"])
      assert figures["mean_absolute_error_degrees"] >= 0.0
  for name in ("jawOpen", "mouthSmile", "eyeBlink", "gaze"):
    m = stored["sweeps"][name]["measured"]
    assert m["generated_change"] == pytest.approx(
        m["generated_high"] - m["generated_low"]), name
    if m["gain"] is not None:
      assert m["gain"] == pytest.approx(
          m["generated_change"] / m["true_change"]), name
    # The pixel gain stays alongside.
    assert "gain" in stored["sweeps"][name]
  # Different images (G's vs the renderer's): different readings.
  assert (measured["yaw"]["generated"]["mean_achieved_degrees"] !=
          measured["yaw"]["true_render"]["mean_achieved_degrees"])
  text = list(evaluation.summary_lines(result))
  assert any(line.startswith("stripes (") for line in text)
  assert any(line.startswith("measured yaw") for line in text)
  assert any(line.startswith("measured jawOpen") for line in text)


def test_a_missing_weights_file_skips_its_figures_only(setup, tmp_path):
  export_dir, pattern, nets, _ = setup
  missing = str(tmp_path / "nothing" / "landmarks.npz")
  lines = []
  result = evaluation.evaluate_export(
      export_dir, pattern, num_faces=3,
      reconstruction_weights=nets["reconstruction"],
      landmarks_weights=missing, log=lines.append)
  assert len(lines) == 1 and missing in lines[0]
  assert "make pretrained" in lines[0]
  assert "yaw" in result["pose"]["measured"]
  # Gaze is read from the iris inside the landmark net's eye outline.
  for name in ("jawOpen", "mouthSmile", "eyeBlink", "gaze"):
    assert "measured" not in result["sweeps"][name], name
  assert result["meters"]["skipped"] == lines
  text = list(evaluation.summary_lines(result))
  assert f"not measured: {lines[0]}" in text


def test_the_default_face_count_is_the_demos():
  import inspect  # pylint: disable=g-import-not-at-top
  from tfface import demo  # pylint: disable=g-import-not-at-top
  default = inspect.signature(evaluation.evaluate_export).parameters[
      "num_faces"].default
  assert default == demo.DemoSettings().num_heldout == (
      evaluation.DEFAULT_NUM_FACES)


def test_the_demos_control_json_carries_the_measured_figures(
    setup, tmp_path, capsys, monkeypatch):
  from tfface import demo  # pylint: disable=g-import-not-at-top
  from tfface.metrics import controllability  # pylint: disable=g-import-not-at-top
  _, pattern, nets, controller = setup
  analysis_dir = os.path.dirname(nets["landmarks"])
  faces = demo.heldout_faces(pattern, SIZE, 3)
  path = str(tmp_path / "control.json")
  result = demo.measure_control(controller, faces, 1.0, path, analysis_dir)
  stored = json.load(open(path))
  assert stored["meters"]["sources"] == nets
  assert set(stored["pose"]["measured"]) == {"num_faces", "yaw", "pitch"}
  assert all("measured" in stored["sweeps"][name]
             for name in ("jawOpen", "mouthSmile", "eyeBlink", "gaze"))
  assert result["pose"]["measured"] == stored["pose"]["measured"]
  # An analysis directory without the nets: one line each, no meters.
  seen = {}
  monkeypatch.setattr(controllability, "evaluate_control",
                      lambda *args, **kwargs: seen.update(kwargs) or {})
  empty = str(tmp_path / "no_bundle")
  demo.measure_control(controller, faces, 1.0, path, empty)
  said = capsys.readouterr().out
  for name in ("reconstruction.npz", "landmarks.npz"):
    assert os.path.join(empty, name) in said
  assert said.count("make pretrained") == 2
  assert not seen["meters"].any() and len(seen["meters"].skipped) == 2
  demo.measure_control(controller, faces, 1.0, path, "")
  assert seen["meters"] is None


def test_the_tool_takes_the_weights_flags_and_skips_a_missing_file(
    setup, tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  export_dir, pattern, nets, _ = setup
  repo = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.dirname(os.path.abspath(__file__)))))
  out = str(tmp_path / "control.json")
  missing = str(tmp_path / "landmarks.npz")
  result = subprocess.run(
      [sys.executable, os.path.join(repo, "tools", "evaluate.py"),
       "confignet", f"--export_dir={export_dir}",
       f"--heldout_pattern={pattern}", "--num_faces=2",
       f"--output_json={out}",
       f"--confignet_reconstruction_weights={nets['reconstruction']}",
       f"--confignet_landmarks_weights={missing}"],
      capture_output=True, text=True, cwd=str(tmp_path), timeout=300,
      env=dict(os.environ, PYTHONPATH=repo, TF_CPP_MIN_LOG_LEVEL="3"),
      check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  said = [line for line in result.stderr.splitlines() if missing in line]
  assert said and "make pretrained" in said[0]
  assert "measured yaw" in result.stdout
  stored = json.load(open(out))
  assert stored["num_faces"] == 2
  assert stored["meters"]["sources"] == {
      "reconstruction": nets["reconstruction"]}
  assert "measured" not in stored["sweeps"]["jawOpen"]
