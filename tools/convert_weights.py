r"""Converts released checkpoints into tfface weights.

  python tools/convert_weights.py stylegan2 --from=stylegan2-ffhq-config-f.pt \
      --to=weights/stylegan2_ffhq.npz

``stylegan2``: a rosinality/stylegan2-pytorch checkpoint (``g_ema``,
``latent_avg``, the noise buffers and, unless --nodiscriminator, ``d``),
LiftedGAN's reduced-channel checkpoints included. Reading ``.pt`` files needs
PyTorch (``pip install 'tfface[torch]'``, loaded with ``weights_only=True``);
a ``.npz`` with keys ``g_ema/<name>``, ``d/<name>`` and ``latent_avg`` (the
same tensors exported with numpy) needs no PyTorch.
"""

import sys

from absl import app
from absl import flags

from tfface import cli

flags.DEFINE_string("from", None, "Checkpoint to read (.pt or .npz).")
flags.DEFINE_string("to", None, "tfface weights .npz to write.")
flags.DEFINE_string("generator_key", "g_ema", "Which generator: g_ema or g.")
flags.DEFINE_bool("discriminator", True, "Also convert 'd' when present.")

FLAGS = flags.FLAGS
SUBJECTS = ("stylegan2",)


def main(argv):
  if len(argv) != 2 or argv[1] not in SUBJECTS:
    print(f"usage: convert_weights.py {{{'|'.join(SUBJECTS)}}} --from=FILE "
          "--to=FILE.npz", file=sys.stderr)
    return 2
  source, target = FLAGS["from"].value, FLAGS.to
  if not source or not target:
    raise ValueError("--from and --to are required")
  from tfface.methods.stylegan2 import convert  # pylint: disable=g-import-not-at-top
  from tfface.networks import stylegan2_weights  # pylint: disable=g-import-not-at-top
  if source.endswith(".npz"):
    checkpoint = convert.load_npz_checkpoint(source)
  else:
    checkpoint = convert.load_torch_checkpoint(source)
  config, arrays = convert.convert_checkpoint(
      checkpoint, FLAGS.generator_key, FLAGS.discriminator)
  stylegan2_weights.save_weights(target, config, arrays)
  parts = ", ".join(sorted(config))
  print(f"wrote {target} ({parts}; {len(arrays)} tensors, "
        f"{config['generator']['resolution']} px)")
  return 0


def run():
  """Console-script entry point."""
  # A missing PyTorch (for .pt files) is bad input too.
  app.run(cli.guard(main, expected=(ImportError,)))


if __name__ == "__main__":
  run()
