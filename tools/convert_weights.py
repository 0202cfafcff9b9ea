r"""Converts released checkpoints into tfface weights.

  python tools/convert_weights.py stylegan2 --from=stylegan2-ffhq-config-f.pt \
      --to=weights/stylegan2_ffhq.npz
  python tools/convert_weights.py deep3d_recon \
      --from=checkpoints/face_recon/epoch_20.pth --to=weights/deep3d_recon.npz
  python tools/convert_weights.py arcface \
      --from=ms1mv3_arcface_r50_fp16/backbone.pth --to=weights/arcface_r50.npz
  python tools/convert_weights.py facenet \
      --from=20180402-114759-vggface2.pt --to=weights/facenet_vggface2.npz

``stylegan2``: a rosinality/stylegan2-pytorch checkpoint (``g_ema``,
``latent_avg``, the noise buffers and, unless --nodiscriminator, ``d``),
LiftedGAN's reduced-channel checkpoints included. Reading ``.pt`` files needs
PyTorch (``pip install 'tfface[torch]'``, loaded with ``weights_only=True``);
a ``.npz`` with keys ``g_ema/<name>``, ``d/<name>`` and ``latent_avg`` (the
same tensors exported with numpy) needs no PyTorch.

  python tools/convert_weights.py alae --from=celeba/model_final.pth \
      --to=weights/alae_celeba.npz

``alae``: a podgorskiy/ALAE checkpoint (``{"models": {...}}``; the EMA ``*_s``
networks unless --nouse_ema) -> a StyleALAE autoencoder
(``tfface.methods.latent.codes.load_autoencoder``).

``deep3d_recon``, ``arcface`` and ``facenet`` write face-analysis weights
(:func:`tfface.analysis.weights.save_network`, loaded with
``tfface.analysis.weights.load_network``), via
:func:`tfface.analysis.convert.convert_file`:

* ``deep3d_recon``: Deep3DFaceRecon_pytorch's R-Net, the ``net_recon`` entry
  of ``epoch_20.pth`` -> 257 coefficients (D3D/PT layout);
* ``arcface``: an insightface arcface_torch iresnet18/34/50/100
  ``backbone.pth`` (or ``state_dict_backbone`` of a training checkpoint);
  --depth checks the depth, which is otherwise read from the keys;
* ``facenet``: a timesler/facenet-pytorch ``InceptionResnetV1`` state dict
  (``20180402-114759-vggface2.pt``), by ``tfface.analysis.convert_facenet``.

  python tools/convert_weights.py discofacegan_vae --from=vae/weights \
      --to=weights/discofacegan_vae.npz

``discofacegan_vae``: DiscoFaceGAN's released TF1 λ-VAE checkpoints (a
directory of the factor folders ``exp/ gamma/ rot/ [id/]``, one folder, or
one checkpoint prefix) -> tfface FactorVAEs in the BFM layout
(``tfface.methods.discofacegan.vae.load_factor_vaes``), by
:mod:`tfface.methods.discofacegan.vae_convert`; --dfg_vae_factors picks
factors.

--key names the checkpoint entry that holds the state dict when it is not
``net_recon``, ``state_dict``, ``state_dict_backbone`` or the file itself.
A ``.npz`` of the state dict's arrays (``<name>`` or ``<entry>/<name>``)
needs no PyTorch.
"""

import sys

from absl import app
from absl import flags

from tfface import cli

flags.DEFINE_string("from", None, "Checkpoint to read (.pt or .npz).")
flags.DEFINE_string("to", None, "tfface weights .npz to write.")
flags.DEFINE_string("generator_key", "g_ema", "Which generator: g_ema or g.")
flags.DEFINE_bool("discriminator", True, "Also convert 'd' when present.")
flags.DEFINE_string("key", None, "Face-analysis subjects: the checkpoint "
                    "entry holding the state dict (default: automatic).")
flags.DEFINE_integer("depth", None, "arcface: the expected iresnet depth "
                     "(18, 34, 50, 100; default: read from the keys).")

flags.DEFINE_bool("use_ema", True, "alae: the EMA (*_s) networks.")

flags.DEFINE_list("dfg_vae_factors", None, "discofacegan_vae: the factors "
                  "to convert (identity, expression, illumination, pose; "
                  "default every one found).")

FLAGS = flags.FLAGS
ANALYSIS_SUBJECTS = ("deep3d_recon", "arcface", "facenet")
SUBJECTS = ("stylegan2", "alae") + ANALYSIS_SUBJECTS + ("discofacegan_vae",)


def main(argv):
  if len(argv) != 2 or argv[1] not in SUBJECTS:
    print(f"usage: convert_weights.py {{{'|'.join(SUBJECTS)}}} --from=FILE "
          "--to=FILE.npz", file=sys.stderr)
    return 2
  source, target = FLAGS["from"].value, FLAGS.to
  if not source or not target:
    raise ValueError("--from and --to are required")
  if argv[1] == "alae":
    from tfface.methods.latent import alae_convert  # pylint: disable=g-import-not-at-top
    model = alae_convert.convert_file(source, target, use_ema=FLAGS.use_ema)
    print(f"wrote {target} (StyleALAE, {model.image_size} px, code "
          f"{model.code_size})")
    return 0
  if argv[1] == "discofacegan_vae":
    return _discofacegan_vae(source, target)
  if argv[1] in ANALYSIS_SUBJECTS:
    from tfface.analysis import convert as analysis_convert  # pylint: disable=g-import-not-at-top
    print(analysis_convert.convert_file(argv[1], source, target, FLAGS.key,
                                        FLAGS.depth))
    return 0
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


def _discofacegan_vae(source, target):
  """DiscoFaceGAN's TF1 λ-VAE checkpoints (vae/weights/<factor>/ or one
  prefix) -> tfface FactorVAEs .npz (tfface.methods.discofacegan.vae)."""
  from tfface.methods.discofacegan import vae_convert  # pylint: disable=g-import-not-at-top
  counts = vae_convert.convert_to_file(source, target, FLAGS.dfg_vae_factors)
  print(f"wrote {target} (DiscoFaceGAN VAEs, BFM layout: " + ", ".join(
      f"{factor} {n} arrays" for factor, n in counts.items()) + ")")
  return 0


def run():
  """Console-script entry point."""
  # A missing PyTorch (for .pt files) is bad input too.
  app.run(cli.guard(main, expected=(ImportError,)))


if __name__ == "__main__":
  run()
