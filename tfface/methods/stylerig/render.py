"""The differentiable render layer R(p) StyleRig's losses go through.

:class:`RenderSetup` turns a flat parameter vector ``p`` `[B, N]` (a
:class:`~tfface.methods.stylerig.networks.ParameterLayout`) into the face
renderer's groups, renders it with the pure-TF rasterizer (the backend with
gradients everywhere; ``tfg_cpu`` is a custom op) and evaluates Eq. 1 against
a batch of StyleGAN images.

Groups of the face model that the layout does not hold take the model's
defaults, overridden by ``fixed_groups``: by default the procedural model's
hair is switched off (``hair_style`` = 0: bald), since F does not estimate
hair and a default hair shell would cover forehead pixels that the
generated image shows as skin.
"""

from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfface.analysis import reconstruction as rec
from tfface.methods.stylerig import losses
from tfface.methods.stylerig import networks
from tfface.rendering import face_renderer

FACE_MODELS = ("procedural", "bfm")
MASK_MODES = ("rendered", "parser", "both")
DEFAULT_FIXED_GROUPS = {"hair_style": (0.0, 0.0, 0.0)}


def make_face_model(face_model: str = "procedural", model_resolution: int = 1,
                    bfm_path: Optional[str] = None):
  """The procedural model at ``model_resolution`` or BFM from ``bfm_path``."""
  if face_model == "procedural":
    return rec.procedural_model(int(model_resolution))
  if face_model == "bfm":
    if not bfm_path:
      raise ValueError("face_model 'bfm' needs bfm_path (BFM_model_front.mat)")
    from tfface.rendering import bfm  # pylint: disable=g-import-not-at-top
    with tf.init_scope():
      return bfm.BfmFaceModel(bfm_path)
  raise ValueError(f"face_model must be one of {FACE_MODELS}, got "
                   f"{face_model!r}")


class RenderSetup:
  """R(p) and L_render for one layout, face model and camera.

  Args:
    layout: the parameter layout of p.
    face_model: a FaceModel whose groups (and the scene's pose, sh,
      translation) the layout's names refer to.
    image_size: render side S (= the stored images').
    zoom: the camera's focal multiplier (0.75: tfface's synthetic framing,
      :func:`tfface.data.synthetic.dataset_camera`).
    backend: rasterizer backend (``"tf"``: differentiable, stock ops).
    fixed_groups: model groups set to fixed values (see module docstring).
  """

  def __init__(self, layout: networks.ParameterLayout, face_model,
               image_size: int, zoom: float = 0.75, backend: str = "tf",
               fixed_groups: Optional[Mapping[str, Sequence[float]]] = None):
    self.layout = layout
    self.model = face_model
    self.image_size = int(image_size)
    self.camera = rec.dataset_camera(self.image_size, zoom)
    self.renderer = face_renderer.FaceRenderer(
        face_model, self.image_size, camera=self.camera, backend=backend,
        enable_cull_face=True)
    sizes = self.renderer.parameter_sizes
    unknown = [n for n in layout.names if n not in sizes]
    if unknown:
      raise ValueError(f"layout groups {unknown} are not parameters of "
                       f"{type(face_model).__name__} (it has {list(sizes)})")
    for name in ("pose", "sh", "translation"):
      if name not in layout.names:
        raise ValueError(f"the layout must hold the scene group {name!r}")
    fixed = dict(DEFAULT_FIXED_GROUPS if fixed_groups is None
                 else fixed_groups)
    self.fixed_groups = {}
    for name, value in fixed.items():
      if name not in sizes:
        continue  # e.g. hair_style for BFM
      value = np.asarray(value, np.float32).reshape(-1)
      if value.shape != (sizes[name],):
        raise ValueError(f"fixed_groups[{name!r}] must have {sizes[name]} "
                         f"values, got {value.size}")
      self.fixed_groups[name] = value

  def parameters(self, p: tf.Tensor) -> Dict[str, tf.Tensor]:
    """The renderer's groups for flat p `[B, N]`."""
    groups = self.layout.split(p)
    batch = tf.shape(p)[0]
    params = dict(self.model.default_parameters(batch))
    for name, value in self.fixed_groups.items():
      params[name] = tf.tile(tf.constant(value)[None], [batch, 1])
    params.update(groups)
    return params

  def render(self, p: tf.Tensor) -> Dict[str, tf.Tensor]:
    """``FaceRenderer.render`` of p: image, mask, landmarks, ..."""
    return self.renderer.render(self.parameters(p))

  def loss(self, p: tf.Tensor, images: tf.Tensor, landmarks: tf.Tensor,
           face_mask: tf.Tensor, landmark_weight: float,
           mask_mode: str = "both",
           point_weights: Optional[Sequence[float]] = None,
           rendered: Optional[Dict[str, tf.Tensor]] = None):
    """L_render(I, p) (Eq. 1) of flat p against StyleGAN images.

    Args:
      p: `[B, N]`.
      images: `[B, S, S, 3]` I in [-1, 1].
      landmarks: `[B, 68, 2]` detected landmarks of I, pixels.
      face_mask: `[B, S, S, 1]` the parser's face mask of I.
      landmark_weight: λ_land.
      mask_mode: M = the rendered mesh's coverage (``"rendered"``, the
        paper), the parser's face mask (``"parser"``) or their product
        (``"both"``: pixels the mesh covers and the image shows as face).
      point_weights: per-landmark weights (see
        :func:`~tfface.methods.stylerig.losses.landmark_loss`).
      rendered: a precomputed :meth:`render` of p.

    Returns:
      ``(total, photometric, landmark)`` scalars.
    """
    if mask_mode not in MASK_MODES:
      raise ValueError(f"mask_mode must be one of {MASK_MODES}, got "
                       f"{mask_mode!r}")
    out = self.render(p) if rendered is None else rendered
    if mask_mode == "rendered":
      mask = out["mask"]
    elif mask_mode == "parser":
      mask = face_mask
    else:
      mask = out["mask"] * face_mask
    return losses.rendering_loss(images, out["image"], mask, landmarks,
                                 out["landmarks"], self.image_size,
                                 landmark_weight, point_weights)
