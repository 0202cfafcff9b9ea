"""The DiscoFaceGAN serving module.

Signatures (``None`` batch, stock ops, inputs checked in the graph):

* ``generate``: ``z`` `[B, z_dim]` (the VAE latents, order
  ``z_id | z_exp | z_sh | z_pose``), ``noise`` ε `[B, noise_dim]`,
  ``truncation_psi`` scalar (attribute-preserving, 1 = none) ->
  ``{"image": [B, R, R, 3] in [-1, 1], "lambda": [B, lambda_dim]}``;
* ``generate_from_lambda``: ``lambda`` `[B, lambda_dim]`, ``noise``,
  ``truncation_psi`` -> ``{"image"}`` (reference-based generation: λ from
  a reconstruction net);
* ``generate_from_w``: ``w_plus`` `[B, num_layers, W]` -> ``{"image"}``
  (DFG #36);
* ``mapping``: ``lambda``, ``noise`` -> ``{"w": [B, W], "w_plus": [B, L,
  W]}``;
* ``edit``: ``w_plus``, ``factor`` int32 scalar (0 identity, 1 expression,
  2 pose, 3 sh), ``source`` λ_s `[B, lambda_dim]`, ``target`` `[B,
  lambda_dim]` (only its ``factor`` slice is used), ``noise`` -> ``{"w_plus":
  w⁺ + F([λ_t, ε]) − F([λ_s, ε]), "image"}`` with λ_t = λ_s with the
  factor's slice from ``target`` (Eq. 11).

Noise maps are fixed (``noise_mode="const"``): outputs are deterministic.
"""

from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfface.export import metadata as metadata_lib
from tfface.export import validation as v
from tfface.methods.discofacegan import lambda_space as ls
from tfface.methods.discofacegan import truncation


class DiscoFaceGANModule(tf.Module):
  """Wraps a built generator, the λ sampler and w̄_id for export.

  Args:
    generator: a built DiscoFaceGenerator (the EMA copy).
    sampler: the :class:`~tfface.methods.discofacegan.lambda_space.
      LambdaSampler` (its VAE decoders are exported with the model).
    w_avg_id: `[W]` w̄_id (:func:`~tfface.methods.discofacegan.truncation.
      average_identity_w`).
    truncation_cutoff: truncated layers (8).
  """

  def __init__(self, generator, sampler: ls.LambdaSampler, w_avg_id,
               truncation_cutoff: Optional[int] = None):
    super().__init__(name="discofacegan")
    self.generator = generator
    self.sampler = sampler
    self.vaes = sampler.vaes
    self.layout = sampler.layout
    self.w_avg_id = tf.Variable(np.asarray(w_avg_id, np.float32),
                                trainable=False, name="w_avg_id")
    self.cutoff = truncation.coarse_cutoff(generator.num_layers,
                                           truncation_cutoff)
    masks = np.zeros([len(ls.FACTORS), self.layout.lambda_dim], np.float32)
    for i, f in enumerate(ls.FACTORS):
      a, b = self.layout.slices[f]
      masks[i, a:b] = 1.0
    self._factor_masks = tf.constant(masks)
    inputs = self.signature_inputs()
    g, layout = self.generator, self.layout

    def image(w_plus):
      return tf.clip_by_value(g.synthesize(w_plus, noise_mode="const"),
                              -1.0, 1.0)

    def truncated(lam, noise, psi):
      return truncation.truncate(g, layout, lam, noise, self.w_avg_id, psi,
                                 self.cutoff)

    @v.validated_function("generate", inputs["generate"])
    def generate(z, noise, truncation_psi):
      lam = self.sampler.decode(self.sampler.split_z(z))
      return {"image": image(truncated(lam, noise, truncation_psi)),
              "lambda": lam}

    @v.validated_function("generate_from_lambda",
                          inputs["generate_from_lambda"])
    def generate_from_lambda(lambda_, noise, truncation_psi):
      return {"image": image(truncated(lambda_, noise, truncation_psi))}

    @v.validated_function("generate_from_w", inputs["generate_from_w"])
    def generate_from_w(w_plus):
      return {"image": image(w_plus)}

    @v.validated_function("mapping", inputs["mapping"])
    def mapping(lambda_, noise):
      w = g.map(layout.with_noise(lambda_, noise))
      return {"w": w, "w_plus": g.w_plus(layout.with_noise(lambda_, noise))}

    @v.validated_function("edit", inputs["edit"])
    def edit(w_plus, factor, source, target, noise):
      mask = tf.gather(self._factor_masks, factor)[None]
      lam_t = source * (1.0 - mask) + target * mask
      w_t = g.map(layout.with_noise(lam_t, noise))
      w_s = g.map(layout.with_noise(source, noise))
      edited = w_plus + (w_t - w_s)[:, None]
      return {"w_plus": edited, "image": image(edited)}

    self.generate = generate
    self.generate_from_lambda = generate_from_lambda
    self.generate_from_w = generate_from_w
    self.mapping = mapping
    self.edit = edit

  @classmethod
  def from_method(cls, method, num_samples: int = 10000):
    """From a built (restored) :class:`DiscoFaceGANMethod`: its EMA
    generator, sampler and a fresh w̄_id over ``num_samples``."""
    w_avg = truncation.average_identity_w(method.generator_ema,
                                          method.sampler, num_samples)
    return cls(method.generator_ema, method.sampler, w_avg)

  def signature_inputs(self) -> Dict[str, Tuple[v.Input, ...]]:
    g, layout = self.generator, self.layout
    z = v.Input("z", (v.BATCH, self.sampler.z_dim),
                meaning="VAE latents z_id|z_exp|z_sh|z_pose ~ N(0, 1)",
                finite=True)
    noise = v.Input("noise", (v.BATCH, layout.noise_dim),
                    meaning="epsilon ~ N(0, 1)", finite=True)
    psi = v.Input("truncation_psi", (), meaning="(1 = none, 0 = mean "
                  "identity)", finite=True)
    lam = v.Input("lambda_", (v.BATCH, layout.lambda_dim),
                  meaning=f"lambda ({layout.describe()})", finite=True)
    w_plus = v.Input("w_plus", (v.BATCH, g.num_layers, g.w_dim),
                     meaning="(W+)", finite=True)
    factor = v.Input("factor", (), tf.int32,
                     meaning="(0 identity, 1 expression, 2 pose, 3 sh)",
                     minimum=0, maximum=len(ls.FACTORS) - 1)
    source = v.Input("source", (v.BATCH, layout.lambda_dim),
                     meaning="lambda of the embedded face", finite=True)
    target = v.Input("target", (v.BATCH, layout.lambda_dim),
                     meaning="lambda holding the factor's new values",
                     finite=True)
    return {"generate": (z, noise, psi),
            "generate_from_lambda": (lam, noise, psi),
            "generate_from_w": (w_plus,),
            "mapping": (lam, noise),
            "edit": (w_plus, factor, source, target, noise)}

  def export_metadata(self) -> Dict[str, object]:
    g, layout = self.generator, self.layout
    r = g.resolution
    image = f"[B, {r}, {r}, 3] float32 RGB in [-1, 1]"
    w_plus = f"[B, {g.num_layers}, {g.w_dim}] W+"
    return metadata_lib.build_metadata(
        "discofacegan", r, "generate", self.signature_inputs(),
        {"generate": {"image": image,
                      "lambda": f"[B, {layout.lambda_dim}] lambda"},
         "generate_from_lambda": {"image": image},
         "generate_from_w": {"image": image},
         "mapping": {"w": f"[B, {g.w_dim}] w", "w_plus": w_plus},
         "edit": {"w_plus": w_plus, "image": image}},
        extra={"layout": layout.layout,
               "factors": {f: list(s) for f, s in layout.slices.items()},
               "factor_ids": {f: i for i, f in enumerate(ls.FACTORS)},
               "z_sizes": dict(self.sampler.z_sizes),
               "noise_dim": layout.noise_dim,
               "num_layers": g.num_layers, "w_dim": g.w_dim,
               "truncation_cutoff": self.cutoff,
               "noise": "fixed noise maps (deterministic)"})

  def signatures(self) -> Dict[str, object]:
    return {"generate": self.generate,
            "generate_from_lambda": self.generate_from_lambda,
            "generate_from_w": self.generate_from_w,
            "mapping": self.mapping, "edit": self.edit}
