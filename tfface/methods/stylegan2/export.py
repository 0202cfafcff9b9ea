"""The StyleGAN2 serving module: ``generate(z, truncation_psi) -> image``.

Signatures (all with a ``None`` batch dimension, stock ops only):

* ``generate``: ``z`` `[B, z_dim]`, ``truncation_psi`` scalar ->
  ``{"image": [B, R, R, 3] float32 in [-1, 1]}``;
* ``generate_from_w``: ``w`` `[B, num_ws, style_dim]` (W+; tile one w for all
  layers), ``truncation_psi`` scalar -> ``{"image": ...}``;
* ``mapping``: ``z`` `[B, z_dim]` -> ``{"w": [B, style_dim]}``.

The noise inputs use the generator's stored buffers, so outputs are
deterministic.
"""

from typing import Dict

import tensorflow as tf

from tfface.networks import stylegan2 as networks


class GeneratorModule(tf.Module):
  """Wraps a built :class:`~tfface.networks.stylegan2.Generator` for export."""

  def __init__(self, generator: networks.Generator):
    super().__init__(name="stylegan2")
    self.generator = generator
    z_dim, num_ws = generator.z_dim, generator.num_ws
    style_dim = generator.style_dim

    @tf.function(input_signature=[
        tf.TensorSpec([None, z_dim], tf.float32, name="z"),
        tf.TensorSpec([], tf.float32, name="truncation_psi")])
    def generate(z, truncation_psi):
      images = self.generator(z, truncation_psi=truncation_psi,
                              noise_mode="const")
      return {"image": tf.clip_by_value(images, -1.0, 1.0)}

    @tf.function(input_signature=[
        tf.TensorSpec([None, num_ws, style_dim], tf.float32, name="w"),
        tf.TensorSpec([], tf.float32, name="truncation_psi")])
    def generate_from_w(w, truncation_psi):
      ws = self.generator.truncate(w, truncation_psi)
      images = self.generator.synthesis(ws, noise_mode="const")
      return {"image": tf.clip_by_value(images, -1.0, 1.0)}

    @tf.function(input_signature=[
        tf.TensorSpec([None, z_dim], tf.float32, name="z")])
    def mapping(z):
      return {"w": self.generator.mapping(z)}

    self.generate = generate
    self.generate_from_w = generate_from_w
    self.mapping = mapping

  def signatures(self) -> Dict[str, object]:
    """Name -> tf.function, for :func:`tfface.export.export_module`."""
    return {"generate": self.generate, "generate_from_w": self.generate_from_w,
            "mapping": self.mapping}
