r"""Encodes a photo folder with a frozen latent autoencoder into a codes table.

The table is what the conditional latent GANs train on (the reference's
``Embedding_CelebA64.pth``):

  python tools/encode_latents.py --autoencoder=runs/latent/acai_celeba_64 \
      --images=celeba/img_align_celeba \
      --attributes=celeba/list_attr_celeba.txt \
      --output=data/celeba/acai_64_codes.npz
  python tools/train.py --gin_file=gin/latent/cgan_celeba_64.gin ...

``--framing``: ``stretch`` (the whole photo resized to the square, as the
reference's ACAI notebooks read CelebA), ``celeba_128`` (ALAE's centred
128 px crop 15 px down) or ``center`` (largest centred square). The job
writes resumable chunks next to ``--output``; a rerun continues.
"""

from absl import app
from absl import flags

from tfface import cli

flags.DEFINE_string("autoencoder", None,
                    "A latent autoencoder run directory or weights file "
                    "(ACAI, ALAE, the baseline).")
flags.DEFINE_string("images", None, "The photo folder.")
flags.DEFINE_string("attributes", None,
                    "Optional CelebA-format attribute file; only its images "
                    "are encoded, in its order.")
flags.DEFINE_string("output", None, "The codes table .npz to write.")
flags.DEFINE_enum("framing", "stretch", ["stretch", "celeba_128", "center"],
                  "How a photo becomes the encoder's square input.")
flags.DEFINE_integer("image_size", None,
                     "Encoder input size (default: the autoencoder's).")
flags.DEFINE_integer("batch_size", 64, "Encoder batch.")
flags.DEFINE_integer("max_images", None, "Encode only the first N images.")
flags.mark_flags_as_required(["autoencoder", "images", "output"])

FLAGS = flags.FLAGS


def main(argv):
  del argv
  from tfface.methods.latent import celeba  # pylint: disable=g-import-not-at-top
  table = celeba.encode_folder(
      FLAGS.autoencoder, FLAGS.images, FLAGS.output,
      attributes_path=FLAGS.attributes, image_size=FLAGS.image_size,
      framing=FLAGS.framing, batch_size=FLAGS.batch_size,
      max_images=FLAGS.max_images)
  print(f"wrote {FLAGS.output}: {table['z'].shape[0]} codes of "
        f"{table['z'].shape[1]} dims")
  return 0


def run():
  """Console-script entry point."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
