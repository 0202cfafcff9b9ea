r"""Measured evaluation of a trained model.

  python tools/evaluate.py confignet --export_dir=demo_out/export/1 \
      --heldout_pattern='demo_out/data/heldout/synthetic-*-of-*.tfrecord' \
      --output_json=demo_out/control.json

``confignet``: reconstruction error vs. the true render and vs. another face,
per-factor swap correlation with the true render change and the change
outside the factor's renderer region, and pose (yaw) accuracy; JSON out.
"""

import json
import sys

from absl import app
from absl import flags

from tfface import cli

flags.DEFINE_string("export_dir", None, "SavedModel version directory.")
flags.DEFINE_string("heldout_pattern", None,
                    "Glob of held-out labeled synthetic shards.")
flags.DEFINE_integer("num_faces", 32, "Held-out faces to measure.")
flags.DEFINE_integer("seed", 0, "Pairing seed.")
flags.DEFINE_string("output_json", "", "Where to write the numbers.")

FLAGS = flags.FLAGS
SUBJECTS = ("confignet",)


def main(argv):
  if len(argv) != 2 or argv[1] not in SUBJECTS:
    print(f"usage: evaluate.py {{{','.join(SUBJECTS)}}} --export_dir=... "
          "--heldout_pattern=...", file=sys.stderr)
    return 2
  if not FLAGS.export_dir or not FLAGS.heldout_pattern:
    raise ValueError("--export_dir and --heldout_pattern are required")
  from tfface.methods.confignet import evaluation  # pylint: disable=g-import-not-at-top
  result = evaluation.evaluate_export(FLAGS.export_dir, FLAGS.heldout_pattern,
                                      FLAGS.num_faces, FLAGS.seed,
                                      FLAGS.output_json)
  for line in evaluation.summary_lines(result):
    print(line)
  if not FLAGS.output_json:
    print(json.dumps(result, indent=2))
  return 0


def run():
  """Console-script entry point."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
