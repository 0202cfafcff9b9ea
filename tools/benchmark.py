r"""Runs one benchmark and writes its JSON.

  python tools/benchmark.py rendering --output=bench/rendering.json
  python tools/benchmark.py stylegan2 --output=bench/stylegan2.json

Each subject is a module ``tfface.benchmarks.<subject>`` with
``add_arguments(parser)`` and ``run(args) -> dict``. The JSON always carries the
machine's measured matmul GFLOP/s for scale.
"""

import argparse
import importlib
import json
import sys

from tfface import cli

SUBJECTS = ("confignet", "rendering", "serving", "stylegan2", "synthetic")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("subject", choices=SUBJECTS)
  parser.add_argument("--output", default=None,
                      help="JSON path (default: print to stdout)")
  known, rest = parser.parse_known_args(argv)
  module = importlib.import_module(f"tfface.benchmarks.{known.subject}")
  sub = argparse.ArgumentParser(prog=f"benchmark.py {known.subject}")
  module.add_arguments(sub)
  args = sub.parse_args(rest)
  from tfface.benchmarks import common  # pylint: disable=g-import-not-at-top
  result = {"subject": known.subject, "machine": common.machine_info()}
  result.update(module.run(args))
  if known.output:
    common.write_json(result, known.output)
    print(f"wrote {known.output}")
  else:
    json.dump(result, sys.stdout, indent=2, sort_keys=True)
    print()
  return 0


def run():
  """Console-script entry point (``tfface-benchmark``)."""
  sys.exit(cli.guard(main)())


if __name__ == "__main__":
  run()
