"""The shared PyTorch checkpoint reader, with a stand-in torch module (the
real one is the optional extra and is not installed in CI)."""

import contextlib
import sys
import types

import numpy as np
import pytest

from tfface.networks import torch_checkpoint


class _FakeTensor:
  """What the reader uses of a torch tensor."""

  def __init__(self, array):
    self.array = np.asarray(array)

  def detach(self):
    return self

  def cpu(self):
    return self

  def is_floating_point(self):
    return self.array.dtype.kind == "f"

  def float(self):
    return _FakeTensor(self.array.astype(np.float32))

  def numpy(self):
    return self.array


def _fake_torch(monkeypatch, loaded, allowed_log):
  module = types.ModuleType("torch")

  def load(path, map_location, weights_only):
    assert map_location == "cpu" and weights_only is True
    if isinstance(loaded, Exception):
      raise loaded
    return loaded

  @contextlib.contextmanager
  def safe_globals(classes):
    allowed_log.append(list(classes))
    yield

  module.load = load
  module.serialization = types.SimpleNamespace(safe_globals=safe_globals)
  monkeypatch.setitem(sys.modules, "torch", module)


def test_tensors_become_float32_arrays_through_nested_dicts(tmp_path,
                                                            monkeypatch):
  path = tmp_path / "model.pt"
  path.write_bytes(b"x")
  allowed = []
  _fake_torch(monkeypatch, {
      "g_ema": {"w": _FakeTensor(np.ones([2, 3], np.float16))},
      "step": 7, "ids": _FakeTensor(np.arange(3))}, allowed)
  out = torch_checkpoint.read_torch_file(str(path), allowed_globals=[dict])
  assert out["g_ema"]["w"].dtype == np.float32
  assert out["g_ema"]["w"].shape == (2, 3)
  assert out["ids"].dtype.kind == "i" and out["step"] == 7
  assert allowed == [[dict]]


class _MyError(ValueError):
  pass


def test_refused_and_non_dict_files_are_the_converters_error(tmp_path,
                                                             monkeypatch):
  path = tmp_path / "model.pt"
  path.write_bytes(b"x")
  _fake_torch(monkeypatch, RuntimeError("unsupported global"), [])
  with pytest.raises(_MyError, match="cannot read it .*; keep only models"):
    torch_checkpoint.read_torch_file(str(path), _MyError,
                                     refused_hint="keep only models")
  _fake_torch(monkeypatch, [1, 2], [])
  with pytest.raises(_MyError, match="expected a dict .* got list"):
    torch_checkpoint.read_torch_file(str(path), _MyError)


def test_missing_file_and_missing_torch(tmp_path, monkeypatch):
  with pytest.raises(FileNotFoundError, match="missing.pt"):
    torch_checkpoint.read_torch_file(str(tmp_path / "missing.pt"))
  path = tmp_path / "model.pt"
  path.write_bytes(b"x")
  monkeypatch.setitem(sys.modules, "torch", None)
  with pytest.raises(ImportError, match=r"pip install 'tfface\[torch\]'"):
    torch_checkpoint.read_torch_file(str(path))
