"""Builds, caches and registers TF Graphics' CPU rasterizer kernel.

The tensorflow-graphics 2021.12.3 wheel ships a prebuilt ``rasterizer_op.so``
that no longer loads on current TensorFlow (C++ ABI change), but it also ships
the kernel's C++ sources (``tensorflow_graphics/rendering/kernels/
rasterize_triangles_{impl,op}.cc``). :func:`ensure_rasterizer_kernel` compiles
those sources with g++ against the installed TensorFlow on first use (about
15 s), caches the shared library in a user cache directory keyed by the
TensorFlow version, a hash of the sources and the compiler command, loads it
with ``tf.load_op_library`` and registers it in ``sys.modules`` as
``tensorflow_graphics.rendering.kernels.gen_rasterizer_op``. TF Graphics' CPU
backend imports that module name first, so its unmodified code uses the
rebuilt kernel. Nothing in site-packages is written.

The cache directory is ``$TFFACE_CACHE_DIR``, else ``$XDG_CACHE_HOME/tfface``,
else ``~/.cache/tfface``. Concurrent builds (several test workers, several
trainers) are safe: each process compiles to a unique temporary name under a
file lock and renames atomically.
"""

import fcntl
import hashlib
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import types
from typing import List, Optional

import tensorflow as tf

GEN_MODULE_NAME = "tensorflow_graphics.rendering.kernels.gen_rasterizer_op"
_SOURCES = ("rasterize_triangles_impl.cc", "rasterize_triangles_op.cc")
_HEADERS = ("rasterize_triangles_impl.h",)

_lock = threading.Lock()
_loaded_module: Optional[types.ModuleType] = None


class KernelBuildError(RuntimeError):
  """The TF Graphics rasterizer kernel could not be built or loaded."""


def cache_dir() -> str:
  """Returns the directory that holds built kernels (not created here)."""
  explicit = os.environ.get("TFFACE_CACHE_DIR")
  if explicit:
    return os.path.abspath(os.path.expanduser(explicit))
  xdg = os.environ.get("XDG_CACHE_HOME")
  if xdg:
    return os.path.join(os.path.abspath(os.path.expanduser(xdg)), "tfface")
  return os.path.join(os.path.expanduser("~"), ".cache", "tfface")


def kernel_source_dir() -> str:
  """Returns the installed wheel's ``tensorflow_graphics/rendering/kernels``."""
  try:
    spec = importlib.util.find_spec("tensorflow_graphics")
  except (ImportError, ValueError):
    spec = None
  if spec is None or not spec.submodule_search_locations:
    raise KernelBuildError(
        "tensorflow_graphics is not installed; install tensorflow-graphics "
        "2021.12.3 (pip install --no-deps) or use backend=\"tf\".")
  root = list(spec.submodule_search_locations)[0]
  return os.path.join(root, "rendering", "kernels")


def compiler() -> str:
  """Returns the C++ compiler command: ``$CXX`` if set, else ``g++``."""
  return os.environ.get("CXX", "g++")


def _compile_command(sources: List[str], output: str) -> List[str]:
  return ([compiler(), "-std=c++17", "-shared", "-fPIC", "-O2"] + sources +
          ["-o", output] + list(tf.sysconfig.get_compile_flags()) +
          list(tf.sysconfig.get_link_flags()))


def _cache_key(source_dir: str) -> str:
  digest = hashlib.sha256()
  digest.update(tf.__version__.encode())
  for name in _SOURCES + _HEADERS:
    with open(os.path.join(source_dir, name), "rb") as f:
      digest.update(name.encode() + b"\0" + f.read())
  digest.update("\0".join(
      _compile_command(["SRC"], "OUT")).encode())
  return digest.hexdigest()[:16]


def kernel_path() -> str:
  """Returns where the kernel for this TF version and these sources lives."""
  source_dir = kernel_source_dir()
  key = _cache_key(source_dir)
  return os.path.join(
      cache_dir(), f"tfg_rasterizer_op-tf{tf.__version__}-{key}.so")


def build_kernel(force: bool = False) -> str:
  """Compiles the kernel into the cache unless it is there; returns its path.

  Args:
    force: rebuild even if a cached library exists.

  Returns:
    The path of the shared library.

  Raises:
    KernelBuildError: no compiler, missing sources, or a failed compilation.
  """
  source_dir = kernel_source_dir()
  for name in _SOURCES + _HEADERS:
    if not os.path.isfile(os.path.join(source_dir, name)):
      raise KernelBuildError(
          f"{os.path.join(source_dir, name)} is missing from the "
          "tensorflow-graphics wheel; reinstall it or use backend=\"tf\".")
  path = kernel_path()
  if os.path.isfile(path) and not force:
    return path
  if shutil.which(compiler()) is None:
    raise KernelBuildError(
        f"C++ compiler '{compiler()}' not found (set $CXX or install g++) to "
        "build TF Graphics' CPU rasterizer; use backend=\"tf\" (pure "
        "TensorFlow) instead.")
  directory = os.path.dirname(path)
  os.makedirs(directory, exist_ok=True)
  with open(path + ".lock", "w", encoding="utf-8") as lock_file:
    fcntl.flock(lock_file, fcntl.LOCK_EX)
    try:
      if os.path.isfile(path) and not force:
        return path  # Another process built it while we waited.
      fd, tmp = tempfile.mkstemp(
          prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
      os.close(fd)
      try:
        sources = [os.path.join(source_dir, name) for name in _SOURCES]
        proc = subprocess.run(
            _compile_command(sources, tmp), capture_output=True, text=True,
            check=False)
        if proc.returncode != 0:
          last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
          raise KernelBuildError(
              f"compiling TF Graphics' rasterizer kernel failed "
              f"(exit {proc.returncode}): {last}; use backend=\"tf\" instead.")
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
      finally:
        if os.path.exists(tmp):
          os.remove(tmp)
    finally:
      fcntl.flock(lock_file, fcntl.LOCK_UN)
  return path


@tf.autograph.experimental.do_not_convert
def ensure_rasterizer_kernel() -> types.ModuleType:
  """Builds (once), loads and registers TF Graphics' CPU rasterizer kernel.

  Afterwards ``tensorflow_graphics.rendering.kernels.rasterization_backend``
  (and so ``triangle_rasterizer.rasterize(...,
  backend=RasterizationBackends.CPU)``) uses the rebuilt kernel.

  Returns:
    The op module; ``module.rasterize_triangles(...)`` is the raw op.

  Raises:
    KernelBuildError: the kernel could not be built or loaded; the message
      names the pure-TensorFlow fallback ``backend="tf"``.
  """
  global _loaded_module
  with _lock:
    if _loaded_module is not None:
      return _loaded_module
    path = build_kernel()
    try:
      module = tf.load_op_library(path)
    except (tf.errors.NotFoundError, OSError) as e:
      first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
      raise KernelBuildError(
          f"loading the rebuilt rasterizer kernel {path} failed: {first}; "
          "delete it to rebuild, or use backend=\"tf\".") from e
    sys.modules[GEN_MODULE_NAME] = module
    kernels_pkg = importlib.import_module(
        "tensorflow_graphics.rendering.kernels")
    setattr(kernels_pkg, "gen_rasterizer_op", module)
    # If TF Graphics' backend was imported already (it only imports when the
    # op module resolves), point it at this op module as well.
    backend = sys.modules.get(
        "tensorflow_graphics.rendering.kernels.rasterization_backend")
    if backend is not None:
      backend.render_ops = module
    _loaded_module = module
    return module
