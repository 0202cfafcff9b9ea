r"""Measured evaluation of a trained model.

  python tools/evaluate.py confignet --export_dir=demo_out/export/1 \
      --heldout_pattern='demo_out/data/heldout/synthetic-*-of-*.tfrecord' \
      --output_json=demo_out/control.json

  python tools/evaluate.py analysis --bundle_dir=pretrained \
      --heldout_pattern='pretrained/work/data/heldout/labeled-*-of-*.tfrecord' \
      --num_faces=1000 --output_json=analysis.json

``confignet``: reconstruction error vs. the true render and vs. another face,
per-factor swap correlation with the true render change and the change
outside the factor's renderer region, pose (yaw) accuracy and the expression
sweeps' pixel gains; with the face-analysis nets
(``--confignet_reconstruction_weights``, default
``pretrained/reconstruction.npz``; ``--confignet_landmarks_weights``, default
``pretrained/landmarks.npz``; a missing file skips its figures with a logged
line) also yaw and pitch measured on a continuous scale (slope of achieved vs
requested, error in degrees, on G's images and on the true renders) and the
jawOpen / mouthSmile / eyeBlink / gaze landmark gains; JSON out. By default
it measures 64 held-out faces, as the demo's ``control.json``.

``latent``: the conditional latent models on labeled faces of held-out
identities (``--data_pattern``): autoencoder reconstruction error
(``--autoencoder=acai=DIR``, repeatable), attribute-edit acceptance by a
classifier and cycle error (``--cgan_export``), keypoint transfer NME and
identity similarity for mappers side by side (``--mapper=fixed=DIR
--mapper=reference_cancelled=DIR``) and the baseline's latent arithmetic
(``--baseline_export``), with ``--landmarks_weights`` / ``--identity_weights``
(analysis-net weights files, e.g. from ``make pretrained``); JSON and PNGs.

``analysis``: the face-analysis nets of a bundle (or single weights files,
``--weights=landmarks=path.npz,parser=other.npz``) on held-out labeled faces
(``tools/make_synthetic.py --mode=labeled`` with another seed): per-group
reconstruction error (pose in degrees) and projected-landmark error, landmark
NME, identity verification across yaw (ROC AUC, TAR at FAR 1e-2), parser IoU
per class; overall and per render style.
"""

import json
import sys

from absl import app
from absl import flags

from tfface import cli

flags.DEFINE_string("export_dir", None, "SavedModel version directory.")
flags.DEFINE_string("heldout_pattern", None,
                    "Glob of held-out labeled synthetic shards.")
flags.DEFINE_integer("num_faces", 32, "Held-out faces to measure (unset: 32; "
                     "confignet 64, the demo's count; analysis 1000).")
flags.DEFINE_integer("seed", 0, "Pairing seed.")
flags.DEFINE_string("output_json", "", "Where to write the numbers.")
flags.DEFINE_string("confignet_reconstruction_weights",
                    "pretrained/reconstruction.npz",
                    "confignet: reconstruction-net weights (measured yaw, "
                    "pitch); '' = none.")
flags.DEFINE_string("confignet_landmarks_weights", "pretrained/landmarks.npz",
                    "confignet: landmark-net weights (measured jawOpen, "
                    "mouthSmile, eyeBlink, iris-position gaze); '' = none.")
flags.DEFINE_string("bundle_dir", None,
                    "analysis: a pretrained bundle (its analysis nets).")
flags.DEFINE_list("weights", [],
                  "analysis: net=path.npz pairs (instead of --bundle_dir).")
flags.DEFINE_integer("image_size", 64, "analysis: size the faces are read at.")
flags.DEFINE_string("data_pattern", None, "latent: labeled synthetic shards.")
flags.DEFINE_multi_string("autoencoder", [], "latent: name=export_dir.")
flags.DEFINE_string("cgan_export", None, "latent: conditional GAN export.")
flags.DEFINE_multi_string("mapper", [], "latent: name=keypoint-mapper export.")
flags.DEFINE_string("baseline_export", None, "latent: baseline AE export.")
flags.DEFINE_string("landmarks_weights", None,
                    "latent: landmark-net weights file.")
flags.DEFINE_string("identity_weights", None,
                    "latent: identity-net weights file.")
flags.DEFINE_string("png_dir", None, "latent: where the PNG grids go.")

flags.DEFINE_string("dfg_run", None, "discofacegan: the training run "
                    "directory (--heldout_pattern: real faces for Table 1).")
flags.DEFINE_string("dfg_real_kind", "pseudo_real", "discofacegan: the "
                    "kind of --heldout_pattern (pseudo_real, synthetic, "
                    "tfrecord, folder).")
flags.DEFINE_integer("dfg_groups", 100, "discofacegan: Table 1 groups.")
flags.DEFINE_integer("dfg_variations", 10, "discofacegan: Table 1 values "
                     "of the varied factor per group.")
flags.DEFINE_integer("dfg_pairs", 20, "discofacegan: Table 2 (a, b) pairs.")
flags.DEFINE_integer("dfg_others", 50, "discofacegan: Table 2 draws of the "
                     "other factors per pair.")
flags.DEFINE_string("dfg_embed_pattern", None, "discofacegan: faces never "
                    "trained on (of --dfg_real_kind) whose W+ embedding "
                    "error is measured; unset: skipped.")
flags.DEFINE_integer("dfg_embed_faces", 16, "discofacegan: faces embedded.")
flags.DEFINE_integer("dfg_embed_steps", 300, "discofacegan: Adam steps per "
                     "embedding.")

flags.DEFINE_multi_string("liftedgan_runs", [], "liftedgan: name=run_dir "
                          "(repeat: the full model and its ablations; "
                          "name@seed marks replicates, summarised as "
                          "mean ± std in replicates.md).")
flags.DEFINE_string("liftedgan_output_dir", None,
                    "liftedgan: where metrics, tables and plots go.")
flags.DEFINE_string("liftedgan_reconstruction_weights", None,
                    "liftedgan: reconstruction-net weights (pseudo GT).")
flags.DEFINE_string("liftedgan_inception_weights", None,
                    "liftedgan: Keras InceptionV3 no-top weights for FID "
                    "(else the identity-space Fréchet distance).")
flags.DEFINE_integer("liftedgan_num_samples", 1000,
                     "liftedgan: samples (the paper's 1,000).")
flags.DEFINE_integer("liftedgan_batch_size", 16, "liftedgan: batch size.")

flags.DEFINE_list("stylerig_rignets", [], "stylerig: RigNet run directories "
                  "(or rignet.npz files) of one F, one per mode.")
flags.DEFINE_string("stylerig_data_dir", None, "stylerig: the StyleRig data "
                    "(held-out codes are its last --num_faces).")
flags.DEFINE_string("stylerig_reconstruction_weights", None,
                    "stylerig: the reconstruction net that re-estimates the "
                    "rigged images.")

FLAGS = flags.FLAGS
SUBJECTS = ("confignet", "analysis", "latent", "discofacegan", "liftedgan",
            "stylerig")


def main(argv):
  if len(argv) != 2 or argv[1] not in SUBJECTS:
    print(f"usage: evaluate.py {{{','.join(SUBJECTS)}}} --export_dir=... "
          "--heldout_pattern=...", file=sys.stderr)
    return 2
  if argv[1] == "analysis":
    return _analysis()
  if argv[1] == "latent":
    return _latent()
  if argv[1] == "discofacegan":
    return _discofacegan()
  if argv[1] == "liftedgan":
    return _liftedgan()
  if argv[1] == "stylerig":
    return _stylerig()
  if not FLAGS.export_dir or not FLAGS.heldout_pattern:
    raise ValueError("--export_dir and --heldout_pattern are required")
  from absl import logging  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import evaluation  # pylint: disable=g-import-not-at-top
  result = evaluation.evaluate_export(
      FLAGS.export_dir, FLAGS.heldout_pattern,
      FLAGS.num_faces if FLAGS["num_faces"].present
      else evaluation.DEFAULT_NUM_FACES, FLAGS.seed, FLAGS.output_json,
      reconstruction_weights=FLAGS.confignet_reconstruction_weights,
      landmarks_weights=FLAGS.confignet_landmarks_weights,
      log=logging.warning)
  for line in evaluation.summary_lines(result):
    print(line)
  if not FLAGS.output_json:
    print(json.dumps(result, indent=2))
  return 0


def _stylerig():
  from tfface.methods.stylerig import evaluation  # pylint: disable=g-import-not-at-top
  if not (FLAGS.stylerig_rignets and FLAGS.stylerig_data_dir and
          FLAGS.stylerig_reconstruction_weights):
    raise ValueError("stylerig needs --stylerig_rignets, --stylerig_data_dir "
                     "and --stylerig_reconstruction_weights")
  result = evaluation.evaluate_stylerig(
      FLAGS.stylerig_rignets, FLAGS.stylerig_data_dir,
      FLAGS.stylerig_reconstruction_weights, FLAGS.identity_weights,
      num_heldout=FLAGS.num_faces, output_json=FLAGS.output_json or None,
      seed=FLAGS.seed)
  print(json.dumps(result, indent=2, sort_keys=True))
  return 0


def _discofacegan():
  from tfface.methods.discofacegan import evaluation  # pylint: disable=g-import-not-at-top
  if not FLAGS.dfg_run or not FLAGS.output_json:
    raise ValueError("discofacegan needs --dfg_run (a training run) and "
                     "--output_json")
  result = evaluation.evaluate_run(
      FLAGS.dfg_run, FLAGS.output_json, FLAGS.heldout_pattern or "",
      num_groups=FLAGS.dfg_groups, variations=FLAGS.dfg_variations,
      num_pairs=FLAGS.dfg_pairs, num_others=FLAGS.dfg_others,
      real_kind=FLAGS.dfg_real_kind,
      embed_pattern=FLAGS.dfg_embed_pattern or "",
      embed_faces=FLAGS.dfg_embed_faces, embed_steps=FLAGS.dfg_embed_steps)
  print(json.dumps(result, indent=2, sort_keys=True))
  return 0


def _liftedgan():
  from tfface.methods.liftedgan import evaluation  # pylint: disable=g-import-not-at-top
  if not FLAGS.liftedgan_runs or not FLAGS.liftedgan_output_dir:
    raise ValueError("liftedgan needs --liftedgan_runs=name=run_dir and "
                     "--liftedgan_output_dir")
  runs = _pairs(FLAGS.liftedgan_runs, "liftedgan_runs")
  results = evaluation.evaluate_runs(
      runs, FLAGS.liftedgan_output_dir,
      reconstruction_weights=FLAGS.liftedgan_reconstruction_weights,
      identity_weights=FLAGS.identity_weights,
      inception_weights=FLAGS.liftedgan_inception_weights,
      num_samples=FLAGS.liftedgan_num_samples,
      batch_size=FLAGS.liftedgan_batch_size, seed=FLAGS.seed)
  print(evaluation.table_markdown(results))
  return 0


def _pairs(values, flag):
  pairs = [v.split("=", 1) for v in values]
  if any(len(p) != 2 for p in pairs):
    raise ValueError(f"--{flag} takes name=path, got {values!r}")
  return dict(pairs)


def _latent():
  from tfface.methods.latent import evaluation  # pylint: disable=g-import-not-at-top
  if not FLAGS.data_pattern:
    raise ValueError("--data_pattern is required (labeled synthetic shards)")
  result = evaluation.evaluate_latent(
      FLAGS.data_pattern, autoencoders=_pairs(FLAGS.autoencoder, "autoencoder"),
      cgan_export=FLAGS.cgan_export, mappers=_pairs(FLAGS.mapper, "mapper"),
      baseline_export=FLAGS.baseline_export,
      landmarks_weights=FLAGS.landmarks_weights,
      identity_weights=FLAGS.identity_weights,
      output_json=FLAGS.output_json or None, png_dir=FLAGS.png_dir)
  print(json.dumps(result, indent=2, sort_keys=True, default=str))
  return 0


def _analysis():
  from tfface.methods.analysis import evaluation  # pylint: disable=g-import-not-at-top
  if not FLAGS.heldout_pattern:
    raise ValueError("--heldout_pattern is required (held-out shards of "
                     "tools/make_synthetic.py --mode=labeled)")
  if bool(FLAGS.bundle_dir) == bool(FLAGS.weights):
    raise ValueError("give either --bundle_dir or --weights=net=path,...")
  if FLAGS.bundle_dir:
    paths = evaluation.bundle_paths(FLAGS.bundle_dir)
    if not paths:
      raise ValueError(f"{FLAGS.bundle_dir} holds no analysis weights files "
                       "(expected e.g. landmarks.npz; run make pretrained)")
  else:
    pairs = [item.split("=", 1) for item in FLAGS.weights]
    if any(len(pair) != 2 for pair in pairs):
      raise ValueError("--weights takes net=path pairs, e.g. "
                       "landmarks=pretrained/landmarks.npz")
    paths = dict(pairs)
  result = evaluation.evaluate_weights(paths, FLAGS.heldout_pattern,
                                       FLAGS.image_size,
                                       FLAGS.num_faces if FLAGS["num_faces"]
                                       .present else 1000, FLAGS.output_json)
  print(json.dumps(result, indent=2, sort_keys=True))
  return 0


def run():
  """Console-script entry point."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
