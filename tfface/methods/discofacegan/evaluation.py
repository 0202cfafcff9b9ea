"""The paper's two analyses (§5.1, Tables 1 and 2), and a run evaluator.

**Disentanglement score** (Table 1, Eq. 9). For factor u_i: draw G groups of
the other factors u_{j} (and ε), and M values of u_i per group; generate the
G·M images; re-estimate every factor on them — expression, illumination,
pose with the reconstruction net, identity with the identity net's
embedding; per group take the variance of each factor's estimates over the
M images (the trace of the covariance: the summed per-dimension variance),
average over groups, and normalise by the same factor's variance over real
images. Then ``DS_i = Π_{j≠i} σ_i / σ_j``: high when varying u_i changes
only u_i. The paper uses G = 1000, M = 10.

**W-space direction consistency** (Table 2, Eq. 10). ``Δŵ(i, a, b)`` is the
unit direction ``w(u_i = a, u_{j}) − w(u_i = b, u_{j})``. Property 1 (fixed
start and end): for P pairs (a, b), N draws of u_{j}: the mean pairwise
cosine of the N directions (off-diagonal pairs), then mean ± std over the P
pairs. Property 2 (fixed offset): for P offsets Δ, N draws of (a, u_{j}) with
b = a + Δ. The paper uses P = 50, N = 100.

Values of a factor are drawn from its VAE decoder (a and b two decoded z;
an offset Δ the difference of two decoded z).
"""

import collections
import json
import os
from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfface.methods.discofacegan import lambda_space as ls
from tfface.metrics import correlation


# -------------------------------------------------------- metric functions


def group_variance(estimates) -> float:
  """Mean over groups of the total variance within a group.

  Args:
    estimates: `[G, M, D]` (G groups of M estimates of a D-vector).

  Returns:
    ``mean_g Σ_d var_m(estimates[g, :, d])`` (population variance).
  """
  x = np.asarray(estimates, np.float64)
  if x.ndim != 3 or x.shape[1] < 2:
    raise ValueError(f"estimates must be [G, M >= 2, D], got shape {x.shape}")
  return float(np.mean(np.sum(np.var(x, axis=1), axis=-1)))


def total_variance(values) -> float:
  """``Σ_d var_n(values[:, d])`` of `[N, D]` (the real-data normaliser)."""
  x = np.asarray(values, np.float64)
  if x.ndim != 2 or x.shape[0] < 2:
    raise ValueError(f"values must be [N >= 2, D], got shape {x.shape}")
  return float(np.sum(np.var(x, axis=0)))


def disentanglement_score(normalized_variances: Mapping[str, float],
                          factor: str) -> float:
  """Eq. 9: ``Π_{j≠i} σ_i / σ_j`` from the normalised variances σ of every
  factor measured while varying ``factor``."""
  if factor not in normalized_variances:
    raise ValueError(f"no variance for factor {factor!r}; got "
                     f"{sorted(normalized_variances)}")
  s_i = float(normalized_variances[factor])
  score = 1.0
  for j, s_j in normalized_variances.items():
    if j != factor:
      score *= s_i / max(float(s_j), 1e-12)
  return score


def mean_pairwise_cosine(directions) -> float:
  """The mean cosine over all ordered pairs i ≠ j of `[N, W]` directions."""
  d = np.asarray(directions, np.float64)
  if d.ndim != 2 or d.shape[0] < 2:
    raise ValueError(f"directions must be [N >= 2, W], got shape {d.shape}")
  unit = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
  cos = unit @ unit.T
  n = d.shape[0]
  return float((cos.sum() - np.trace(cos)) / (n * (n - 1)))


# ------------------------------------------------------------- on a model


def _decode_factor(sampler: ls.LambdaSampler, factor: str, n: int, seed):
  z = sampler.sample_z(n, tf.constant(seed, tf.int32))
  return sampler.layout.split(sampler.decode(z))[factor]


def direction_consistency(mapping_fn: Callable, sampler: ls.LambdaSampler,
                          factor: str, num_pairs: int = 50,
                          num_others: int = 100, fixed_offset: bool = False,
                          seed: int = 0) -> Dict[str, float]:
  """Table 2 for one factor.

  Args:
    mapping_fn: ``[λ, ε]`` `[B, input_dim]` -> w `[B, W]`.
    sampler: the λ sampler (values from the VAE decoders).
    factor: one of :data:`~tfface.methods.discofacegan.lambda_space.FACTORS`
      (or an alias).
    num_pairs: P (50).
    num_others: N (100).
    fixed_offset: Property 2 (b = a + Δ, a varying) instead of Property 1.
    seed: base seed.

  Returns:
    ``{"mean", "std"}`` over the P pair averages.
  """
  layout = sampler.layout
  factor = ls.factor_name(factor)
  values = []
  for p in range(int(num_pairs)):
    base = [seed, 1000 + p]
    _, lam, noise = sampler.sample(num_others, tf.constant(base))
    ends = _decode_factor(sampler, factor, 2, [seed + 1, p])
    if fixed_offset:
      offset = ends[1:2] - ends[0:1]
      a = _decode_factor(sampler, factor, num_others, [seed + 2, p])
      b = a + offset
    else:
      a = tf.tile(ends[0:1], [num_others, 1])
      b = tf.tile(ends[1:2], [num_others, 1])
    w_a = mapping_fn(layout.with_noise(layout.replace(lam, factor, a), noise))
    w_b = mapping_fn(layout.with_noise(layout.replace(lam, factor, b), noise))
    values.append(mean_pairwise_cosine(np.asarray(w_a) - np.asarray(w_b)))
  return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def factor_estimates(images: tf.Tensor, reconstruct: Callable,
                     embed: Callable) -> Dict[str, np.ndarray]:
  """Every factor re-estimated on images: ``identity`` (embedding),
  ``expression``, ``pose``, ``sh`` (reconstruction net). Each `[B, D]`."""
  rec = reconstruct(images)
  return {"identity": np.asarray(embed(images)),
          "expression": np.asarray(rec["expression"]),
          "pose": np.asarray(rec["pose"]), "sh": np.asarray(rec["sh"])}


def real_variances(images_batches, reconstruct: Callable,
                   embed: Callable) -> Dict[str, float]:
  """Each factor's total variance over real images (the normaliser)."""
  parts = {f: [] for f in ls.FACTORS}
  for images in images_batches:
    for f, v in factor_estimates(images, reconstruct, embed).items():
      parts[f].append(v)
  return {f: total_variance(np.concatenate(v)) for f, v in parts.items()}


def disentanglement_scores(generate_fn: Callable, sampler: ls.LambdaSampler,
                           reconstruct: Callable, embed: Callable,
                           real_variance: Mapping[str, float],
                           num_groups: int = 1000, variations: int = 10,
                           groups_per_batch: int = 10, seed: int = 0
                           ) -> Dict[str, Dict[str, float]]:
  """Table 1: per varied factor, the normalised variances and DS.

  Args:
    generate_fn: ``(λ [B, n], ε [B, noise]) -> images [B, R, R, 3]``.
    sampler: the λ sampler.
    reconstruct, embed: the frozen nets (images -> dict / embeddings).
    real_variance: :func:`real_variances` of real images.
    num_groups: G (1000), variations: M (10).
    groups_per_batch: groups generated per call.
    seed: base seed.

  Returns:
    factor -> ``{"ds": DS, "variance_<j>": normalised σ_j, ...}``.
  """
  layout = sampler.layout
  out = {}
  for fi, factor in enumerate(ls.FACTORS):
    per = {f: [] for f in ls.FACTORS}
    for start in range(0, int(num_groups), int(groups_per_batch)):
      g = min(int(groups_per_batch), int(num_groups) - start)
      _, lam, noise = sampler.sample(g, tf.constant([seed + fi, start]))
      m = int(variations)
      lam = tf.repeat(lam, m, axis=0)
      noise = tf.repeat(noise, m, axis=0)
      values = _decode_factor(sampler, factor, g * m,
                              [seed + 100 + fi, start])
      images = generate_fn(layout.replace(lam, factor, values), noise)
      for f, v in factor_estimates(images, reconstruct, embed).items():
        per[f].append(v.reshape([g, m, -1]))
    sigma = {f: group_variance(np.concatenate(v)) /
             max(real_variance[f], 1e-12) for f, v in per.items()}
    entry = {"ds": disentanglement_score(sigma, factor)}
    entry.update({f"variance_{f}": s for f, s in sigma.items()})
    out[factor] = entry
  return out


POSE_ANGLES = ("pitch", "yaw", "roll")


def following(requested: Mapping[str, np.ndarray],
              achieved: Mapping[str, np.ndarray]) -> Dict[str, object]:
  """How closely re-estimated factors follow the requested λ.

  Args:
    requested: factor -> `[N, D]` λ parts (``expression``, ``pose`` as
      pitch/yaw/roll radians, ``sh``).
    achieved: the same factors re-estimated on images `[N, D]`.

  Returns:
    ``pose``: per angle ``{"slope", "r", "error_degrees"}`` (mean |achieved
    − requested| in degrees); ``expression`` and ``sh``: ``{"r", "slope"}``,
    the means over the dimensions that vary in ``requested`` of the
    per-dimension Pearson r and slope, and ``r_per_dimension`` (every
    dimension's r, 0 where constant; a blendshape the meter reads, such as
    jawOpen at 0, stands out there from the many it cannot).
  """
  out = {}
  for factor in ("expression", "pose", "sh"):
    if factor not in requested or factor not in achieved:
      continue
    a = np.asarray(requested[factor], np.float64)
    b = np.asarray(achieved[factor], np.float64)
    if a.shape != b.shape or a.ndim != 2:
      raise ValueError(f"requested and achieved {factor} must both be "
                       f"[N, D], got {a.shape} and {b.shape}")
    fits = [(correlation.slope(a[:, d], b[:, d]),
             correlation.pearson(a[:, d], b[:, d]))
            for d in range(a.shape[1])]
    if factor == "pose":
      out["pose"] = {
          name: {"slope": fits[d][0], "r": fits[d][1],
                 "error_degrees": float(np.degrees(np.mean(np.abs(
                     b[:, d] - a[:, d]))))}
          for d, name in enumerate(POSE_ANGLES[:a.shape[1]])}
    else:
      varying = [f for d, f in enumerate(fits) if np.std(a[:, d]) > 1e-8]
      out[factor] = {
          "r": float(np.mean([f[1] for f in varying])) if varying else 0.0,
          "slope": (float(np.mean([f[0] for f in varying])) if varying
                    else 0.0),
          "r_per_dimension": [float(f[1]) for f in fits]}
  return out


def factor_following(generate_fn: Callable, render_fn: Callable,
                     sampler: ls.LambdaSampler, reconstruct: Callable,
                     num_samples: int = 500, batch_size: int = 50,
                     seed: int = 0) -> Dict[str, object]:
  """:func:`following` of G's images and, as the meter's ceiling, of the
  face model's renders of the same λ.

  Args:
    generate_fn: ``(λ [B, n], ε [B, noise]) -> images [B, R, R, 3]``.
    render_fn: ``λ [B, n] -> images [B, R, R, 3]`` (the face model's render,
      background −1).
    sampler: the λ sampler.
    reconstruct: the frozen reconstruction net (images -> dict).
    num_samples: λ samples; batch_size: per call.
    seed: base seed.

  Returns:
    ``{"generated": following(...), "render": following(...), "samples"}``.
  """
  layout = sampler.layout
  parts = collections.defaultdict(lambda: collections.defaultdict(list))
  for start in range(0, int(num_samples), int(batch_size)):
    n = min(int(batch_size), int(num_samples) - start)
    _, lam, noise = sampler.sample(n, tf.constant([seed + 7, start]))
    split = layout.split(lam)
    for source, images in (("generated", generate_fn(lam, noise)),
                           ("render", render_fn(lam))):
      rec = reconstruct(images)
      for factor in ("expression", "pose", "sh"):
        parts[source][factor].append(np.asarray(rec[factor]))
        if source == "render":
          parts["requested"][factor].append(np.asarray(split[factor]))
  cat = {src: {f: np.concatenate(v) for f, v in d.items()}
         for src, d in parts.items()}
  return {"generated": following(cat["requested"], cat["generated"]),
          "render": following(cat["requested"], cat["render"]),
          "samples": int(num_samples)}


def embedding_error(method, images: tf.Tensor, steps: int = 300,
                    learning_rate: float = 0.01,
                    perceptual_weights: Optional[str] = None,
                    batch_size: int = 16) -> Dict[str, object]:
  """How well held-out faces embed into W+ (:func:`editing.embed`, the
  objective of ``tools/edit.py discofacegan``), with the EMA generator.

  Args:
    method: a built DiscoFaceGANMethod with its reconstruction net (the
      landmark term and meter) and, for ``identity_cosine``, its identity
      net.
    images: `[N, R, R, 3]` faces in [-1, 1] at the method's resolution, not
      trained on.
    steps, learning_rate, perceptual_weights: the embedding's settings.
    batch_size: faces optimised together (each has its own W+; the loss is
      a per-face mean, so the batch only sets the speed).

  Returns:
    JSON-able dict: ``faces``, ``steps``; means over faces of ``l1`` (mean
    |G(w⁺) − x|, [-1, 1] units) and ``l1_start`` (at the mean-w start),
    ``landmark_rmse_px`` (reconstruction-net landmarks of G(w⁺) vs x),
    ``identity_cosine`` (identity embeddings of G(w⁺) and x), and
    ``loss_start`` / ``loss_end`` (the objective's batch means).
  """
  from tfface.methods.discofacegan import editing  # pylint: disable=g-import-not-at-top
  if method.reconstruct is None:
    raise ValueError("the embedding error needs DiscoFaceGANMethod."
                     "reconstruction (its landmark term)")
  images = tf.convert_to_tensor(images, tf.float32)
  if images.shape.rank != 4 or images.shape[1] != method.resolution:
    raise ValueError(f"faces to embed must be [N, {method.resolution}, "
                     f"{method.resolution}, 3], got shape {images.shape}")
  g = method.generator_ema
  loss = editing.method_embedding_loss(method, perceptual_weights)
  start = editing.mean_w(g, method.sampler)
  sums = collections.defaultdict(float)
  n = int(images.shape[0])
  for i in range(0, n, int(batch_size)):
    x = images[i:i + int(batch_size)]
    k = int(x.shape[0])
    out = editing.embed(g, x, start, loss, steps, learning_rate)
    fake = tf.clip_by_value(out["images"], -1.0, 1.0)
    first = g.synthesize(tf.tile(start[None, None], [k, g.num_layers, 1]),
                         noise_mode="const")
    sums["l1"] += float(tf.reduce_sum(tf.reduce_mean(tf.abs(fake - x),
                                                     [1, 2, 3])))
    sums["l1_start"] += float(tf.reduce_sum(tf.reduce_mean(
        tf.abs(tf.clip_by_value(first, -1.0, 1.0) - x), [1, 2, 3])))
    lm_fake = method.reconstruct(fake)["landmarks"]
    lm_real = method.reconstruct(x)["landmarks"]
    sums["landmark_rmse_px"] += float(tf.reduce_sum(tf.sqrt(tf.reduce_mean(
        tf.reduce_sum(tf.square(lm_fake - lm_real), -1), -1))))
    if method.identity_net is not None:
      e_fake = tf.math.l2_normalize(method.identity_net(fake, training=False),
                                    -1)
      e_real = tf.math.l2_normalize(method.identity_net(x, training=False),
                                    -1)
      sums["identity_cosine"] += float(tf.reduce_sum(e_fake * e_real))
    sums["loss_start"] += float(out["history"][0]) * k
    sums["loss_end"] += float(out["history"][-1]) * k
  result = {key: value / n for key, value in sums.items()}
  result.update(faces=n, steps=int(steps))
  return result


def evaluate_method(method, real_images: Optional[tf.Tensor] = None,
                    num_groups: int = 100, variations: int = 10,
                    num_pairs: int = 20, num_others: int = 50,
                    seed: int = 0) -> Dict[str, object]:
  """Both analyses on a built (restored) DiscoFaceGANMethod, EMA generator.

  Args:
    method: the method (its reconstruction and identity nets are the
      meters; needed for the DS).
    real_images: `[N, R, R, 3]` real faces for the DS normaliser, or None
      (then only Table 2).
    num_groups, variations, num_pairs, num_others: sample sizes (the paper
      uses 1000, 10, 50, 100).
    seed: base seed.

  Returns:
    JSON-able dict ``{"direction_consistency": {factor: {"fixed_ends",
    "fixed_offset"}}, "disentanglement": {factor: {...}} (with real
    images), "following": factor_following(...) (with the reconstruction
    net), "step"}``.
  """
  g = method.generator_ema
  mapping = g.map
  result = {"step": int(method.global_step.numpy()),
            "direction_consistency": {}}
  for factor in ls.FACTORS:
    result["direction_consistency"][factor] = {
        "fixed_ends": direction_consistency(mapping, method.sampler, factor,
                                            num_pairs, num_others,
                                            seed=seed),
        "fixed_offset": direction_consistency(mapping, method.sampler,
                                              factor, num_pairs, num_others,
                                              fixed_offset=True, seed=seed)}
  lod = method.num_lods - 1

  def generate(lam, noise):
    return tf.clip_by_value(g(method.layout.with_noise(lam, noise),
                              lod=lod, noise_mode="const"), -1.0, 1.0)

  if method.reconstruct is not None:
    result["following"] = factor_following(
        generate, lambda lam: method.render(lam)["image"], method.sampler,
        method.reconstruct, seed=seed)
  if real_images is not None and method.reconstruct is not None and (
      method.identity_net is not None):
    embed = lambda x: method.identity_net(x, training=False)
    batches = [real_images[i:i + 64] for i in range(0, len(real_images), 64)]
    real = real_variances(batches, method.reconstruct, embed)
    result["real_variance"] = real
    result["disentanglement"] = disentanglement_scores(
        generate, method.sampler, method.reconstruct, embed, real,
        num_groups, variations, seed=seed)
  return result


def evaluate_run(model_dir: str, output: str, real_pattern: str = "",
                 num_real: int = 500, gin_params: Sequence[str] = (),
                 real_kind: str = "pseudo_real", embed_pattern: str = "",
                 embed_faces: int = 16, embed_steps: int = 300,
                 **kwargs) -> Dict[str, object]:
  """Restores a training run, runs :func:`evaluate_method` and writes JSON.

  Args:
    model_dir: a DiscoFaceGAN run directory.
    output: the JSON file to write (atomically).
    real_pattern: real faces for the DS normaliser ("" = Table 2 only), a
      path of ``real_kind``.
    real_kind: a :func:`tfface.data.sources.image_source` kind
      (``pseudo_real``, ``synthetic``, ``tfrecord``, ``folder``).
    num_real: real faces read.
    gin_params: extra bindings for the restore.
    embed_pattern: faces never trained on (a path of ``real_kind``) for
      :func:`embedding_error` ("" = skip); its first ``embed_faces`` faces,
      ``embed_steps`` Adam steps each.
    **kwargs: :func:`evaluate_method`'s sample sizes.
  """
  from tfface.training import restore  # pylint: disable=g-import-not-at-top
  method = restore.restore_run(model_dir, gin_params)
  from tfface.data import sources  # pylint: disable=g-import-not-at-top
  size = (method.resolution, method.resolution)

  def read(pattern, n):
    data = sources.image_source(real_kind, pattern, size, int(n),
                                shuffle=False)
    return next(iter(data))["image"]

  real = read(real_pattern, num_real) if real_pattern else None
  result = evaluate_method(method, real, **kwargs)
  if embed_pattern and embed_faces > 0:
    result["embedding"] = embedding_error(
        method, read(embed_pattern, embed_faces), steps=embed_steps)
    result["embedding"]["pattern"] = embed_pattern
  result["model_dir"] = os.fspath(model_dir)
  tmp = output + ".tmp"
  directory = os.path.dirname(output)
  if directory:
    os.makedirs(directory, exist_ok=True)
  with open(tmp, "w") as f:
    json.dump(result, f, indent=2, sort_keys=True)
  os.replace(tmp, output)
  return result
