"""Real-image embedding into W+ and Δw editing (paper §4.3, Eq. 11).

The authors never released either (DFG #2, #9, #14: "we do not train an
encoder ... directly update the latent code through backprop"). Here:

* :func:`embed` optimises a W+ code (``[B, num_layers, W]``, started at the
  mean w of random ``[λ, ε]``) with Adam on
  ``w_pix·mean|G(w⁺) − x| + w_perc·perceptual(G(w⁺), x) +
  w_lm·mean(((lm(G(w⁺)) − lm(x)) / R)²)`` — a pixel, a VGG perceptual and a
  landmark term, with fixed noise maps. Landmarks come from a frozen net
  (the landmark or reconstruction net), the perceptual features from
  :class:`tfface.losses.perceptual.PerceptualLoss`. Iterations and weights
  are ours (the paper gives none, notes §7).
* :func:`delta_w_edit` — Eq. 11: ``w⁺_edit = w⁺ + F([λ_t, ε]) − F([λ_s,
  ε])``, with λ_s the face's λ (from the reconstruction net) and λ_t λ_s with
  one factor changed (:func:`edit_factor`), the rule of DFG #9 and the
  ``lychenyoko/DiscoFaceGAN`` fork. Works for ``pose``, ``expression``,
  ``sh`` (illumination) and ``identity``.
"""

from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfface.methods.discofacegan import lambda_space as ls
from tfface.networks import stylegan1 as s1
from tfface.visualization import text


def delta_w_edit(generator, layout: ls.LambdaLayout, w_plus: tf.Tensor,
                 lam_source: tf.Tensor, lam_target: tf.Tensor,
                 noise: Optional[tf.Tensor] = None) -> tf.Tensor:
  """Eq. 11: ``w⁺ + F([λ_t, ε]) − F([λ_s, ε])``.

  Args:
    generator: a DiscoFaceGenerator.
    layout: the λ layout.
    w_plus: `[B, num_layers, W]` (an embedded face's W+).
    lam_source, lam_target: `[B, lambda_dim]`.
    noise: ε `[B, noise_dim]` (default 0).

  Returns:
    `[B, num_layers, W]`.
  """
  w_plus = s1.broadcast_styles(tf.convert_to_tensor(w_plus, tf.float32),
                               generator.num_layers)
  if noise is None:
    noise = tf.zeros([tf.shape(lam_source)[0], layout.noise_dim])
  w_t = generator.map(layout.with_noise(lam_target, noise))
  w_s = generator.map(layout.with_noise(lam_source, noise))
  return w_plus + (w_t - w_s)[:, None, :]


def edit_factor(generator, layout: ls.LambdaLayout, w_plus: tf.Tensor,
                lam_source: tf.Tensor, factor: str, value,
                noise: Optional[tf.Tensor] = None) -> tf.Tensor:
  """:func:`delta_w_edit` with λ_t = λ_s with ``factor`` set to ``value``
  (`[B or 1, n]`)."""
  target = layout.replace(lam_source, factor, value)
  return delta_w_edit(generator, layout, w_plus, lam_source, target, noise)


def lambda_of_images(reconstruct: Callable, layout: ls.LambdaLayout,
                     images: tf.Tensor) -> tf.Tensor:
  """λ of faces from the frozen reconstruction net (``reconstruct(images)``
  -> dict of groups). `[B, H, W, 3]` -> `[B, lambda_dim]`."""
  return layout.from_groups(reconstruct(images))


def mean_w(generator, sampler: ls.LambdaSampler, num_samples: int = 1000,
           seed: int = 3) -> tf.Tensor:
  """The mean of ``F([λ(z), ε])`` `[W]`, the embedding's start."""
  _, lam, noise = sampler.sample(int(num_samples), tf.constant([seed, 0]))
  return tf.reduce_mean(generator.map(sampler.layout.with_noise(lam, noise)),
                        axis=0)


class EmbeddingLoss:
  """The embedding objective (module docstring).

  Args:
    pixel_weight: weight of ``mean|G − x|``.
    perceptual: a ``(a, b) -> [B]`` per-image perceptual loss (e.g.
      ``PerceptualLoss(...).per_example``) or None.
    perceptual_weight: its weight.
    landmarks_fn: images -> `[B, 68, 2]` pixels, or None.
    landmark_weight: weight of ``mean(((lm_G − lm_x)/R)²)``.
  """

  def __init__(self, pixel_weight: float = 1.0,
               perceptual: Optional[Callable] = None,
               perceptual_weight: float = 1.0,
               landmarks_fn: Optional[Callable] = None,
               landmark_weight: float = 100.0):
    self.pixel_weight = float(pixel_weight)
    self.perceptual = perceptual
    self.perceptual_weight = float(perceptual_weight)
    self.landmarks_fn = landmarks_fn
    self.landmark_weight = float(landmark_weight)

  def per_example(self, fake: tf.Tensor, target: tf.Tensor,
                  target_landmarks: Optional[tf.Tensor] = None
                  ) -> Dict[str, tf.Tensor]:
    """Per-image terms `[B]` (weighted) and their sum ``total``."""
    out = {"pixel": self.pixel_weight * tf.reduce_mean(
        tf.abs(fake - target), [1, 2, 3])}
    if self.perceptual is not None and self.perceptual_weight:
      out["perceptual"] = self.perceptual_weight * self.perceptual(fake,
                                                                   target)
    if self.landmarks_fn is not None and self.landmark_weight:
      if target_landmarks is None:
        target_landmarks = self.landmarks_fn(target)
      size = float(fake.shape[1])
      out["landmarks"] = self.landmark_weight * tf.reduce_mean(tf.square(
          (self.landmarks_fn(fake) - target_landmarks) / size), [1, 2])
    out["total"] = tf.add_n(list(out.values()))
    return out


def embed(generator, images: tf.Tensor, w_start: tf.Tensor,
          loss: EmbeddingLoss, steps: int = 300, learning_rate: float = 0.01,
          lod: Optional[int] = None) -> Dict[str, object]:
  """Embeds faces into W+ by optimisation.

  Args:
    generator: a DiscoFaceGenerator (its synthesis; noise maps fixed).
    images: `[B, R, R, 3]` in [-1, 1], framed like the training faces.
    w_start: `[W]` or `[B, num_layers, W]` start (:func:`mean_w`).
    loss: the objective.
    steps: Adam iterations.
    learning_rate: Adam step size.
    lod: the generator's LOD (default the top).

  Returns:
    dict ``w_plus`` `[B, num_layers, W]`, ``images`` `[B, R, R, 3]` (G of
    it), ``history`` `[steps + 1]` mean total loss (first = at the start),
    ``terms`` dict of the final per-image terms.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  if images.shape.rank != 4 or images.shape[-1] != 3:
    raise ValueError(f"images to embed must be [B, H, W, 3] in [-1, 1], got "
                     f"shape {images.shape}")
  batch = int(images.shape[0])
  start = tf.convert_to_tensor(w_start, tf.float32)
  if start.shape.rank == 1:
    start = tf.tile(start[None, None], [batch, generator.num_layers, 1])
  w_plus = tf.Variable(start, name="w_plus")
  optimizer = tf.keras.optimizers.Adam(float(learning_rate))
  optimizer.build([w_plus])
  target_landmarks = (loss.landmarks_fn(images)
                      if loss.landmarks_fn is not None else None)

  def synthesize(w):
    out = generator.synthesize(w, lod=lod, noise_mode="const")
    if out.shape[1] != images.shape[1]:
      out = tf.image.resize(out, images.shape[1:3], antialias=True)
    return out

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      terms = loss.per_example(synthesize(w_plus), images, target_landmarks)
      total = tf.reduce_mean(terms["total"])
    optimizer.apply_gradients([(tape.gradient(total, w_plus), w_plus)])
    return total

  history = []
  for _ in range(int(steps)):
    history.append(float(step().numpy()))
  final = synthesize(w_plus)
  terms = loss.per_example(final, images, target_landmarks)
  history.append(float(tf.reduce_mean(terms["total"]).numpy()))
  return {"w_plus": tf.convert_to_tensor(w_plus), "images": final,
          "history": np.asarray(history), "terms": terms}


EDIT_FACTORS = ("expression", "sh", "pose", "identity")


def edit_rows(generator, layout: ls.LambdaLayout, w_plus: tf.Tensor,
              lam_source: tf.Tensor, targets: Mapping[str, tf.Tensor],
              lod: Optional[int] = None) -> Dict[str, tf.Tensor]:
  """For one embedded face (``w_plus`` `[1, L, W]`, ``lam_source`` `[1, n]`)
  and per factor K target values `[K, n_f]`: the K edited images
  `[K, R, R, 3]` per factor."""
  out = {}
  for factor, values in targets.items():
    values = tf.convert_to_tensor(values, tf.float32)
    k = int(values.shape[0])
    w = edit_factor(generator, layout, tf.tile(w_plus, [k, 1, 1]),
                    tf.tile(lam_source, [k, 1]), factor, values)
    out[factor] = generator.synthesize(w, lod=lod, noise_mode="const")
  return out


def to_uint8_grid(rows: Sequence[np.ndarray]) -> np.ndarray:
  """Rows of `[K, R, R, 3]` images in [-1, 1] (ragged K padded with black)
  -> `[rows·R, K·R, 3]` uint8."""
  rows = [np.asarray(r, np.float32) for r in rows]
  width = max(r.shape[0] for r in rows)
  size = rows[0].shape[1]
  out = []
  for r in rows:
    if r.shape[0] < width:
      r = np.concatenate([r, -np.ones([width - r.shape[0], size, size, 3],
                                      np.float32)])
    out.append(np.concatenate(list(r), axis=1))
  grid = np.concatenate(out, axis=0)
  return np.round((np.clip(grid, -1, 1) + 1) * 127.5).astype(np.uint8)


def write_png(path: str, pixels: np.ndarray) -> str:
  """Writes a uint8 `[H, W, 3]` PNG atomically."""
  import os  # pylint: disable=g-import-not-at-top
  tmp = path + ".tmp"
  tf.io.write_file(tmp, tf.io.encode_png(pixels))
  os.replace(tmp, path)
  return path


def read_image(path: str, size: int) -> np.ndarray:
  """An image file as `[size, size, 3]` float32 in [-1, 1] (resized)."""
  try:
    image = tf.image.decode_image(tf.io.read_file(path), channels=3,
                                  expand_animations=False)
  except (tf.errors.OpError, ValueError) as e:
    reason = " ".join(str(getattr(e, "message", e)).split())
    raise ValueError(f"cannot read image {path!r}: {reason}") from None
  image = tf.cast(image, tf.float32) / 127.5 - 1.0
  if image.shape[0] != size or image.shape[1] != size:
    image = tf.image.resize(image, [size, size], antialias=True)
  return image.numpy()


def method_embedding_loss(method, perceptual_weights: Optional[str] = None
                          ) -> EmbeddingLoss:
  """The embedding objective of a built DiscoFaceGANMethod: L1 pixels, VGG
  perceptual (a random-weight quarter-width VGG at weight 0.1 without
  ``perceptual_weights``, a Keras VGG-19 weights file) and the landmarks of
  its reconstruction net."""
  from tfface.losses import perceptual as perceptual_lib  # pylint: disable=g-import-not-at-top
  perceptual = perceptual_lib.PerceptualLoss(perceptual_weights, width=0.25
                                             if not perceptual_weights
                                             else 1.0)
  return EmbeddingLoss(
      perceptual=perceptual.per_example,
      perceptual_weight=1.0 if perceptual_weights else 0.1,
      landmarks_fn=lambda x: method.reconstruct(x)["landmarks"])


def edit_method_image(method, image: np.ndarray, steps: int = 300,
                      learning_rate: float = 0.01, num_edits: int = 5,
                      perceptual_weights: Optional[str] = None,
                      seed: int = 0) -> Dict[str, object]:
  """Embeds one face with a built DiscoFaceGANMethod's EMA generator and
  edits each factor.

  The face's λ_s comes from the method's reconstruction net; the edits set
  pose yaw to ``num_edits`` values in [−0.6, 0.6] rad and expression,
  illumination and identity to ``num_edits`` VAE samples (Eq. 11).

  Returns:
    dict ``grid`` (uint8: row 0 input | reconstruction, then one row per
    factor of :data:`EDIT_FACTORS`), ``history`` (embedding loss),
    ``reconstruction_l1`` (mean |G(w⁺) − x| in [-1, 1] units), ``w_plus``.
  """
  if method.reconstruct is None:
    raise ValueError("editing needs DiscoFaceGANMethod.reconstruction (λ of "
                     "the face comes from it)")
  g, layout = method.generator_ema, method.layout
  images = tf.convert_to_tensor(image[None], tf.float32)
  out = embed(g, images, mean_w(g, method.sampler),
              method_embedding_loss(method, perceptual_weights), steps,
              learning_rate)
  lam = lambda_of_images(method.reconstruct, layout, images)
  k = int(num_edits)
  pose = np.tile(lam.numpy()[:, slice(*layout.slices["pose"])], [k, 1])
  pose[:, 1] = np.linspace(-0.6, 0.6, k)
  targets = {"pose": pose}
  _, sampled, _ = method.sampler.sample(k, tf.constant([seed, 77]))
  parts = layout.split(sampled)
  for f in ("expression", "sh", "identity"):
    targets[f] = parts[f]
  rows = edit_rows(g, layout, out["w_plus"], lam,
                   {f: targets[f] for f in EDIT_FACTORS})
  grid = to_uint8_grid([np.concatenate([image[None], out["images"].numpy()])]
                       + [rows[f].numpy() for f in EDIT_FACTORS])
  return {"grid": grid, "history": out["history"],
          "reconstruction_l1": float(tf.reduce_mean(tf.abs(
              out["images"] - images))), "w_plus": out["w_plus"]}


def edit_run(model_dir: str, image_path: str, output_png: str,
             steps: int = 300, learning_rate: float = 0.01,
             num_edits: int = 5, perceptual_weights: Optional[str] = None
             ) -> Dict[str, object]:
  """``tools/edit.py discofacegan``: restore a run, embed ``image_path``,
  write the edit grid PNG (rows: input | reconstruction, then
  expression, illumination, pose, identity edits)."""
  from tfface.training import restore  # pylint: disable=g-import-not-at-top
  method = restore.restore_run(model_dir)
  image = read_image(image_path, method.resolution)
  out = edit_method_image(method, image, steps, learning_rate, num_edits,
                          perceptual_weights)
  import os  # pylint: disable=g-import-not-at-top
  directory = os.path.dirname(output_png)
  if directory:
    os.makedirs(directory, exist_ok=True)
  write_png(output_png, out["grid"])
  return {"png": output_png, "reconstruction_l1": out["reconstruction_l1"],
          "loss_start": float(out["history"][0]),
          "loss_end": float(out["history"][-1])}


def variation_grid(method, num_columns: int = 6, seed: int = 0,
                   lod: Optional[int] = None, alpha: float = 1.0
                   ) -> np.ndarray:
  """A uint8 grid of the EMA generator: one face, rows varying expression /
  illumination / pose / identity (a new VAE sample per column) with
  everything else fixed, then a row of the renders of the pose row's λ.

  Returns:
    `[5·R, num_columns·R, 3]` uint8.
  """
  g, layout, sampler = method.generator_ema, method.layout, method.sampler
  k = int(num_columns)
  _, base, noise = sampler.sample(1, tf.constant([seed, 1]))
  lam = tf.tile(base, [k, 1])
  noise = tf.tile(noise, [k, 1])
  _, sampled, _ = sampler.sample(k, tf.constant([seed, 2]))
  parts = layout.split(sampled)
  rows, pose_lam = [], None
  for factor in EDIT_FACTORS:
    edited = layout.replace(lam, factor, parts[factor])
    if factor == "pose":
      pose_lam = edited
    images = g(layout.with_noise(edited, noise), lod=lod, alpha=alpha,
               noise_mode="const")
    rows.append(s1.upsample_nearest(images, method.resolution //
                                    int(images.shape[1])).numpy())
  rows.append(method.render(pose_lam)["image"].numpy())
  return to_uint8_grid(rows)


VARIATION_ROWS = ("expression", "illumination", "pose", "identity",
                  "pose render")  # the last: renders of the pose row's λ


def variation_grids_run(model_dir: str, output_png: str, num_faces: int = 4,
                        num_columns: int = 6, seed: int = 0,
                        gin_params: Sequence[str] = ()) -> Dict[str, object]:
  """``tools/generate.py discofacegan``: restore a run and write, for
  ``num_faces`` faces, their :func:`variation_grid` (rows
  :data:`VARIATION_ROWS`, each labelled left of its row) one under the
  other, a black row between faces.

  Returns:
    dict ``png`` (the path), ``rows`` (row names of one face), ``faces``,
    ``step``, ``lod`` (the run's current LOD, which the faces are drawn at
    and upsampled from).
  """
  if int(num_faces) < 1 or int(num_columns) < 1:
    raise ValueError(f"num_faces and num_columns must be >= 1, got "
                     f"{num_faces} and {num_columns}")
  from tfface.training import restore  # pylint: disable=g-import-not-at-top
  method = restore.restore_run(model_dir, gin_params)
  # The LOD and fade the run trains at now: mid-schedule, the layers above
  # it are untrained and full resolution shows noise (the grid upsamples to
  # R).
  lod, alpha = method.lod_and_alpha_at()
  grids = []
  for i in range(int(num_faces)):
    grid = text.label_rows(
        variation_grid(method, num_columns, seed=int(seed) + i, lod=lod,
                       alpha=alpha),
        VARIATION_ROWS)
    if grids:
      grids.append(np.zeros([max(2, method.resolution // 8), grid.shape[1],
                             3], np.uint8))
    grids.append(grid)
  import os  # pylint: disable=g-import-not-at-top
  directory = os.path.dirname(output_png)
  if directory:
    os.makedirs(directory, exist_ok=True)
  write_png(output_png, np.concatenate(grids, axis=0))
  return {"png": output_png, "rows": list(VARIATION_ROWS),
          "faces": int(num_faces), "step": int(method.global_step.numpy()),
          "lod": int(lod)}
