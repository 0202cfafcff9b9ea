"""SavedModel export: signatures, fresh-process loading, atomic versions."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.training import subprocess_utils as su
from tests.training import toy_method
from tfface.export import metadata
from tfface.export import savedmodel
from tfface.export import serving
from tfface.export import serving_config


class Scaler(tf.Module):

  def __init__(self):
    super().__init__()
    self.weight = tf.Variable([[1.0, 2.0], [3.0, 4.0]])

  @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
  def apply(self, x):
    return {"y": tf.matmul(x, self.weight)}

  @tf.function(input_signature=[tf.TensorSpec([], tf.float32, name="s")])
  def total(self, s):
    return {"total": tf.reduce_sum(self.weight) * s}


def _export(base):
  module = Scaler()
  return savedmodel.export_module(
      module, str(base), {"apply": module.apply, "total": module.total})


# Loads the export with TensorFlow alone and runs every signature.
_LOADER = """
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
out = {
  "signatures": sorted(loaded.signatures.keys()),
  "apply": loaded.signatures["apply"](x=tf.constant([[1.0, 1.0]]))["y"].numpy().tolist(),
  "total": float(loaded.signatures["total"](s=tf.constant(2.0))["total"].numpy()),
  "tfface_imported": any(m.startswith("tfface") for m in sys.modules),
}
print(json.dumps(out))
"""


def test_fresh_process_without_tfface_runs_each_signature(tmp_path):
  path = _export(tmp_path / "model")
  assert path == str(tmp_path / "model" / "1")
  result = subprocess.run([sys.executable, "-c", _LOADER, path],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert result.returncode == 0, result.stderr[-2000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["signatures"] == ["apply", "total"]
  assert out["apply"] == [[4.0, 6.0]]
  assert out["total"] == 20.0
  assert out["tfface_imported"] is False


def test_saved_model_cli_lists_signatures(tmp_path):
  path = _export(tmp_path / "model")
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  result = subprocess.run([cli, "show", "--all", "--dir", path],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert result.returncode == 0, result.stderr[-2000:]
  assert "signature_def['apply']" in result.stdout
  assert "signature_def['total']" in result.stdout
  assert "shape: (-1, 2)" in result.stdout


def test_versions_increment_and_never_overwrite(tmp_path):
  assert _export(tmp_path).endswith("/1")
  assert _export(tmp_path).endswith("/2")
  module = Scaler()
  with pytest.raises(savedmodel.ExportError, match="already exists"):
    savedmodel.export_module(module, str(tmp_path), {"apply": module.apply},
                             version=1)
  assert sorted(os.listdir(tmp_path)) == ["1", "2"]


def test_fixed_batch_and_missing_signature_are_rejected(tmp_path):
  module = tf.Module()
  module.v = tf.Variable(1.0)
  fixed = tf.function(lambda x: {"y": x * module.v},
                      input_signature=[tf.TensorSpec([4, 2], tf.float32, name="x")])
  with pytest.raises(savedmodel.ExportError, match="fixed batch size 4"):
    savedmodel.export_module(module, str(tmp_path), {"f": fixed})
  loose = tf.function(lambda x: x)
  with pytest.raises(savedmodel.ExportError, match="input_signature"):
    savedmodel.export_module(module, str(tmp_path), {"f": loose})
  assert not os.path.exists(tmp_path / "1")


def test_non_stock_ops_are_rejected_and_nothing_is_left(tmp_path, monkeypatch):
  stock = savedmodel.stock_op_names()
  assert "MatMul" in stock and "StatefulPartitionedCall" in stock
  monkeypatch.setattr(savedmodel, "stock_op_names", lambda: stock - {"MatMul"})
  with pytest.raises(savedmodel.ExportError, match="MatMul"):
    _export(tmp_path)
  assert os.listdir(tmp_path) == []


def test_export_binary_from_a_training_run(tmp_path):
  run_dir, export_dir = tmp_path / "run", tmp_path / "export"
  result = su.run(su.train_command(run_dir))
  assert result.returncode == 0, result.stderr[-2000:]
  result = su.run([sys.executable, os.path.join(su.REPO, "export",
                                                "export_savedmodel.py"),
                   f"--model_dir={run_dir}", f"--export_dir={export_dir}"])
  assert result.returncode == 0, result.stderr[-2000:]
  assert "exported" in result.stdout
  loaded = tf.saved_model.load(str(export_dir / "1"))
  x = np.ones([3, toy_method.IN_DIM], np.float32)
  y = loaded.signatures["predict"](x=tf.constant(x))["y"].numpy()
  path = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
  kernel = tf.train.load_variable(
      path, "ema_model/dense/_kernel/.ATTRIBUTES/VARIABLE_VALUE")
  bias = tf.train.load_variable(
      path, "ema_model/dense/bias/.ATTRIBUTES/VARIABLE_VALUE")
  np.testing.assert_allclose(y, x @ kernel + bias, rtol=1e-5)
  # The export conventions: serving_default, metadata, TF Serving files.
  default = loaded.signatures["serving_default"](x=tf.constant(x))["y"]
  np.testing.assert_allclose(default.numpy(), y)
  meta = json.loads(loaded.signatures["metadata"]()["json"].numpy())
  assert meta == metadata.read_metadata(str(export_dir / "1"))
  assert meta["method"] == "toy_regression"
  assert meta["serving_default"] == "predict"
  assert meta["signatures"]["predict"]["inputs"][0]["shape"] == [
      "B", toy_method.IN_DIM]
  config = (export_dir / "models.config").read_text()
  assert f'base_path: "{export_dir}"' in config
  assert 'name: "toy_regression"' in config
  assert "max_batch_size" in (export_dir / "batching_parameters.txt"
                              ).read_text()
  warmup = serving_config.read_warmup_requests(str(export_dir / "1"))
  assert sorted(r.model_spec.signature_name for r in warmup) == [
      "predict", "serving_default"]
  for request in warmup:
    assert request.model_spec.name == "toy_regression"
    assert "y" in serving.grpc_outputs(serving.predict_locally(loaded,
                                                               request))


def test_export_binary_without_checkpoint_is_one_line_error(tmp_path):
  (tmp_path / "run").mkdir()
  (tmp_path / "run" / "operative_config.gin").write_text(
      open(su.TOY_GIN).read())
  result = su.run([sys.executable, os.path.join(su.REPO, "export",
                                                "export_savedmodel.py"),
                   f"--model_dir={tmp_path / 'run'}",
                   f"--export_dir={tmp_path / 'export'}"])
  assert result.returncode == 1
  assert "Traceback" not in result.stderr
  assert "no checkpoint in" in result.stderr
