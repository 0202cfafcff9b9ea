r"""Detects faces in photos and crops them to a method's alignment convention.

  # a folder of photos -> FFHQ-style 1024 px crops for the StyleGAN methods:
  python tools/align_faces.py --input=photos/ --output=aligned/ --preset=ffhq
  # one photo -> the framing a tfface ConfigNet model is trained on, 256 px:
  python tools/align_faces.py --input=me.jpg --output=me_aligned.png \
      --preset=confignet --size=256

Presets (``tfface.analysis.alignment``): ``ffhq`` (the FFHQ recipe),
``deep3d`` (Deep3DFaceRecon's 224 px crop), ``discofacegan`` (its 256 px
crop) and ``confignet`` (tfface's synthetic framing; ``--zoom`` is the
training data's camera zoom, 0.75 by default, 1 for ``make demo`` models).
Faces are found with MTCNN: ``pip install 'tfface[align]'``.

A folder is done image by image into ``--output`` as ``name.png`` (written
to a temporary name, then renamed); a rerun skips the crops already there.
Each image without a face, or file that is not an image, is one warning line;
the last line is a summary. A single photo without a face is an ``error:``
line.
"""

from absl import app
from absl import flags

from tfface import cli

flags.DEFINE_string("input", None, "A photo, or a folder of photos.")
flags.DEFINE_string("output", None,
                    "For a folder: the output folder. For a photo: a .png "
                    "path or a folder.")
flags.DEFINE_string("preset", "ffhq",
                    "Crop convention: ffhq, deep3d, discofacegan or confignet.")
flags.DEFINE_integer("size", None,
                     "Crop size in pixels (default: the preset's, ffhq 1024, "
                     "deep3d 224, discofacegan 256, confignet 256).")
flags.DEFINE_float("zoom", None,
                   "confignet only: the camera zoom of the model's training "
                   "faces (default 0.75, the synthetic dataset's).")
flags.DEFINE_string("padding", None,
                    "Outside the photo: reflect, edge, constant or blur "
                    "(default: the preset's; ffhq blur, deep3d constant, "
                    "confignet reflect).")
flags.mark_flags_as_required(["input", "output"])

FLAGS = flags.FLAGS


def main(argv):
  del argv
  from tfface.analysis import alignment  # pylint: disable=g-import-not-at-top
  preset = alignment.get_preset(FLAGS.preset, FLAGS.zoom)
  report = alignment.align_path(FLAGS.input, FLAGS.output, preset, FLAGS.size,
                                padding=FLAGS.padding)
  print(report.summary())
  return 0


def run():
  """Console-script entry point."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
