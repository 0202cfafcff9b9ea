"""The StyleGAN2 serving module: ``generate(z, truncation_psi) -> image``.

Signatures (all with a ``None`` batch dimension, stock ops only):

* ``generate``: ``z`` `[B, z_dim]`, ``truncation_psi`` scalar ->
  ``{"image": [B, R, R, 3] float32 in [-1, 1]}``;
* ``generate_from_w``: ``w`` `[B, num_ws, style_dim]` (W+; tile one w for all
  layers), ``truncation_psi`` scalar -> ``{"image": ...}``;
* ``mapping``: ``z`` `[B, z_dim]` -> ``{"w": [B, style_dim]}``.

The noise inputs use the generator's stored buffers, so outputs are
deterministic.

Every signature checks its inputs in the graph before the networks run
(:mod:`tfface.export.validation`): the shapes above with ``B >= 1``, finite
values; a bad input raises one ``InvalidArgumentError`` such as
``"generate: z must be [B, 512] float32 with B >= 1, got shape [512]"``.
The SignatureDef inputs have no static shape (see the validation module);
:meth:`GeneratorModule.signature_inputs` lists the real ones.
"""

from typing import Dict, Tuple

import tensorflow as tf

from tfface.export import metadata as metadata_lib
from tfface.export import validation as v
from tfface.networks import stylegan2 as networks


class GeneratorModule(tf.Module):
  """Wraps a built :class:`~tfface.networks.stylegan2.Generator` for export."""

  def __init__(self, generator: networks.Generator):
    super().__init__(name="stylegan2")
    self.generator = generator
    inputs = self.signature_inputs()

    @v.validated_function("generate", inputs["generate"])
    def generate(z, truncation_psi):
      images = self.generator(z, truncation_psi=truncation_psi,
                              noise_mode="const")
      return {"image": tf.clip_by_value(images, -1.0, 1.0)}

    @v.validated_function("generate_from_w", inputs["generate_from_w"])
    def generate_from_w(w, truncation_psi):
      ws = self.generator.truncate(w, truncation_psi)
      images = self.generator.synthesis(ws, noise_mode="const")
      return {"image": tf.clip_by_value(images, -1.0, 1.0)}

    @v.validated_function("mapping", inputs["mapping"])
    def mapping(z):
      return {"w": self.generator.mapping(z)}

    self.generate = generate
    self.generate_from_w = generate_from_w
    self.mapping = mapping

  def signature_inputs(self) -> Dict[str, Tuple[v.Input, ...]]:
    """Signature name -> the inputs it takes and checks."""
    g = self.generator
    z = v.Input("z", (v.BATCH, g.z_dim), finite=True)
    psi = v.Input("truncation_psi", (), meaning="(1 = none, 0 = w̄)",
                  finite=True)
    return {"generate": (z, psi),
            "generate_from_w": (
                v.Input("w", (v.BATCH, g.num_ws, g.style_dim),
                        meaning="(W+)", finite=True), psi),
            "mapping": (z,)}

  def export_metadata(self) -> Dict[str, object]:
    """``tfface.json``: the conventions plus the generator's sizes."""
    g = self.generator
    image = (f"[B, {g.resolution}, {g.resolution}, 3] float32 RGB in "
             "[-1, 1]")
    return metadata_lib.build_metadata(
        "stylegan2", g.resolution, "generate", self.signature_inputs(),
        {"generate": {"image": image}, "generate_from_w": {"image": image},
         "mapping": {"w": f"[B, {g.style_dim}] w"}},
        extra={"z_dim": g.z_dim, "style_dim": g.style_dim,
               "num_ws": g.num_ws,
               "noise": "the generator's stored buffers (deterministic)"})

  def signatures(self) -> Dict[str, object]:
    """Name -> tf.function, for :func:`tfface.export.export_module`."""
    return {"generate": self.generate, "generate_from_w": self.generate_from_w,
            "mapping": self.mapping}
