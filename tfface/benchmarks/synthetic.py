"""Synthetic dataset writer throughput: faces per second, end to end.

  python tools/benchmark.py synthetic --output=bench/synthetic.json

Times `tfface.data.synthetic.write_synthetic_dataset` (factor sampling,
batched rendering, pseudo-real post-processing, PNG encoding, TFRecord
writing) for each mode, backend and image size, after a warm-up call that
traces the renderer. Shards go to a temporary directory that is removed.
"""

import argparse
import shutil
import tempfile
import time
from typing import Dict

from tfface.data import synthetic


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--num_examples", type=int, default=256,
                      help="faces written per timed case")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
  parser.add_argument("--backends", nargs="+", default=["tf", "tfg_cpu"],
                      choices=["tf", "tfg_cpu"])
  parser.add_argument("--modes", nargs="+", default=list(synthetic.MODES),
                      choices=list(synthetic.MODES))
  parser.add_argument("--model_resolution", type=int, default=2)


def run(args) -> Dict[str, object]:
  cases = []
  directory = tempfile.mkdtemp(prefix="tfface-bench-synthetic-")
  try:
    for size in args.sizes:
      for backend in args.backends:
        for mode in args.modes:
          settings = dict(image_size=size, mode=mode, backend=backend,
                          batch_size=args.batch_size, overwrite=True,
                          show_progress=False,
                          model_options={"resolution": args.model_resolution})
          synthetic.write_synthetic_dataset(directory, args.batch_size,
                                            **settings)  # warm-up: tracing
          start = time.perf_counter()
          synthetic.write_synthetic_dataset(directory, args.num_examples,
                                            seed=1, **settings)
          seconds = time.perf_counter() - start
          cases.append({"image_size": size, "backend": backend, "mode": mode,
                        "batch_size": args.batch_size,
                        "num_examples": args.num_examples,
                        "seconds": seconds,
                        "faces_per_second": args.num_examples / seconds})
          print(f"{mode} {size}px {backend}: "
                f"{cases[-1]['faces_per_second']:.1f} faces/s", flush=True)
  finally:
    shutil.rmtree(directory, ignore_errors=True)
  return {"cases": cases}
