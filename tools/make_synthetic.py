r"""Writes the synthetic face dataset, its pseudo-real domain, or a preview.

  # 50k labeled faces at 128 px in shards of 1000, seed 0:
  python tools/make_synthetic.py --output_dir=data/synth --num_examples=50000 \
      --image_size=128
  # the unlabeled pseudo-real domain next to it:
  python tools/make_synthetic.py --output_dir=data/synth --num_examples=50000 \
      --image_size=128 --mode=pseudo_real
  # a grid varying one factor per row:
  python tools/make_synthetic.py --preview=preview.png

Same seed and flags give byte-identical shards; an interrupted run restarted
with the same flags keeps its finished shards. Read the result with
``tfface.data.synthetic_dataset`` / ``pseudo_real_dataset``.
"""

from absl import app
from absl import flags
from absl import logging

from tfface import cli

flags.DEFINE_string("output_dir", None, "Directory for the TFRecord shards.")
flags.DEFINE_integer("num_examples", 1000, "Faces to write.")
flags.DEFINE_integer("image_size", 64, "Image height and width in pixels.")
flags.DEFINE_enum("mode", "synthetic", ["synthetic", "pseudo_real", "labeled"],
                  "synthetic: labeled renders with every factor stored; "
                  "pseudo_real: unlabeled images in another render style; "
                  "labeled: both styles with every label the face-analysis "
                  "networks train on (parse map, identity runs, translation).")
flags.DEFINE_integer("views_per_identity", 4,
                     "labeled mode: consecutive faces sharing an identity.")
flags.DEFINE_float("pseudo_real_fraction", 0.5,
                   "labeled mode: share of faces in the pseudo-real style.")
flags.DEFINE_integer("seed", 0, "Dataset seed.")
flags.DEFINE_integer("examples_per_shard", 1000, "Faces per shard.")
flags.DEFINE_integer("batch_size", 32, "Faces rendered together.")
flags.DEFINE_enum("backend", "tf", ["tf", "tfg_cpu"], "Rasterizer backend.")
flags.DEFINE_float("max_yaw", 30.0, "Head yaw limit in degrees (uniform ±).")
flags.DEFINE_float("max_pitch", 10.0,
                   "Head pitch limit in degrees (uniform ±).")
flags.DEFINE_float("max_roll", 0.0, "Head roll limit in degrees (uniform ±).")
flags.DEFINE_float("zoom", 0.75,
                   "Camera focal multiplier: 1 frames the face like "
                   "Deep3DFaceRecon's aligned crops; < 1 shows more head and "
                   "hair.")
flags.DEFINE_list("expression_focus", [],
                  "Blendshapes switched on more often than the sparse default "
                  "sampling does, e.g. jawOpen,mouthSmile (a name without "
                  "Left/Right means the pair).")
flags.DEFINE_float("expression_focus_probability", 0.0,
                   "Chance per face that each --expression_focus blendshape is "
                   "on (weight uniform in [0.3, 1]).")
flags.DEFINE_integer("model_resolution", 2,
                     "Mesh density of the procedural face model (1-6).")
flags.DEFINE_bool("overwrite", False,
                  "Rewrite an existing dataset of this mode (without it, one "
                  "made with the same flags is resumed, other flags are an "
                  "error).")
flags.DEFINE_string("preview", None,
                    "Write a PNG grid varying one factor per row to this path.")
flags.DEFINE_integer("preview_columns", 7, "Values per row in --preview.")
flags.DEFINE_integer("preview_size", 96, "Face size in pixels in --preview.")

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise ValueError(f"unexpected arguments {argv[1:]}")
  if not FLAGS.output_dir and not FLAGS.preview:
    raise ValueError("pass --output_dir (write a dataset) and/or --preview "
                     "(write a preview PNG).")
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  model_options = {"resolution": FLAGS.model_resolution}
  if FLAGS.preview:
    path = synthetic.write_preview(
        FLAGS.preview, image_size=FLAGS.preview_size,
        num_columns=FLAGS.preview_columns, seed=FLAGS.seed,
        backend=FLAGS.backend, zoom=FLAGS.zoom, model_options=model_options)
    logging.info("wrote preview %s (rows: %s)", path,
                 ", ".join(synthetic.PREVIEW_ROWS))
  if FLAGS.output_dir:
    info = synthetic.write_synthetic_dataset(
        FLAGS.output_dir, FLAGS.num_examples, image_size=FLAGS.image_size,
        mode=FLAGS.mode, seed=FLAGS.seed,
        examples_per_shard=FLAGS.examples_per_shard,
        batch_size=FLAGS.batch_size, backend=FLAGS.backend,
        max_yaw_degrees=FLAGS.max_yaw, max_pitch_degrees=FLAGS.max_pitch,
        max_roll_degrees=FLAGS.max_roll, zoom=FLAGS.zoom,
        model_options=model_options,
        expression_focus=FLAGS.expression_focus,
        expression_focus_probability=FLAGS.expression_focus_probability,
        views_per_identity=FLAGS.views_per_identity,
        pseudo_real_fraction=FLAGS.pseudo_real_fraction,
        overwrite=FLAGS.overwrite)
    rate = info["faces_per_second"]
    logging.info("wrote %d shards to %s%s", len(info["written_shards"]),
                 FLAGS.output_dir,
                 f" at {rate:.3g} faces/s" if rate else "")
  return 0


def run():
  """Console-script entry point (``tfface-make-synthetic``)."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
