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
default the export's recorded zoom, which ConfigNet exports take from their
training faces' info, e.g. 1 for ``make demo``'s; else 0.75);
when no face is found, or the detector (``pip install 'tfface[align]'``) is
not installed, one warning line says so and the image is used as it is.
``yes`` always aligns (no face is an ``error:`` line), ``no`` never does.

``latent`` (``tools/edit.py latent``): with a conditional latent GAN export
(issue: conditional latent models) it changes an attribute of each face,
one column per ``--label`` (default every class); with a keypoint-mapper
export it transfers the keypoints of ``--target_image`` faces (found with
``--landmarks_weights``, a landmark-net weights file) or of
``--target_keypoints`` (an ``.npy`` `[N or 1, 68, 2]` in pixels) onto the
``--image`` faces (comma-separated). Writes ``latent_edit.png``::

  python tools/edit.py latent --export_dir=runs/cgan_export/1 \
      --image=a.png,b.png --label=blond --label=black --output_dir=/tmp/edit

``stylerig`` (``tools/edit.py stylerig``): ``--export_dir`` lists RigNet runs
(comma-separated, one F), ``--image`` is ``random:N`` or a ``.npy`` of W+
codes; writes ``stylerig_<mode>.png`` (rows: faces; columns: the input, then
yaw -30..30°, jawOpen 0..1 or a light moving left to right)::

  python tools/edit.py stylerig --export_dir=runs/stylerig/rignet_pose_cpu_32 \
      --image=random:6 --output_dir=/tmp/edit

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
flags.DEFINE_multi_string("label", [], "latent: target classes (names or "
                          "ids) of a conditional GAN export.")
flags.DEFINE_multi_string("target_image", [],
                          "latent: faces whose keypoints are transferred.")
flags.DEFINE_string("target_keypoints", None,
                    "latent: .npy of [N or 1, 68, 2] pixel keypoints.")
flags.DEFINE_string("landmarks_weights", None,
                    "latent: landmark-net weights file for --target_image.")
flags.DEFINE_integer("dfg_steps", 300, "discofacegan: W+ embedding "
                     "iterations.")
flags.DEFINE_integer("dfg_num_edits", 5, "discofacegan: edits per factor.")
flags.DEFINE_string("dfg_perceptual_weights", None, "discofacegan: VGG-19 "
                    "weights file for the embedding's perceptual term "
                    "(default: random features).")
flags.mark_flags_as_required(["export_dir", "image", "output_dir"])

FLAGS = flags.FLAGS


def _latent():
  from tfface.methods.latent import editing  # pylint: disable=g-import-not-at-top
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  out = editing.edit_latent(
      FLAGS.export_dir, [p for p in FLAGS.image.split(",") if p],
      os.path.join(FLAGS.output_dir, "latent_edit.png"),
      labels=FLAGS.label or None, target_paths=FLAGS.target_image,
      target_keypoints=FLAGS.target_keypoints,
      landmarks_weights=FLAGS.landmarks_weights)
  print(out["png"])
  return 0


def _discofacegan():
  """discofacegan: --export_dir is a DiscoFaceGAN training run directory;
  writes <output_dir>/discofacegan_edit.png."""
  from tfface.methods.discofacegan import editing  # pylint: disable=g-import-not-at-top
  out = editing.edit_run(
      FLAGS.export_dir, FLAGS.image,
      os.path.join(FLAGS.output_dir, "discofacegan_edit.png"),
      steps=FLAGS.dfg_steps, num_edits=FLAGS.dfg_num_edits,
      perceptual_weights=FLAGS.dfg_perceptual_weights)
  print(out["png"])
  return 0


def _stylerig():
  """stylerig: --export_dir is a comma-separated list of RigNet runs (or
  rignet.npz files) of one F; --image is 'random:N' or a .npy of W+ codes;
  writes <output_dir>/stylerig_<mode>.png per mode."""
  from tfface.methods.stylerig import control  # pylint: disable=g-import-not-at-top
  written = control.write_edit_grids(
      [p for p in FLAGS.export_dir.split(",") if p], FLAGS.output_dir,
      codes=FLAGS.image)
  for path in written.values():
    print(path)
  return 0


def main(argv):
  subjects = {"latent": _latent, "discofacegan": _discofacegan,
              "stylerig": _stylerig}
  if len(argv) > 2 or (len(argv) == 2 and argv[1] not in subjects):
    raise ValueError(f"unknown edit subject {argv[1:]!r}; expected none "
                     "(a ConfigNet export), 'latent', 'discofacegan' or "
                     "'stylerig'")
  if len(argv) == 2:
    return subjects[argv[1]]()
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
