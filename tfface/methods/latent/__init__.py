"""Conditional latent models (Sotnikov, Gogoryan, Smorchkov, Vovk 2020,
"Controllable Face Generation via Conditional Latent Models"; the public code
``ivanvovk/controllable-face-generation``, facts and its bugs in
``shared/reference/alae.md`` §2).

Everything works on the codes of a frozen autoencoder:

* :mod:`~tfface.methods.latent.codes` — the :class:`LatentAutoencoder`
  protocol (``encode``/``decode``/``code_size``), autoencoder weights files,
  loading one from a run directory, the cached codes table of the labeled
  faces;
* :mod:`~tfface.methods.latent.labels` — conditions made of synthetic factors
  (hair colour class, beard, smile, jaw open, yaw bin, any factor slice);
* :mod:`~tfface.methods.latent.data` — the image, codes and keypoint-pair
  input pipelines (gin: ``latent_image_dataset``, ``latent_codes_dataset``,
  ``keypoint_pairs_dataset``);
* :mod:`~tfface.methods.latent.acai` — ACAI with the VGG-19 perceptual term
  (``ACAIMethod``);
* :mod:`~tfface.methods.latent.alae` — StyleALAE (``ALAEMethod``), with
  ``alae_convert.py`` for the official checkpoints (another module owner;
  its autoencoder follows the same protocol);
* :mod:`~tfface.methods.latent.conditional` — latent cGAN / prGAN / AC-GAN
  (``ConditionalLatentGANMethod``);
* :mod:`~tfface.methods.latent.keypoints` — the keypoint mapper R and critic
  C (``KeypointMapperMethod``) and the decoder's identity fine-tuning
  (``DecoderFinetuneMethod``);
* :mod:`~tfface.methods.latent.baseline` — the baseline AE with a landmark
  head (``LatentBaselineMethod``) and nearest-landmark latent arithmetic;
* :mod:`~tfface.methods.latent.export` — serving modules (``encode``,
  ``decode``, ``condition``, ``map_keypoints`` ...);
* :mod:`~tfface.methods.latent.editing` — attribute edits and keypoint
  transfer on exports, PNG grids (behind ``tools/edit.py latent``);
* :mod:`~tfface.methods.latent.evaluation` — the measurements behind
  ``tools/evaluate.py latent`` (JSON).

Networks live in :mod:`tfface.networks.acai` and
:mod:`tfface.networks.latent_conditional`. Importing this package registers
the gin configurables of the modules above except ``alae`` (its gin files
import it).
"""

from tfface.methods.latent import acai
from tfface.methods.latent import codes
from tfface.methods.latent import data
from tfface.methods.latent import labels
from tfface.methods.latent.acai import ACAIMethod
from tfface.methods.latent.codes import LatentAutoencoder
from tfface.methods.latent.codes import load_autoencoder
from tfface.methods.latent import baseline
from tfface.methods.latent import conditional
from tfface.methods.latent import keypoints
from tfface.methods.latent.baseline import LatentBaselineMethod
from tfface.methods.latent.conditional import ConditionalLatentGANMethod
from tfface.methods.latent.keypoints import DecoderFinetuneMethod
from tfface.methods.latent.keypoints import KeypointMapperMethod
