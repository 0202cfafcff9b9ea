"""Public face-analysis networks the papers use frozen, as tfface analysis nets.

Two registered kinds (:mod:`tfface.analysis.weights`), filled from released
PyTorch checkpoints by :mod:`tfface.analysis.convert`:

* ``"deep3d_recon"``, :class:`Deep3DReconNet`: Deep3DFaceRecon_pytorch's
  R-Net (``sicxu/Deep3DFaceRecon_pytorch:models/networks.py``
  ``ReconNetWrapper``): torchvision ResNet-50 and seven 1×1-conv heads
  (``final_layers``) giving the 257 BFM coefficients;
* ``"arcface_iresnet"``, :class:`ArcFaceIResNet`: an insightface arcface_torch
  IR-ResNet (iresnet18/34/50/100) identity embedding.

Both take tfface images — `[B, H, W, 3]` float32 RGB in [-1, 1], any H, W —
resize them (bilinear, no antialiasing) to their ``input_size`` and apply the
reference preprocessing themselves.

Input conventions of the references:

* Deep3DFaceRecon_pytorch R-Net: 224×224 aligned crops, RGB in [0, 1]
  (``test.py`` ``read_data``: ``np.array(im) / 255.``), no mean subtraction.
  This differs from the TF1 R-Net of Deep3DFaceReconstruction and
  DiscoFaceGAN, which takes BGR in 0..255.
* arcface_torch: 112×112 aligned crops, RGB, ``(x / 255 - 0.5) / 0.5``, which
  is exactly tfface's [-1, 1].
"""

from typing import Dict, Tuple

import tensorflow as tf

from tfface.analysis import weights
from tfface.layers.tracking import track
from tfface.networks import base
from tfface.networks import iresnet
from tfface.networks import torchvision_resnet
from tfface.rendering import bfm

keras = tf.keras

# The D3D/PT 257 layout (Deep3DFaceRecon's split_coeff): name -> (start, stop).
BFM_257_SLICES: Dict[str, Tuple[int, int]] = dict(bfm.DEEP3D_LAYOUT.slices)
# ReconNetWrapper.final_layers, in order: (tfface name, reference head, size).
# Translation is two heads (tx, ty | tz) in the reference, one group here.
RECON_HEADS = (("identity", "id", 80), ("expression", "exp", 64),
               ("albedo", "tex", 80), ("pose", "angle", 3),
               ("sh", "gamma", 27), ("translation", "trans_xy", 2),
               ("translation", "trans_z", 1))
NUM_COEFFICIENTS = 257


def resize_images(images: tf.Tensor, size: int) -> tf.Tensor:
  """Bilinear resize to `size × size` (no antialiasing); identity if equal.

  Args:
    images: `[B, H, W, 3]` float32.
    size: output side in pixels.

  Returns:
    `[B, size, size, 3]` float32.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  if images.shape.rank != 4 or images.shape[-1] != 3:
    raise ValueError(f"images must be [B, H, W, 3], got shape {images.shape}")
  if images.shape[1] == size and images.shape[2] == size:
    return images
  return tf.image.resize(images, [size, size], method="bilinear",
                         antialias=False)


def to_discofacegan_layout(coefficients) -> tf.Tensor:
  """Re-orders D3D/PT coefficients into DiscoFaceGAN's R-Net layout (2).

  Args:
    coefficients: `[..., 257]` float32, `id | exp | tex | angles | gamma |
      trans` (:data:`BFM_257_SLICES`).

  Returns:
    `[..., 257]` float32, `id | tex | exp | angles | gamma | trans`
    (``tfface.rendering.bfm.DISCOFACEGAN_LAYOUT``).
  """
  return bfm.DISCOFACEGAN_LAYOUT.join(bfm.DEEP3D_LAYOUT.split(coefficients))


def from_discofacegan_layout(coefficients) -> tf.Tensor:
  """Inverse of :func:`to_discofacegan_layout`: `[..., 257]` -> D3D/PT."""
  return bfm.DEEP3D_LAYOUT.join(bfm.DISCOFACEGAN_LAYOUT.split(coefficients))


@weights.register_kind("deep3d_recon")
class Deep3DReconNet(base.Network):
  """Deep3DFaceRecon_pytorch's R-Net: face image -> 257 BFM coefficients.

  A torchvision ResNet (``backbone``, :class:`~tfface.networks.
  torchvision_resnet.TorchvisionResNet`) and seven dense heads
  ``final_layers_0..6`` (the reference's 1×1 convolutions on the pooled
  `[B, 2048, 1, 1]` map), concatenated in the reference order id 80, exp 64,
  tex 80, angle 3, gamma 27, (tx, ty) 2, tz 1.

  Args:
    depth: backbone depth (50 in the release; 18 also exists upstream).
    width: backbone base width (64 in the release; smaller for tests).
    input_size: side the images are resized to (224 in the reference).

  Call ``(images, training)``: `[B, H, W, 3]` float32 RGB in [-1, 1] (any
  H, W; aligned as Deep3DFaceRecon crops) -> dict:

  * ``coefficients``: `[B, 257]` float32, the D3D/PT layout
    (:data:`BFM_257_SLICES`);
  * ``identity`` `[B, 80]`, ``expression`` `[B, 64]`, ``albedo`` `[B, 80]`
    (texture coefficients), ``pose`` `[B, 3]` (pitch, yaw, roll radians, the
    reference's angles), ``sh`` `[B, 27]` (gamma, without the 0.8 ambient
    offset the renderer adds), ``translation`` `[B, 3]`.
  """

  def __init__(self, depth: int = 50, width: int = 64, input_size: int = 224,
               name: str = "deep3d_recon", **kwargs):
    super().__init__(name=name, **kwargs)
    self.input_size = int(input_size)
    self.backbone = torchvision_resnet.TorchvisionResNet(
        int(depth), int(width), name="backbone")
    self.heads = track(self, "final_layers", [
        keras.layers.Dense(size, name=f"final_layers_{j}")
        for j, (_, _, size) in enumerate(RECON_HEADS)])

  def config(self) -> Dict[str, int]:
    """Constructor arguments that rebuild this architecture."""
    return {"depth": self.backbone.depth, "width": self.backbone.width,
            "input_size": self.input_size}

  def preprocess(self, images: tf.Tensor) -> tf.Tensor:
    """`[B, H, W, 3]` RGB [-1, 1] -> `[B, S, S, 3]` RGB [0, 1] (PT's input)."""
    return (resize_images(images, self.input_size) + 1.0) * 0.5

  def call(self, images, training=None) -> Dict[str, tf.Tensor]:
    features = self.backbone(self.preprocess(images), training=training)
    coefficients = tf.concat([head(features) for head in self.heads], axis=-1)
    out = {"coefficients": coefficients}
    for group, (start, stop) in BFM_257_SLICES.items():
      out[group] = coefficients[:, start:stop]
    return out


@weights.register_kind("arcface_iresnet")
class ArcFaceIResNet(base.Network):
  """insightface arcface_torch IR-ResNet: face image -> identity embedding.

  Args:
    depth: 18, 34, 50 or 100 (also 200; :data:`tfface.networks.iresnet.
      DEPTHS`).
    width: base width (64 in the releases; smaller for tests).
    embedding_size: 512 in the releases.
    input_size: 112 in the releases (the ``fc`` is sized for it).

  Call ``(images, normalize=True, training)``: `[B, H, W, 3]` float32 RGB in
  [-1, 1] (any H, W; aligned as arcface crops) -> `[B, embedding_size]`
  float32, L2-normalized (unit rows) unless ``normalize=False`` (then the raw
  ``features`` BatchNorm1d output, as the reference's ``forward``).
  """

  def __init__(self, depth: int = 50, width: int = 64,
               embedding_size: int = 512, input_size: int = 112,
               name: str = "arcface_iresnet", **kwargs):
    super().__init__(name=name, **kwargs)
    self.input_size = int(input_size)
    self.backbone = iresnet.IResNet(int(depth), int(width),
                                    int(embedding_size), self.input_size,
                                    name="backbone")

  def config(self) -> Dict[str, int]:
    """Constructor arguments that rebuild this architecture."""
    return {"depth": self.backbone.depth, "width": self.backbone.width,
            "embedding_size": self.backbone.embedding_size,
            "input_size": self.input_size}

  def preprocess(self, images: tf.Tensor) -> tf.Tensor:
    """Resize only: (x / 255 - 0.5) / 0.5 of 0..255 RGB is tfface's [-1, 1]."""
    return resize_images(images, self.input_size)

  def call(self, images, normalize: bool = True, training=None) -> tf.Tensor:
    embedding = self.backbone(self.preprocess(images), training=training)
    if normalize:
      # F.normalize(x, dim=-1): x / max(|x|, 1e-12).
      embedding = tf.math.l2_normalize(embedding, axis=-1, epsilon=1e-24)
    return embedding

