"""Tests for tfface.rendering.kernel_build (TF Graphics' rebuilt CPU kernel)."""

import os
import subprocess
import sys
import textwrap
import threading

import pytest
import tensorflow as tf

from tfface.rendering import kernel_build

# TF Graphics' own tests that run its CPU rasterizer kernel. splat_test also
# uses it but takes ~20 s more; these three cover the kernel and the two
# modules (barycentrics, interpolate) built on its output.
TFG_KERNEL_TESTS = (
    "tensorflow_graphics.rendering.tests.cpu_rasterization_backend_test",
    "tensorflow_graphics.rendering.tests.barycentrics_test",
    "tensorflow_graphics.rendering.tests.interpolate_test",
)

# Runs TF Graphics' tests in a fresh interpreter with the kernel registered
# first. numpy 2 removed np.math, which rasterization_test_utils still uses.
_BOOTSTRAP = textwrap.dedent("""
    import math, sys, unittest
    import numpy as np
    if not hasattr(np, "math"):
      np.math = math
    from absl import flags
    flags.FLAGS(sys.argv[:1])
    from tfface.rendering import kernel_build
    module = kernel_build.ensure_rasterizer_kernel()
    from tensorflow_graphics.rendering.kernels import rasterization_backend
    assert rasterization_backend.render_ops is module
    suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:])
    result = unittest.TextTestRunner(verbosity=0).run(suite)
    print("RESULT", result.testsRun, len(result.failures), len(result.errors),
          len(result.skipped))
""")


def _built_or_skip():
  try:
    return kernel_build.ensure_rasterizer_kernel()
  except kernel_build.KernelBuildError as e:
    pytest.skip(f"no kernel: {e}")


def test_kernel_loads_and_is_registered_for_tf_graphics():
  module = _built_or_skip()
  assert sys.modules[kernel_build.GEN_MODULE_NAME] is module
  assert os.path.isfile(kernel_build.kernel_path())
  assert kernel_build.kernel_path().startswith(kernel_build.cache_dir())
  assert tf.__version__ in os.path.basename(kernel_build.kernel_path())
  # The raw op rasterizes one triangle covering the image centre.
  clip = tf.constant([[-1.0, -1.0, 0.0, 1.0], [1.0, -1.0, 0.0, 1.0],
                      [0.0, 1.0, 0.0, 1.0]])
  _, ids, z_buffer = module.rasterize_triangles(
      clip, tf.constant([[0, 1, 2]]), 8, 8, 1, 0)
  assert ids.shape == (1, 8, 8)
  assert z_buffer.numpy()[0, 4, 4] == 0.0  # covered, at NDC depth 0
  assert z_buffer.numpy()[0, 7, 0] == 1.0  # top-left corner: background
  # A second call returns the same module without rebuilding.
  assert kernel_build.ensure_rasterizer_kernel() is module


def test_tf_graphics_own_kernel_tests_pass_with_rebuilt_kernel():
  _built_or_skip()
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  proc = subprocess.run(
      [sys.executable, "-c", _BOOTSTRAP, *TFG_KERNEL_TESTS],
      capture_output=True, text=True, env=env, timeout=600, check=False)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")]
  assert proc.returncode == 0 and lines, proc.stderr[-3000:]
  ran, failures, errors, skipped = (int(x) for x in lines[-1].split()[1:])
  assert (failures, errors) == (0, 0), proc.stderr[-3000:]
  # 16 tests; TF Graphics' TestCase skips its inherited test_session stub.
  assert ran - skipped >= 12, (ran, skipped)


def test_second_build_reuses_cached_library(monkeypatch):
  _built_or_skip()
  path = kernel_build.kernel_path()
  mtime = os.path.getmtime(path)

  def no_compile(*args, **kwargs):
    raise AssertionError("compiler invoked although the kernel is cached")

  monkeypatch.setattr(kernel_build.subprocess, "run", no_compile)
  assert kernel_build.build_kernel() == path
  assert os.path.getmtime(path) == mtime


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
  monkeypatch.delenv("TFFACE_CACHE_DIR", raising=False)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert kernel_build.cache_dir() == str(tmp_path / "xdg" / "tfface")
  monkeypatch.setenv("TFFACE_CACHE_DIR", str(tmp_path / "own"))
  assert kernel_build.cache_dir() == str(tmp_path / "own")


def test_missing_compiler_gives_one_line_error_naming_fallback(
    monkeypatch, tmp_path):
  monkeypatch.setenv("TFFACE_CACHE_DIR", str(tmp_path))
  monkeypatch.setenv("CXX", "no-such-compiler-xyz")
  with pytest.raises(kernel_build.KernelBuildError) as info:
    kernel_build.build_kernel()
  message = str(info.value)
  assert "\n" not in message
  assert "no-such-compiler-xyz" in message
  assert 'backend="tf"' in message
  assert not os.listdir(tmp_path) or not any(
      name.endswith(".so") for name in os.listdir(tmp_path))


def test_failed_compilation_leaves_no_library(monkeypatch, tmp_path):
  monkeypatch.setenv("TFFACE_CACHE_DIR", str(tmp_path))
  monkeypatch.setenv("CXX", "false")  # exists, exits 1
  with pytest.raises(kernel_build.KernelBuildError, match="backend=\"tf\""):
    kernel_build.build_kernel()
  assert not [n for n in os.listdir(tmp_path) if n.endswith((".so", ".tmp"))]


def test_concurrent_builds_compile_once(monkeypatch, tmp_path):
  # A fake compiler that is slow and counts its invocations; it writes the
  # file named after -o.
  counter = tmp_path / "count"
  fake = tmp_path / "fake-cxx"
  fake.write_text(textwrap.dedent(f"""\
      #!/bin/sh
      echo x >> {counter}
      sleep 0.5
      while [ "$#" -gt 0 ]; do
        if [ "$1" = "-o" ]; then shift; echo lib > "$1"; fi
        shift
      done
      """))
  fake.chmod(0o755)
  cache = tmp_path / "cache"
  monkeypatch.setenv("TFFACE_CACHE_DIR", str(cache))
  monkeypatch.setenv("CXX", str(fake))
  paths, errors = [], []

  def build():
    try:
      paths.append(kernel_build.build_kernel())
    except Exception as e:  # pylint: disable=broad-except
      errors.append(e)

  threads = [threading.Thread(target=build) for _ in range(3)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert not errors
  assert len(set(paths)) == 1 and os.path.isfile(paths[0])
  assert counter.read_text().count("x") == 1
  assert not [n for n in os.listdir(cache) if n.endswith(".tmp")]
