r"""``make demo``: ConfigNet trained end to end on the CPU (tfface.demo).

  python tools/demo.py --output_dir=demo_out [--vgg19_weights=FILE] [--tiny]

Renders the synthetic data, trains ConfigNet stage 1, stage 2 and the latent
GAN, exports the SavedModel, writes ``controls.png`` and measures control on
held-out faces (see :mod:`tfface.demo`). The training settings are
``gin/confignet/cpu_demo.gin``'s (``--tiny``: ``gin/confignet/demo_tiny.gin``,
seconds, for tests); ``--gin_file`` names another, ``--gin_param`` binds over
it, e.g. ``--gin_param="ConfigNetStage1.learning_rate = 1e-3"``.
"""

import os

from absl import app
from absl import flags
from absl import logging

from tfface import cli

flags.DEFINE_string("output_dir", "demo_out", "Where everything is written.")
flags.DEFINE_string("vgg19_weights", None,
                    "Keras VGG-19 (include_top=False) weights file for the "
                    "perceptual loss; without it a fallback is used.")
flags.DEFINE_bool("tiny", False,
                  "Tiny settings (seconds; for tests): demo_tiny.gin and "
                  "small datasets.")
flags.DEFINE_string("gin_file", None,
                    "The training config; default gin/confignet/cpu_demo.gin "
                    "(with --tiny: gin/confignet/demo_tiny.gin).")
flags.DEFINE_multi_string("gin_param", [],
                          "gin bindings over --gin_file, e.g. "
                          "'ConfigNetStage1.learning_rate = 1e-3'.")
flags.DEFINE_integer("stage1_steps", None,
                     "Overrides the stage-1 steps (train.max_steps).")
flags.DEFINE_integer("stage2_steps", None,
                     "Overrides the stage-2 steps (the STAGE2_STEPS macro).")

FLAGS = flags.FLAGS


def main(argv):
  del argv
  if logging.get_verbosity() < logging.INFO:  # keep a --verbosity=1
    logging.set_verbosity(logging.INFO)
  if FLAGS.vgg19_weights and not os.path.isfile(FLAGS.vgg19_weights):
    raise FileNotFoundError(
        f"--vgg19_weights {FLAGS.vgg19_weights!r} does not exist; expected a "
        "Keras VGG-19 no-top weights .h5 file")
  for name in ("stage1_steps", "stage2_steps"):
    if getattr(FLAGS, name) is not None and getattr(FLAGS, name) < 1:
      raise ValueError(f"--{name} must be a positive number of steps, got "
                       f"{getattr(FLAGS, name)}")
  from tfface import demo  # pylint: disable=g-import-not-at-top
  settings = demo.tiny_settings() if FLAGS.tiny else demo.DemoSettings()
  if FLAGS.gin_file:
    settings.gin_file = FLAGS.gin_file
  params = list(FLAGS.gin_param)
  if FLAGS.stage1_steps is not None:
    params.append(f"train.max_steps = {FLAGS.stage1_steps}")
  if FLAGS.stage2_steps is not None:
    params.append(f"{demo.STAGE2_STEPS_MACRO} = {FLAGS.stage2_steps}")
  demo.run_demo(FLAGS.output_dir, settings, FLAGS.vgg19_weights, params)
  return 0


def run():
  """Console-script entry point (``tfface-demo``)."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
