"""Dense (per-pixel flow) image warping in stock TensorFlow ops.

The removed ``tf.contrib.image.dense_image_warp`` (and TF Addons'
``tfa.image.dense_image_warp``, end-of-life) rewritten with gathers, so it
runs on any device, under ``tf.function`` and inside exported SavedModels.
DiscoFaceGAN's expression-warp loss (:mod:`tfface.losses.contrastive`) warps
a generated face along a rendered 2-D flow with it.

Semantics (identical to the contrib/tfa op, including its border handling)::

    output[b, y, x, c] = bilinear(image[b, :, :, c],
                                  y - flow[b, y, x, 0],
                                  x - flow[b, y, x, 1])

Integer pixel coordinates are pixel centres (row ``y``, column ``x``). A query
outside the image is clamped the way the contrib op clamps it: the lower
neighbour is clipped to ``[0, size - 2]`` and the interpolation weight to
``[0, 1]``, so a query beyond an edge reads the edge pixel.

Gradients flow to ``image`` (through the gathers) and to ``flow`` (through
the bilinear weights; zero where a query is clamped).
"""

import tensorflow as tf


@tf.autograph.experimental.do_not_convert
def dense_image_warp(image: tf.Tensor, flow: tf.Tensor) -> tf.Tensor:
  """Warps an image by a dense flow field with bilinear sampling.

  Args:
    image: `[B, H, W, C]` float images (any range; H, W >= 2).
    flow: `[B, H, W, 2]` float displacement in pixels, `(dy, dx)` = (row,
      column): the output pixel `(y, x)` samples `image` at
      `(y - dy, x - dx)`. A flow of `(+1, 0)` moves the content one row down.

  Returns:
    `[B, H, W, C]` the warped image, the dtype of `image`.

  Raises:
    ValueError: on mismatched ranks or shapes, or an image smaller than 2×2.
  """
  image = tf.convert_to_tensor(image)
  flow = tf.convert_to_tensor(flow, image.dtype)
  if image.shape.rank != 4:
    raise ValueError("dense_image_warp: image must be [B, H, W, C], got shape "
                     f"{image.shape}.")
  if flow.shape.rank != 4 or flow.shape[-1] not in (None, 2):
    raise ValueError("dense_image_warp: flow must be [B, H, W, 2] (dy, dx), "
                     f"got shape {flow.shape}.")
  if not image.shape[:3].is_compatible_with(flow.shape[:3]):
    raise ValueError(f"dense_image_warp: flow has shape {flow.shape}; "
                     f"expected [B, H, W, 2] matching image {image.shape}.")
  for axis, name in ((1, "height"), (2, "width")):
    if image.shape[axis] is not None and image.shape[axis] < 2:
      raise ValueError(f"dense_image_warp: image {name} must be >= 2, got "
                       f"{image.shape[axis]}.")
  shape = tf.shape(image)
  batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
  rows = tf.cast(tf.range(height), image.dtype)
  cols = tf.cast(tf.range(width), image.dtype)
  grid_y, grid_x = tf.meshgrid(rows, cols, indexing="ij")  # [H, W]
  query_y = grid_y[None] - flow[..., 0]
  query_x = grid_x[None] - flow[..., 1]

  def corners(query, size):
    # The contrib op's clamping: floor in [0, size - 2], alpha in [0, 1].
    max_floor = tf.cast(size - 2, image.dtype)
    floor = tf.clip_by_value(tf.floor(query), 0.0, max_floor)
    floor = tf.stop_gradient(floor)
    alpha = tf.clip_by_value(query - floor, 0.0, 1.0)
    floor = tf.cast(floor, tf.int32)
    return floor, floor + 1, alpha[..., None]

  y0, y1, alpha_y = corners(query_y, height)
  x0, x1, alpha_x = corners(query_x, width)
  flat = tf.reshape(image, tf.stack([batch * height * width, channels]))
  base = (tf.range(batch) * height * width)[:, None, None]

  def gather(y, x):
    return tf.gather(flat, base + y * width + x)  # [B, H, W, C]

  top = gather(y0, x0) + alpha_x * (gather(y0, x1) - gather(y0, x0))
  bottom = gather(y1, x0) + alpha_x * (gather(y1, x1) - gather(y1, x0))
  return top + alpha_y * (bottom - top)
