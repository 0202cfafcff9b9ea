r"""Trains the pretrained bundle: tfface's own frozen face-analysis nets and StyleGAN2.

  python tools/make_pretrained.py --output_dir=pretrained      # make pretrained
  python tools/make_pretrained.py --output_dir=pretrained --stages=identity

Writes ``<output_dir>/{reconstruction,landmarks,identity,parser}.npz``
(load with ``tfface.analysis.weights.load_network``), ``stylegan2_32.npz``
(``tfface.networks.load_stylegan2_generator``), sample and overlay PNGs and
``manifest.json`` (each file's role, input conventions, held-out accuracy,
the tfface version). About 45 minutes on 2 CPU cores. Interrupted, it
resumes: rerun the same command (datasets keep their shards, training runs
their checkpoints, finished stages are skipped). ``--stages`` reruns the
named stages only.
"""

from absl import app
from absl import flags
from absl import logging

from tfface import cli

flags.DEFINE_string("output_dir", "pretrained", "The bundle directory.")
flags.DEFINE_list("stages", [],
                  "Run only these stages (data, reconstruction, landmarks, "
                  "identity, parser, stylegan2, report); empty: all, "
                  "skipping finished ones.")
flags.DEFINE_bool("test_settings", False,
                  "Seconds-long tiny settings (tests and smoke runs).")

FLAGS = flags.FLAGS


def main(argv):
  del argv
  from tfface.methods.analysis import bundle  # pylint: disable=g-import-not-at-top
  settings = bundle.test_settings() if FLAGS.test_settings else None
  manifest = bundle.make_bundle(FLAGS.output_dir, settings,
                                FLAGS.stages or None)
  for name, entry in manifest["files"].items():
    logging.info("%s: %s", name, entry["file"])
  print(f"wrote the pretrained bundle to {FLAGS.output_dir} "
        f"(manifest.json; {len(manifest['files'])} networks)")
  return 0


def run():
  """Console-script entry point."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
