"""Pictures of what the analysis networks see: landmark dots and parse colours.

:func:`draw_overlays` turns images, landmarks and class maps into uint8 RGB
pictures (for the pretrained bundle's "outputs on generated images" PNG,
TensorBoard and notebooks). Plain NumPy: it runs on outputs, not in graphs.
"""

from typing import Optional

import numpy as np

from tfface.analysis import landmarks as landmarks_lib

# One fixed colour per tfface.data.schema.PARSE_CLASSES id (background first,
# never drawn): skin, hair, beard, brows, eyes, lips, mouth.
PARSE_PALETTE = np.array([
    [0, 0, 0],        # background
    [255, 204, 153],  # skin: peach
    [120, 60, 20],    # hair: brown
    [0, 160, 80],     # beard: green
    [255, 230, 0],    # brows: yellow
    [0, 120, 255],    # eyes: blue
    [230, 0, 90],     # lips: crimson
    [160, 0, 255],    # mouth interior: violet
], np.uint8)

# One colour per landmarks.LANDMARK_GROUPS entry: jaw, brows, nose, eyes,
# mouth.
LANDMARK_COLOURS = np.array([
    [0, 255, 255], [255, 255, 0], [255, 128, 0], [0, 255, 0], [255, 0, 255],
], np.uint8)


def to_uint8(images) -> np.ndarray:
  """`[B, H, W, 3]` float in [-1, 1] -> uint8 in [0, 255] (clipped)."""
  images = np.asarray(images, np.float32)
  return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def draw_overlays(images, landmarks=None, classes=None, scale: int = 1,
                  alpha: float = 0.45, dot_radius: Optional[int] = None
                  ) -> np.ndarray:
  """Images with landmark dots and a semi-transparent parse overlay.

  Args:
    images: `[B, H, W, 3]` float RGB in [-1, 1].
    landmarks: `[B, N, 2]` (x, y) continuous pixels of ``images`` (pixel
      (r, c) centred at (c + 0.5, r + 0.5)), or None. With 68 points each
      iBUG group gets its colour (:data:`LANDMARK_COLOURS`), else all green.
    classes: `[B, H, W]` int ids of ``tfface.data.schema.PARSE_CLASSES``, or
      None; every class but background is blended in its
      :data:`PARSE_PALETTE` colour with weight ``alpha``.
    scale: nearest-neighbour upscaling before drawing (64 px faces are easier
      to read at 4×); landmarks scale with it.
    alpha: overlay opacity in [0, 1].
    dot_radius: half-size in output pixels of each square dot (default
      ``max(1, scale // 2)``); 0 draws one pixel.

  Returns:
    `[B, H · scale, W · scale, 3]` uint8.
  """
  pictures = to_uint8(images)
  if pictures.ndim != 4 or pictures.shape[-1] != 3:
    raise ValueError(f"draw_overlays images must be [B, H, W, 3], got shape "
                     f"{pictures.shape}")
  if int(scale) < 1:
    raise ValueError(f"draw_overlays scale must be an int >= 1, got {scale!r}")
  if not 0.0 <= alpha <= 1.0:
    raise ValueError(f"draw_overlays alpha must be in [0, 1], got {alpha!r}")
  scale = int(scale)
  batch, height, width = pictures.shape[:3]
  out = pictures.astype(np.float32)
  if classes is not None:
    classes = np.asarray(classes)
    if classes.shape != (batch, height, width):
      raise ValueError(f"draw_overlays classes must be [B, H, W] = "
                       f"{[batch, height, width]}, got {list(classes.shape)}")
    ids = np.clip(classes.astype(np.int64), 0, len(PARSE_PALETTE) - 1)
    colours = PARSE_PALETTE[ids].astype(np.float32)
    weight = np.where(ids > 0, alpha, 0.0)[..., None]
    out = out * (1.0 - weight) + colours * weight
  out = np.clip(np.round(out), 0, 255).astype(np.uint8)
  if scale > 1:
    out = out.repeat(scale, axis=1).repeat(scale, axis=2)
  if landmarks is not None:
    points = np.asarray(landmarks, np.float32)
    if points.ndim != 3 or points.shape[0] != batch or points.shape[2] != 2:
      raise ValueError(f"draw_overlays landmarks must be [B, N, 2] with B = "
                       f"{batch}, got shape {list(points.shape)}")
    radius = max(1, scale // 2) if dot_radius is None else int(dot_radius)
    colour_of = np.tile(np.array([[0, 255, 0]], np.uint8),
                        [points.shape[1], 1])
    if points.shape[1] == landmarks_lib.NUM_LANDMARKS:
      for colour, (_, start, end) in zip(LANDMARK_COLOURS,
                                         landmarks_lib.LANDMARK_GROUPS):
        colour_of[start:end] = colour
    out_h, out_w = out.shape[1:3]
    for b in range(batch):
      for n, (x, y) in enumerate(points[b] * scale):
        if not (np.isfinite(x) and np.isfinite(y)):
          continue
        col, row = int(np.floor(x)), int(np.floor(y))
        r0, r1 = max(row - radius, 0), min(row + radius + 1, out_h)
        c0, c1 = max(col - radius, 0), min(col + radius + 1, out_w)
        if r0 < r1 and c0 < c1:
          out[b, r0:r1, c0:c1] = colour_of[n]
  return out
