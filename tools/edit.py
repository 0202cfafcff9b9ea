r"""Embeds a face photo with an exported ConfigNet and edits named factors.

  python tools/edit.py --export_dir=demo_out/export/1 --image=face.png \
      --set=expression:jawOpen=0.9 --set=hair_color=0.8,0.66,0.42 \
      --yaw=20 --output_dir=/tmp/edit

Writes ``input.png``, ``reconstruction.png`` and ``edited.png``. ``--set``
takes ``factor=v1,v2,...`` (a whole factor θ_i) or ``factor:entry=value``
(one entry, e.g. a blendshape by name; θ_i is first recovered from the face
by projected gradient descent). ``--yaw``/``--pitch`` are degrees.

``--align`` (``tfface.analysis.alignment.align_for_export``): ``auto`` (the
default) takes an image that is square at the model's resolution as an
aligned crop and detects and aligns any other (a whole photo) to the crop the
model was trained with (ConfigNet: tfface's synthetic framing at ``--zoom``,
default the export's recorded zoom, else 0.75; ``make demo`` models use 1);
when no face is found, or the detector (``pip install 'tfface[align]'``) is
not installed, one warning line says so and the image is used as it is.
``yes`` always aligns (no face is an ``error:`` line), ``no`` never does.

A flat image is "no face found", one ``error:`` line; an image that is not
aligned and is more than ``--large_image_factor`` times the model's
resolution (or not square) is resized with one warning line saying to what
size; ``input.png`` is the image as the model saw it.
"""

import os

from absl import app
from absl import flags

from tfface import cli

flags.DEFINE_string("export_dir", None, "ConfigNet SavedModel version dir.")
flags.DEFINE_string("image", None, "Face image (PNG/JPEG): an aligned crop "
                    "or a photo (see --align).")
flags.DEFINE_multi_string("set", [], "Factor edits (see above).")
flags.DEFINE_float("yaw", None, "Head yaw in degrees.")
flags.DEFINE_float("pitch", None, "Head pitch in degrees.")
flags.DEFINE_string("output_dir", None, "Where the PNGs go.")
flags.DEFINE_float("large_image_factor", 4.0,
                   "An image more than this many times the model's resolution "
                   "on a side is resized with a warning line.")
flags.DEFINE_enum("align", "auto", ["auto", "yes", "no"],
                  "Detect and align the face first: auto (unless the image is "
                  "square at the model's resolution), yes or no.")
flags.DEFINE_float("zoom", None,
                   "Camera zoom of the model's training faces for the "
                   "alignment crop (default: the export's, else 0.75).")
flags.mark_flags_as_required(["export_dir", "image", "output_dir"])

FLAGS = flags.FLAGS


def main(argv):
  del argv
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfface.analysis import alignment  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import editing  # pylint: disable=g-import-not-at-top
  from tfface.rendering import procedural_model  # pylint: disable=g-import-not-at-top
  image = editing.read_image(FLAGS.image)
  editing.check_face_image(image, FLAGS.image)
  image = alignment.align_for_export(image, FLAGS.export_dir, FLAGS.align,
                                     FLAGS.zoom, source=FLAGS.image)
  names = {"expression": procedural_model.ProceduralFaceModel().expression_names}
  out = editing.edit_image(FLAGS.export_dir, image, FLAGS.set, FLAGS.yaw,
                           FLAGS.pitch, names, source=FLAGS.image,
                           large_factor=FLAGS.large_image_factor)
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  for name in ("input", "reconstruction", "edited"):
    pixels = np.clip((out[name] + 1.0) * 127.5, 0, 255).astype(np.uint8)
    path = os.path.join(FLAGS.output_dir, f"{name}.png")
    tf.io.write_file(path + ".tmp", tf.io.encode_png(pixels))
    os.replace(path + ".tmp", path)
    print(path)
  return 0


def run():
  """Console-script entry point."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
