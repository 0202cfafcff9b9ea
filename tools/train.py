r"""Trains any tfface method from gin files.

  python tools/train.py --gin_file=gin/confignet/cpu_demo.gin \
      --model_dir=runs/confignet --strategy=mirrored --num_cpu_replicas=2

Flags select the strategy and the run directory; everything else is gin.
Bad input (a gin error, a bad setting, a model_dir that is a file, a full
disk, a NaN loss, an existing run with --noresume) is one ``error:`` line and
exit code 1; ``--verbosity=1`` or ``TFFACE_TRACEBACK=1`` adds the traceback.
"""

from absl import app
from absl import flags
from absl import logging

from tfface import cli

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
  from tfface.training import train_lib  # pylint: disable=g-import-not-at-top
  config.parse_config(FLAGS.gin_file, FLAGS.gin_param)
  losses = train_lib.train(
      model_dir=FLAGS.model_dir, strategy=FLAGS.strategy,
      num_cpu_replicas=FLAGS.num_cpu_replicas, resume=FLAGS.resume,
      max_steps_override=FLAGS.max_steps)
  logging.info("finished: %s", losses)
  return 0


def run():
  """Console-script entry point (``tfface-train``)."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
