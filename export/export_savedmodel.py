r"""Exports a trained run as a SavedModel for TF Serving.

  python export/export_savedmodel.py --model_dir=runs/confignet \
      --export_dir=exports/confignet

Writes ``<export_dir>/<version>/`` (the next free version number) with the
method's named signatures, ``serving_default``, ``metadata``,
``assets.extra/tfface.json`` and TF Serving warm-up requests, and
``<export_dir>/models.config`` and ``batching_parameters.txt`` for
``tensorflow_model_server``; ``saved_model_cli show --all --dir ...`` lists
the signatures.
"""

from absl import app
from absl import flags

from tfface import cli

flags.DEFINE_string("model_dir", None, "Run directory written by tools/train.py.")
flags.DEFINE_string("export_dir", None, "Base directory of the served model.")
flags.DEFINE_multi_string("gin_param", [], "Extra gin bindings.")
flags.DEFINE_string("model_name", None,
                    "Name TF Serving serves the model under (models.config, "
                    "warm-up requests); default the method's name.")
flags.mark_flags_as_required(["model_dir", "export_dir"])
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from tfface.export import from_run  # pylint: disable=g-import-not-at-top
  # ConfigError and ExportError are ValueErrors: one line through cli.guard.
  path = from_run.export_run(FLAGS.model_dir, FLAGS.export_dir,
                             FLAGS.gin_param, FLAGS.model_name)
  print(f"exported {path}")
  print(f"TF Serving config: {FLAGS.export_dir}/models.config")
  return 0


def run():
  """Console-script entry point (``tfface-export``)."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
