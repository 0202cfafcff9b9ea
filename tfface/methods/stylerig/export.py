"""StyleRig's serving module: rig, estimate and generate, no renderer inside.

Signatures (``None`` batch, stock ops only; inputs checked in the graph,
see :mod:`tfface.export.validation`):

* ``estimate``: ``w_plus`` `[B, L, D]` -> ``{"params": [B, N]}`` = F(w),
  the face-model parameters in the layout ``metadata["params"]`` names;
* ``rig``: ``w_plus`` `[B, L, D]`, ``params`` `[B, N]` (e.g. ``estimate``'s
  output with some entries changed) -> ``{"w_plus": ŵ, "image": G(ŵ)}``.
  Every exported mode's RigNet is applied in turn (pose, expression,
  illumination, identity order), each fed its slice of ``params``: entries
  left at F(w) change (almost) nothing (RigNet(w, F(w)) = w is trained);
* ``generate_from_w``: ``w_plus`` -> ``{"image": [B, R, R, 3]}`` in [-1, 1].

Images use the generator's stored noise buffers (deterministic).
"""

from typing import Dict, Mapping, Tuple

import tensorflow as tf

from tfface.export import metadata as metadata_lib
from tfface.export import validation as v
from tfface.methods.stylerig import networks


class StyleRigModule(tf.Module):
  """Wraps G, F and RigNets ``{mode: (rignet, condition_on)}`` for export."""

  def __init__(self, generator, estimator, rignets: Mapping[str, Tuple],
               layout: str):
    super().__init__(name="stylerig")
    self.generator = generator
    self.estimator = estimator
    self.layout_name = layout
    self.layout = networks.ParameterLayout.named(layout)
    order = [m for m in networks.MODES if m in rignets]
    self.modes = tuple(order)
    self.rignets = [rignets[m][0] for m in order]
    self.conditions = [rignets[m][1] for m in order]
    self.indices = [tf.constant(self.layout.mode_indices(m)) for m in order]
    inputs = self.signature_inputs()
    self._signatures = {}

    @v.validated_function("estimate", inputs["estimate"])
    def estimate(w_plus):
      return {"params": self.estimator(w_plus)}

    @v.validated_function("generate_from_w", inputs["generate_from_w"])
    def generate_from_w(w_plus):
      return {"image": self._generate(w_plus)}

    self.estimate = estimate
    self.generate_from_w = generate_from_w
    self._signatures.update(estimate=estimate, generate_from_w=generate_from_w)
    if self.rignets:
      @v.validated_function("rig", inputs["rig"])
      def rig(w_plus, params):
        w_hat = self.apply_rig(w_plus, params)
        return {"w_plus": w_hat, "image": self._generate(w_hat)}
      self.rig = rig
      self._signatures["rig"] = rig

  def apply_rig(self, w_plus, params):
    """ŵ after every exported RigNet (see the module docstring)."""
    w_hat = w_plus
    for rignet, condition, indices in zip(self.rignets, self.conditions,
                                          self.indices):
      fed = tf.gather(params, indices, axis=-1) if condition == "mode" \
          else params
      w_hat = rignet(w_hat, fed)
    return w_hat

  def _generate(self, w_plus):
    images = self.generator.synthesis(w_plus, noise_mode="const")
    return tf.clip_by_value(images, -1.0, 1.0)

  def signature_inputs(self) -> Dict[str, Tuple[v.Input, ...]]:
    g = self.generator
    w = v.Input("w_plus", (v.BATCH, g.num_ws, g.style_dim), meaning="(W+)",
                finite=True)
    p = v.Input("params", (v.BATCH, self.layout.size),
                meaning=f"({self.layout_name} face-model parameters)",
                finite=True)
    out = {"estimate": (w,), "generate_from_w": (w,)}
    if self.rignets:
      out["rig"] = (w, p)
    return out

  def export_metadata(self) -> Dict[str, object]:
    g = self.generator
    image = f"[B, {g.resolution}, {g.resolution}, 3] float32 RGB in [-1, 1]"
    outputs = {"estimate": {"params": f"[B, {self.layout.size}]"},
               "generate_from_w": {"image": image}}
    if self.rignets:
      outputs["rig"] = {"w_plus": f"[B, {g.num_ws}, {g.style_dim}]",
                        "image": image}
    return metadata_lib.build_metadata(
        "stylerig", g.resolution, "rig" if self.rignets else "estimate",
        self.signature_inputs(), outputs,
        extra={"num_ws": g.num_ws, "style_dim": g.style_dim,
               "layout": self.layout_name,
               "params": {n: list(s) for n, s in self.layout.slices.items()},
               "modes": list(self.modes),
               "noise": "the generator's stored buffers (deterministic)"})

  def signatures(self) -> Dict[str, object]:
    return dict(self._signatures)


def export_stylerig(base_dir: str, generator, estimator, rignets,
                    layout: str, version=None) -> str:
  """Exports G, F and RigNets with metadata; returns the version directory."""
  module = StyleRigModule(generator, estimator, rignets, layout)
  return metadata_lib.export_servable(
      module, base_dir, module.signatures(), module.export_metadata(),
      module.signature_inputs(), version=version)
