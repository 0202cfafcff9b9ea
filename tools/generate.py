r"""Writes StyleGAN2 sample grids and a truncation sweep as PNG files.

  python tools/generate.py --model_dir=runs/sg2 --output_dir=/tmp/samples
  python tools/generate.py --weights=ffhq256.npz --output_dir=/tmp/samples \
      --truncation_psi=0.7 --num_samples=25 --sweep_psis=0,0.5,0.7,1

  python tools/generate.py liftedgan --run_dir=runs/liftedgan/cpu_64 \
      --output_dir=/tmp/liftedgan --num_samples=4
  python tools/generate.py discofacegan --run_dir=runs/discofacegan/cpu_64 \
      --output_dir=/tmp/dfg --num_samples=4

``discofacegan`` writes ``discofacegan_variations.png``: per face five rows
(expression, illumination, pose, identity varied with everything else fixed,
one new λ sample per column, then the face model's renders of the pose row).

Writes ``samples.png`` (a grid at --truncation_psi) and
``truncation_sweep.png`` (one row per latent, one column per ψ).
"""

from absl import app
from absl import flags

from tfface import cli

flags.DEFINE_string("model_dir", None, "A training run (uses its g_ema).")
flags.DEFINE_string("weights", None,
                    "A tfface weights .npz from tools/convert_weights.py.")
flags.DEFINE_string("output_dir", None, "Where the PNG files go.")
flags.DEFINE_integer("num_samples", 16, "Images in samples.png.")
flags.DEFINE_integer("seed", 0, "Latent seed.")
flags.DEFINE_float("truncation_psi", 1.0, "ψ for samples.png.")
flags.DEFINE_list("sweep_psis", ["0", "0.25", "0.5", "0.75", "1"],
                  "ψ values of truncation_sweep.png (empty: none).")
flags.DEFINE_integer("sweep_samples", 6, "Rows of truncation_sweep.png.")
flags.DEFINE_enum("noise_mode", "const", ["const", "random", "none"],
                  "Noise inputs: stored buffers, fresh noise, or zeros.")
flags.DEFINE_multi_string("gin_param", [], "Extra gin bindings for --model_dir.")
flags.DEFINE_string("run_dir", None, "liftedgan: the LiftedGAN training run.")
flags.DEFINE_float("liftedgan_truncation", 0.7, "liftedgan: ψ of the faces.")
flags.DEFINE_integer("liftedgan_meshes", 1,
                     "liftedgan: samples exported as OBJ/PLY + components.")
flags.mark_flag_as_required("output_dir")

FLAGS = flags.FLAGS


def _liftedgan():
  from tfface.methods.liftedgan import control  # pylint: disable=g-import-not-at-top
  if not FLAGS.run_dir:
    raise ValueError("liftedgan needs --run_dir (a LiftedGAN training run)")
  summary = control.generate_from_run(
      FLAGS.run_dir, FLAGS.output_dir, FLAGS.num_samples,
      FLAGS.liftedgan_truncation, FLAGS.seed, FLAGS.liftedgan_meshes)
  for name, path in summary["files"].items():
    print(f"wrote {name}: {path}")
  return 0


def _discofacegan():
  import os  # pylint: disable=g-import-not-at-top
  from tfface.methods.discofacegan import editing  # pylint: disable=g-import-not-at-top
  if not FLAGS.run_dir:
    raise ValueError("discofacegan needs --run_dir (a DiscoFaceGAN training "
                     "run)")
  out = editing.variation_grids_run(
      FLAGS.run_dir, os.path.join(FLAGS.output_dir,
                                  "discofacegan_variations.png"),
      FLAGS.num_samples, seed=FLAGS.seed, gin_params=FLAGS.gin_param)
  print(f"wrote discofacegan_variations: {out['png']} ({out['faces']} faces "
        f"at step {out['step']}; rows per face: {', '.join(out['rows'])})")
  return 0


def main(argv):
  if argv[1:] == ["liftedgan"]:  # python tools/generate.py liftedgan ...
    return _liftedgan()
  if argv[1:] == ["discofacegan"]:
    return _discofacegan()
  del argv
  from tfface.methods.stylegan2 import generate  # pylint: disable=g-import-not-at-top
  try:
    psis = [float(p) for p in FLAGS.sweep_psis]
  except ValueError as e:
    raise ValueError(f"--sweep_psis must be numbers, got "
                     f"{','.join(FLAGS.sweep_psis)!r}") from e
  generator = generate.load_generator_for_generation(
      FLAGS.model_dir, FLAGS.weights, FLAGS.gin_param)
  written = generate.write_sample_grids(
      generator, FLAGS.output_dir, FLAGS.num_samples, FLAGS.seed,
      FLAGS.truncation_psi, psis, FLAGS.sweep_samples,
      noise_mode=FLAGS.noise_mode)
  for name, path in written.items():
    print(f"wrote {name}: {path}")
  return 0


def run():
  """Console-script entry point."""
  app.run(cli.guard(main))


if __name__ == "__main__":
  run()
