"""What every benchmark shares: timing, the machine's matmul throughput, JSON."""

import json
import os
import platform
import time
from typing import Callable, Dict

import tensorflow as tf


def time_call(fn: Callable[[], object], warmup: int = 2, iters: int = 10,
              min_seconds: float = 1.0) -> float:
  """Median-free mean seconds per call of ``fn`` after ``warmup`` calls.

  ``fn`` must return tensors; their values are fetched so asynchronous
  execution is included. Runs at least ``iters`` calls and ``min_seconds``.
  """
  for _ in range(warmup):
    tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, fn())
  count, start = 0, time.perf_counter()
  while count < iters or time.perf_counter() - start < min_seconds:
    tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, fn())
    count += 1
  return (time.perf_counter() - start) / count


def matmul_gflops(size: int = 2048, dtype=tf.float32) -> float:
  """Measured float32 matmul GFLOP/s of this machine (2·n³ flops per product)."""
  a = tf.random.normal([size, size], dtype=dtype)
  b = tf.random.normal([size, size], dtype=dtype)
  matmul = tf.function(lambda: tf.matmul(a, b))
  seconds = time_call(matmul, warmup=2, iters=5, min_seconds=1.0)
  return 2.0 * size**3 / seconds / 1e9


def machine_info() -> Dict[str, object]:
  """Host, CPU count, TF version and devices, for reading numbers later."""
  return {
      "platform": platform.platform(),
      "cpu_count": os.cpu_count(),
      "tensorflow": tf.__version__,
      "devices": [d.name for d in tf.config.list_logical_devices()],
      "matmul_gflops": matmul_gflops(),
  }


def write_json(result: Dict[str, object], path: str) -> None:
  """Writes ``result`` to ``path`` atomically (temporary name, then rename)."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2, sort_keys=True)
    f.write("\n")
  os.replace(tmp, path)
