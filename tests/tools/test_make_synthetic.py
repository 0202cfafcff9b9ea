"""tools/make_synthetic.py end to end at 16 px."""

import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from tfface.data import datasets
from tfface.data import synthetic

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
TOOL = os.path.join(REPO, "tools", "make_synthetic.py")


def _run(*args):
  env = dict(os.environ)
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  return subprocess.run([sys.executable, TOOL, *args], env=env, cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def test_writes_shards_and_preview(tmp_path):
  out, preview = tmp_path / "synth", tmp_path / "preview.png"
  result = _run(f"--output_dir={out}", "--num_examples=3", "--image_size=16",
                "--examples_per_shard=2", "--batch_size=2",
                "--model_resolution=1", "--max_yaw=20", "--seed=4",
                f"--preview={preview}", "--preview_size=16",
                "--preview_columns=3")
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(out)) == [
      "synthetic-00000-of-00002.tfrecord", "synthetic-00001-of-00002.tfrecord",
      "synthetic_info.json"]
  assert "3/3" in result.stderr  # the progress line reached the end
  elements = list(datasets.synthetic_dataset(
      str(out / "synthetic-*"), 16, shuffle=False, repeat=False))
  assert len(elements) == 3
  yaw = np.array([e["factors"]["pose"][1] for e in elements])
  assert np.abs(yaw).max() <= np.radians(20.0) + 1e-6
  assert elements[0]["image"].shape == (16, 16, 3)
  # Another process, same settings: byte-identical shards and info.
  again = tmp_path / "again"
  synthetic.write_synthetic_dataset(
      str(again), 3, image_size=16, examples_per_shard=2, batch_size=2,
      model_options={"resolution": 1}, max_yaw_degrees=20.0, seed=4,
      show_progress=False)
  for name in os.listdir(out):
    assert (out / name).read_bytes() == (again / name).read_bytes(), name
  grid = tf.io.decode_png(tf.io.read_file(str(preview))).numpy()
  rows = len(synthetic.PREVIEW_ROWS)
  assert grid.shape[0] == rows * 16 and grid.shape[1] > 3 * 16
  faces = grid[:, -3 * 16:]
  assert faces.std() > 10  # rendered faces, not an empty image
  # The label column: white text on black, a label in every row.
  labels = grid[:, :-3 * 16]
  assert set(np.unique(labels)) == {0, 255}
  assert (labels.reshape(rows, 16, -1, 3) == 255).any(axis=(1, 2, 3)).all()


def test_bad_invocations_give_one_error_line(tmp_path):
  result = _run()
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert "--output_dir" in result.stderr
  result = _run(f"--output_dir={tmp_path}", "--num_examples=0")
  assert result.returncode == 1 and "Traceback" not in result.stderr
  errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert errors == ["error: num_examples must be a positive int, got 0."]
