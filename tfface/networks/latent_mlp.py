"""MLP generator and discriminator over a latent space (ConfigNet's latent GAN).

ConfigNet (``microsoft/ConfigNet:confignet/latent_gan.py``) samples its
embedding space with a GAN of two ``MLPSimple`` stacks: 3 Dense layers,
hidden width ``int(1.5 · Z)``, Keras' LeakyReLU (slope 0.3), linear last.
The conditional latent models reuse the same shapes.
"""

from typing import Optional

from tfface.layers import mlp
from tfface.networks import base

# ``hidden_layer_size_multiplier`` and ``num_mlp_layers`` of the reference.
HIDDEN_MULTIPLIER = 1.5
NUM_LAYERS = 3
SLOPE = 0.3


def hidden_width(latent_dim: int, hidden: Optional[int] = None) -> int:
  """``hidden`` or the reference's ``int(1.5 · latent_dim)``."""
  return int(hidden) if hidden else int(latent_dim * HIDDEN_MULTIPLIER)


class LatentGenerator(base.Network):
  """G_lat: noise w ~ N(0, I) -> a latent code.

  Args:
    latent_dim: Z, the size of w and of the output.
    hidden: hidden width (default ``int(1.5·Z)``).
    num_layers, slope: the Dense stack (3, LeakyReLU 0.3).

  Call ``(w)``: `[B, Z]` float32 -> `[B, Z]` float32.
  """

  def __init__(self, latent_dim: int, hidden: Optional[int] = None,
               num_layers: int = NUM_LAYERS, slope: float = SLOPE, **kwargs):
    super().__init__(**kwargs)
    self.latent_dim = int(latent_dim)
    self.mlp = mlp.MLP(num_layers, hidden_width(latent_dim, hidden),
                       self.latent_dim, slope=slope, name="mlp")

  def call(self, w, training=None):
    return self.mlp(w)


class LatentDiscriminator(base.Network):
  """D_lat: a latent code -> one logit.

  Args:
    latent_dim: Z.
    hidden, num_layers, slope: as :class:`LatentGenerator`.

  Call ``(z)``: `[B, Z]` float32 -> `[B, 1]` float32 logit.
  """

  def __init__(self, latent_dim: int, hidden: Optional[int] = None,
               num_layers: int = NUM_LAYERS, slope: float = SLOPE, **kwargs):
    super().__init__(**kwargs)
    self.mlp = mlp.MLP(num_layers, hidden_width(latent_dim, hidden), 1,
                       slope=slope, name="mlp")

  def call(self, z, training=None):
    return self.mlp(z)
