r"""Trains any tfface method from gin files.

  python tools/train.py --gin_file=gin/confignet/cpu_demo.gin \
      --model_dir=runs/confignet --strategy=mirrored --num_cpu_replicas=2

Flags select the strategy and the run directory; everything else is gin.
"""

import sys

from absl import app
from absl import flags
from absl import logging

flags.DEFINE_multi_string("gin_file", [], "gin files, applied in order.")
flags.DEFINE_multi_string("gin_param", [], "gin bindings, e.g. 'train.max_steps=10'.")
flags.DEFINE_string("model_dir", None, "Run directory (checkpoints, TensorBoard).")
flags.DEFINE_enum("strategy", "default",
                  ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy.")
flags.DEFINE_integer("num_cpu_replicas", 1,
                     "Logical CPU replicas for --strategy=mirrored without GPUs.")
flags.DEFINE_integer("max_steps", None, "Overrides train.max_steps.")
flags.DEFINE_bool("resume", True,
                  "Continue from the newest checkpoint in --model_dir; with "
                  "--noresume an existing run is an error, never overwritten.")
flags.mark_flag_as_required("model_dir")

FLAGS = flags.FLAGS


def main(argv):
  del argv
  from tfface import config  # pylint: disable=g-import-not-at-top
  from tfface.training import loop  # pylint: disable=g-import-not-at-top
  from tfface.training import train_lib  # pylint: disable=g-import-not-at-top
  try:
    config.parse_config(FLAGS.gin_file, FLAGS.gin_param)
    losses = train_lib.train(
        model_dir=FLAGS.model_dir, strategy=FLAGS.strategy,
        num_cpu_replicas=FLAGS.num_cpu_replicas, resume=FLAGS.resume,
        max_steps_override=FLAGS.max_steps)
  except (config.ConfigError, loop.NonFiniteLossError,
          loop.ExistingRunError, ValueError) as e:
    # tfface raises ValueError for bad settings found while building (e.g. a
    # stage-2 run without its stage-1 checkpoint); gin appends the call chain
    # on further lines, which the log keeps and the error line drops.
    logging.error("%s", e)
    print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
    return 1
  logging.info("finished: %s", losses)
  return 0


def run():
  """Console-script entry point (``tfface-train``)."""
  app.run(main)


if __name__ == "__main__":
  run()
