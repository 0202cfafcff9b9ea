"""The LiftedGAN serving module (stock ops only; the pure-TF rasterizer).

Signatures (``None`` batch dimension; inputs checked in the graph):

* ``sample``: ``z`` `[B, z_dim]`, ``truncation`` scalar -> ``image``
  `[B, R, R, 3]` in [−1, 1], the face re-rendered at its own predicted view
  and light, and ``stylegan2_image`` `[B, R, R, 3]`, the frozen StyleGAN2's
  image of the same w (the 2D face it lifts).
* ``render``: ``z`` `[B, z_dim]`, ``yaw`` `[B]`, ``pitch`` `[B]` (radians),
  ``light`` `[B, 4]` (l0, l1, dx, dy: ambient l0/2 + 0.5, diffuse
  l1/2 + 0.5, direction normalize(dx, dy, 1)) -> ``image``, ``mask``
  `[B, R, R, 1]`. Truncation 0.7 (the reference's).
* ``components``: ``z`` `[B, z_dim]` -> ``depth`` `[B, R, R, 1]` in
  (0.9, 1.1), ``albedo`` `[B, R, R, 3]`, ``normal`` `[B, R, R, 3]` (unit),
  ``transformation`` `[B, R, R, 1]`, ``view`` `[B, 6]` and ``light``
  `[B, 4]` (normalised, as predicted). Truncation 0.7.

``serving_default`` is ``sample``.
"""

from typing import Dict, Tuple

import numpy as np
import tensorflow as tf

from tfface.export import metadata as metadata_lib
from tfface.export import validation as v
from tfface.methods.liftedgan import control
from tfface.methods.liftedgan import model as model_lib
from tfface.rendering import depth_renderer as dr

TRUNCATION = 0.7


class LiftedGANModule(tf.Module):
  """Wraps a built :class:`~tfface.methods.liftedgan.model.LiftedGAN`."""

  def __init__(self, model: model_lib.LiftedGAN):
    super().__init__(name="liftedgan")
    self.model = model
    # Serving renders with the pure-TF rasterizer (stock ops, any batch).
    if model.renderer.backend != "tf":
      renderer = model.renderer
      model.renderer = dr.DepthMapRenderer(
          renderer.image_size, float(np.rad2deg(renderer.fov)),
          renderer.rot_center_depth,
          min_depth=renderer.min_depth, max_depth=renderer.max_depth,
          backend="tf", min_diffuse=renderer.min_diffuse)
    self.networks = dict(model.trainable_networks)
    self.statistics = model.generator.statistics
    self.generator = model.generator.generator
    inputs = self.signature_inputs()

    @v.validated_function("sample", inputs["sample"])
    def sample(z, truncation):
      w = model.generator.mapping(z, truncation)
      comps = model.estimate(w)
      image = tf.clip_by_value(model.render(comps)["image"], -1.0, 1.0)
      original = tf.clip_by_value(model.generator(w), -1.0, 1.0)
      return {"image": image, "stylegan2_image": original}

    @v.validated_function("render", inputs["render"])
    def render(z, yaw, pitch, light):
      comps = control.sample_components(model, z, TRUNCATION)
      view = control.make_view(model, yaw, pitch)
      out = model.render(comps, view, light)
      return {"image": tf.clip_by_value(out["image"], -1.0, 1.0),
              "mask": out["mask"]}

    @v.validated_function("components", inputs["components"])
    def components(z):
      comps = control.sample_components(model, z, TRUNCATION)
      return {"depth": comps["depth"], "albedo": comps["albedo"],
              "normal": comps["normals"],
              "transformation": comps["transformation"],
              "view": comps["view"], "light": comps["light"]}

    self.sample = sample
    self.render = render
    self.components = components

  def signature_inputs(self) -> Dict[str, Tuple[v.Input, ...]]:
    z = v.Input("z", (v.BATCH, self.model.z_dim), meaning="N(0, I) latent",
                finite=True)
    return {
        "sample": (z, v.Input("truncation", (), meaning="(1 = none)",
                              finite=True)),
        "render": (z, v.Input("yaw", (v.BATCH,), meaning="radians",
                              finite=True),
                   v.Input("pitch", (v.BATCH,), meaning="radians",
                           finite=True),
                   v.Input("light", (v.BATCH, 4),
                           meaning="(l0, l1, dx, dy) normalised", finite=True)),
        "components": (z,),
    }

  def export_metadata(self) -> Dict[str, object]:
    r = self.model.resolution
    image = f"[B, {r}, {r}, 3] float32 RGB in [-1, 1]"
    return metadata_lib.build_metadata(
        "liftedgan", r, "sample", self.signature_inputs(),
        {"sample": {"image": image + " (3D re-render)",
                    "stylegan2_image": image + " (the 2D face)"},
         "render": {"image": image, "mask": f"[B, {r}, {r}, 1] in {{0, 1}}"},
         "components": {
             "depth": f"[B, {r}, {r}, 1] in ({self.model.min_depth}, "
                      f"{self.model.max_depth})",
             "albedo": f"[B, {r}, {r}, 3] about [-1, 1]",
             "normal": f"[B, {r}, {r}, 3] unit normals (x right, y down, "
                       "z away from the camera)",
             "transformation": f"[B, {r}, {r}, 1] in [0, 1]",
             "view": "[B, 6] (rx, ry, rz, tx, ty, tz) normalised",
             "light": "[B, 4] (l0, l1, dx, dy) normalised"}},
        extra={"z_dim": self.model.z_dim, "truncation": TRUNCATION,
               "rotation_range_degrees": 60.0,
               "angles": "radians; pitch about x, yaw about y "
                         "(R = Rz Ry Rx about (0, 0, 1))"})

  def signatures(self) -> Dict[str, object]:
    return {"sample": self.sample, "render": self.render,
            "components": self.components}
