"""The LiftedGAN 3D generator: frozen G_2D + D_V, D_L, M, D_S, D_T + renderer.

:class:`LiftedGAN` estimates the 3D components of a style code w
(:meth:`LiftedGAN.estimate`, the reference's ``estimate()``) and renders
them in any view and light (:meth:`LiftedGAN.render`). The trainable
networks are ``decomposition`` (D_V, D_L), ``composition`` (M), ``depth_net``
(D_S) and ``transformation_net`` (D_T); the generator is frozen.
"""

from typing import Dict, Optional

import tensorflow as tf

from tfface.methods.liftedgan import networks
from tfface.rendering import depth_renderer as dr

# Where the transformation map is forced to 1: depth <= border − 0.01.
_FACE_MARGIN = 0.01


class LiftedGAN(tf.Module):
  """The 3D generator around a frozen StyleGAN2.

  Args:
    generator: a built StyleGAN2 :class:`~tfface.networks.stylegan2.Generator`
      (frozen here).
    hidden: width of the MLPs of D_V, D_L and M (512).
    depth_z_dim: MLP width of D_S (512).
    transform_z_dim: MLP width of D_T (16).
    nf: channels of D_S / D_T at full resolution (16).
    max_channels: channel cap of the decoders (512).
    min_depth, max_depth, border_depth: depth range and border (0.9, 1.1,
      1.05).
    clamp_border: set the 2 leftmost / rightmost depth columns to the border.
    fov_degrees: camera field of view (10).
    clip_render_grad: ContourGradientClip on the rasterized depth.
    blur_size, blur_sigma: the Gaussian of T and of the albedo regulariser.
    backend: rasterizer backend (``"tf"`` pure TF; ``"tfg_cpu"``).
    residual_composition: M starts as the identity map (w₀ = w + MLP(...),
      :class:`~tfface.methods.liftedgan.networks.StyleComposition`).
    flat_depth_init: D_S starts flat
      (:class:`~tfface.methods.liftedgan.networks.DepthDecoder`).
    pose_basis: D_V and M start from a linear pose model of W
      (:mod:`~tfface.methods.liftedgan.pose_basis`; needs
      ``residual_composition``), assigned with :meth:`assign_pose_basis`.
    lock_pose: M's learned residual leaves that model's pose readout
      unchanged (pose moves along the basis only; see
      :class:`~tfface.methods.liftedgan.networks.StyleComposition`).
    min_diffuse: smallest diffuse light strength
      (:class:`~tfface.rendering.depth_renderer.DepthMapRenderer`; a
      departure for short runs: with D_S flat at the start, the diffuse term
      only brightens uniformly and D_L drives it to 0 with tanh saturated,
      after which shading never constrains the depth).
    All False / 0 is the reference.
  """

  def __init__(self, generator, hidden: int = 512, depth_z_dim: int = 512,
               transform_z_dim: int = 16, nf: int = 16,
               max_channels: int = 512, min_depth: float = 0.9,
               max_depth: float = 1.1, border_depth: float = 1.05,
               clamp_border: bool = True, fov_degrees: float = 10.0,
               clip_render_grad: bool = True, blur_size: int = 10,
               blur_sigma: float = 4.0, backend: str = "tf",
               residual_composition: bool = False,
               flat_depth_init: bool = False, pose_basis: bool = False,
               lock_pose: bool = False, min_diffuse: float = 0.0):
    super().__init__(name="liftedgan")
    self.generator = networks.FrozenGenerator(generator)
    self.resolution = self.generator.resolution
    self.style_dim = self.generator.style_dim
    self.z_dim = self.generator.z_dim
    if not min_depth < border_depth < max_depth:
      raise ValueError(f"expected min_depth < border_depth < max_depth, got "
                       f"{min_depth}, {border_depth}, {max_depth}")
    if blur_size >= self.resolution:
      raise ValueError(f"blur_size {blur_size} must be smaller than the "
                       f"resolution {self.resolution} (reflect padding)")
    self.decomposition = networks.StyleDecomposition(
        hidden, style_dim=self.style_dim if pose_basis else None,
        name="decomposition")
    self.composition = networks.StyleComposition(
        self.style_dim, hidden, residual=residual_composition,
        pose_basis=pose_basis, lock_pose=lock_pose, name="composition")
    self.depth_net = networks.DepthDecoder(
        self.resolution, depth_z_dim, nf, max_channels,
        flat_init=flat_depth_init, name="depth_net")
    self.transformation_net = networks.TransformationDecoder(
        self.resolution, transform_z_dim, nf, max_channels,
        name="transformation_net")
    self.min_depth, self.max_depth = float(min_depth), float(max_depth)
    self.border_depth = float(border_depth)
    self.clamp_border = bool(clamp_border)
    self.blur_size, self.blur_sigma = int(blur_size), float(blur_sigma)
    self.renderer = dr.DepthMapRenderer(
        self.resolution, fov_degrees=fov_degrees, min_depth=min_depth,
        max_depth=max_depth, clip_render_grad=clip_render_grad,
        backend=backend, min_diffuse=min_diffuse)

  @property
  def trainable_networks(self) -> Dict[str, tf.keras.Model]:
    return {"decomposition": self.decomposition,
            "composition": self.composition, "depth_net": self.depth_net,
            "transformation_net": self.transformation_net}

  def trainable_weights_list(self):
    out = []
    for net in self.trainable_networks.values():
      out.extend(net.trainable_variables)
    return out

  def assign_pose_basis(self, fit: Dict[str, tf.Tensor]) -> None:
    """Sets D_V's and M's :class:`~tfface.methods.liftedgan.pose_basis.
    PoseBasis` (built with ``pose_basis=True``) to a
    :func:`~tfface.methods.liftedgan.pose_basis.fit_pose_basis` result."""
    if self.composition.pose_basis is None:
      raise ValueError("assign_pose_basis needs a LiftedGAN built with "
                       "pose_basis=True")
    self.decomposition.pose_basis.assign_fit(fit)
    self.composition.pose_basis.assign_fit(fit)

  def build_all(self) -> None:
    """Creates every weight with one estimate on a batch of 2."""
    w = self.generator.mapping(tf.zeros([2, self.z_dim]))
    self.estimate(w)

  def estimate(self, w: tf.Tensor) -> Dict[str, tf.Tensor]:
    """The 3D components of style codes w (the reference's ``estimate``).

    Args:
      w: `[B, D]` style codes (already truncated).

    Returns:
      dict: ``light`` `[B, 4]`, ``view`` `[B, 6]` (tanh, normalised),
      ``w0`` `[B, D]` neutral code, ``canonical`` `[B, R, R, 3]` G(w₀),
      ``depth`` `[B, R, R, 1]` in (min, max) with border columns,
      ``normals`` `[B, R, R, 3]`, ``albedo`` `[B, R, R, 3]` (de-lit G(w₀)),
      ``transformation`` `[B, R, R, 1]` T in [0, 1].
    """
    light, view = self.decomposition(w)
    neutral_light, neutral_view = networks.neutral_light_view(light)
    w0 = self.composition((tf.stop_gradient(w), neutral_light,
                           neutral_view))
    canonical, feature = self.generator(w0, return_feature=True)
    raw_depth = self.depth_net((w0, feature))
    depth = dr.depth_from_network(raw_depth, self.min_depth, self.max_depth,
                                  self.border_depth, self.clamp_border)
    raw_t = self.transformation_net(w0)
    transformation = dr.transformation_map_from_network(
        raw_t, depth, self.border_depth, self.blur_size, self.blur_sigma)
    normals = self.renderer.normals(depth)
    albedo = networks.delight(canonical, normals, light)
    return {"light": light, "view": view, "w0": w0, "canonical": canonical,
            "depth": depth, "normals": normals, "albedo": albedo,
            "transformation": transformation}

  def render(self, components: Dict[str, tf.Tensor],
             view: Optional[tf.Tensor] = None,
             light: Optional[tf.Tensor] = None,
             flip: bool = False) -> Dict[str, tf.Tensor]:
    """Renders estimated components in a view and light.

    Args:
      components: the output of :meth:`estimate`.
      view: `[B, 6]` normalised view; default the predicted one.
      light: `[B, 4]` normalised light; default the predicted one.
      flip: render the horizontally flipped depth and albedo (the symmetry
        term), with the same, unflipped T.

    Returns:
      the renderer's dict: ``image`` `[B, R, R, 3]` (not clamped), ``mask``,
      ``depth`` (background 1.2 · range), ``canonical_image``, ``shading``,
      ``normals``.
    """
    depth, albedo = components["depth"], components["albedo"]
    if flip:
      depth, albedo = depth[:, :, ::-1], albedo[:, :, ::-1]
    return self.renderer.render(
        depth, albedo,
        components["view"] if view is None else view,
        components["light"] if light is None else light,
        components["transformation"])

  def face_mask(self, depth: tf.Tensor) -> tf.Tensor:
    """`[B, R, R, 1]` 1 on the face (depth <= border − 0.01), else 0."""
    return tf.cast(depth <= self.border_depth - _FACE_MARGIN, tf.float32)
