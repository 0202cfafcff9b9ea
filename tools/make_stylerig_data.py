r"""Writes StyleRig's training data from a frozen StyleGAN2 and analysis nets.

  # 16384 codes of the pretrained bundle's 32 px generator, psi 0.7:
  python tools/make_stylerig_data.py --output_dir=data/stylerig_32 \
      --generator=pretrained/stylegan2_32.npz \
      --landmarks=pretrained/landmarks.npz --parser=pretrained/parser.npz \
      --reconstruction=pretrained/reconstruction.npz --num_examples=16384

A rerun with the same flags keeps the finished shards (more --num_examples
adds shards); other settings into the same directory are refused. Read the
result with ``tfface.methods.stylerig.data.stylerig_dataset``.
"""

from absl import app
from absl import flags
from absl import logging

from tfface import cli

flags.DEFINE_string("output_dir", None, "Directory for the shards and spec.")
flags.DEFINE_string("generator", None,
                    "StyleGAN2 weights .npz or StyleGAN2 run directory.")
flags.DEFINE_string("landmarks", None, "Landmark detector weights (.npz).")
flags.DEFINE_string("parser", None, "Face parser weights (.npz).")
flags.DEFINE_string("reconstruction", None,
                    "Optional reconstruction net weights (.npz): its estimate "
                    "of each image is stored (F's optional warm start).")
flags.DEFINE_integer("num_examples", 16384, "Codes to write.")
flags.DEFINE_integer("examples_per_shard", 256, "Codes per shard.")
flags.DEFINE_integer("image_size", None,
                     "Stored (= render) resolution; default the generator's.")
flags.DEFINE_float("truncation_psi", 0.7, "Truncation of the sampled codes.")
flags.DEFINE_integer("seed", 0, "Sampling seed.")
flags.DEFINE_integer("batch_size", 32, "Codes generated together.")
flags.DEFINE_list("mask_classes", ["skin", "brows", "eyes", "lips", "mouth"],
                  "Parser classes of the face mask.")
flags.mark_flags_as_required(["output_dir", "generator", "landmarks",
                              "parser"])
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise ValueError(f"unexpected arguments {argv[1:]}")
  from tfface.methods.stylerig import data  # pylint: disable=g-import-not-at-top
  info = data.make_stylerig_data(
      FLAGS.output_dir, FLAGS.generator, FLAGS.landmarks, FLAGS.parser,
      FLAGS.reconstruction, num_examples=FLAGS.num_examples,
      examples_per_shard=FLAGS.examples_per_shard,
      image_size=FLAGS.image_size, truncation_psi=FLAGS.truncation_psi,
      seed=FLAGS.seed, batch_size=FLAGS.batch_size,
      mask_classes=FLAGS.mask_classes)
  logging.info("%s: wrote shards %s, kept %s", FLAGS.output_dir,
               info["written"], info["kept"])
  return 0


def run():
  """Console-script entry point (``tfface-make-stylerig-data``)."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
