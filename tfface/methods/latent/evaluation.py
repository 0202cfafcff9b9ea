"""Measurements of the latent models (behind ``tools/evaluate.py latent``).

Everything runs on exports (:mod:`tfface.methods.latent.export`, the models
as served) and on labeled synthetic faces split by identity (the training
identities build probes and banks, the held-out identities are measured;
:func:`tfface.methods.latent.codes.heldout_mask`):

* **reconstruction** of held-out faces by each autoencoder export (ACAI,
  ALAE, the baseline, ...): MSE in [0, 1] units and PSNR.
* **attribute control** of a conditional GAN export. The judge is a softmax
  regression trained here on the *images* of the training faces (downsampled
  to 16 × 16 RGB, standardised; L2 1e-3, full-batch Adam) with the same
  labels: one judge for every model, blind to the codes, and cheap; its
  accuracy on held-out real faces (``judge_accuracy``) and on their
  reconstructions (``judge_accuracy_reconstructions``, the autoencoder's
  floor) are reported. Each held-out face is edited to every other class and
  decoded; an edit is accepted when the judge gives the decoded edit the
  target class (``acceptance``; ``acceptance_without_edit`` is the rate at
  which the unedited reconstruction already gets the target class). The cycle
  error is ``mean |G(G(z, y_t), y_s) − z|`` (also relative to ``mean |z|``)
  and the MSE between the decoded cycle and the reconstruction. A continuous
  condition reports the mean absolute error of the requested values under a
  ridge probe on the same image features instead.
* **keypoint transfer**, side by side: the mapper exports (the fixed
  gradient and the reference's cancelled one), latent arithmetic on the same
  codes (the baseline's method on the mapper's autoencoder), the baseline AE's
  arithmetic (its own codes), plus two controls: ``no_edit`` (the source
  reconstruction) and ``oracle_target`` (the reconstruction of the real target
  face: the autoencoder's floor). Pairs: for every held-out identity and each
  of its faces as the target, the source is the identity's mean code (the
  mapper's training input, the reference's "center identity"); the requested
  keypoints are the target's true landmarks. The output's keypoints are
  measured with the landmark detector (``landmarks_weights``) when given,
  else with a ridge probe from the 16 × 16 image features to the landmarks,
  fitted on the training faces (one probe for every model; its error on real
  held-out faces is ``probe_nme_floor``); NME is
  :func:`tfface.analysis.landmarks.inter_ocular_nme`. Identity similarity
  (``identity_weights``, optional) is the cosine between the output's
  embedding and the identity's mean real embedding. ``target_mse``: MSE to
  the real target image (the pairs have a ground truth).

:func:`evaluate_latent` writes the JSON and a PNG grid per model.
"""

import json
import os
from typing import Dict, Mapping, Optional, Sequence

from absl import logging
import numpy as np
import tensorflow as tf

from tfface.methods.latent import baseline as baseline_lib
from tfface.methods.latent import codes as codes_lib
from tfface.methods.latent import data as data_lib
from tfface.methods.latent import editing
from tfface.methods.latent import labels as labels_lib


def read_faces(file_pattern: str, image_size: int,
               max_faces: Optional[int] = None) -> Dict[str, np.ndarray]:
  """Labeled faces as arrays: ``image`` `[N, R, R, 3]`, ``landmarks``,
  ``identity`` and ``factor/<name>`` (the codes table's layout)."""
  from tfface.data import datasets  # pylint: disable=g-import-not-at-top
  data = datasets.synthetic_dataset(file_pattern, image_size, batch_size=None,
                                    shuffle=False, repeat=False,
                                    analysis_labels=True)
  names = list(data.factor_sizes)
  parts = {"image": [], "landmarks": [], "identity": []}
  parts.update({f"factor/{n}": [] for n in names})
  for batch in data.batch(128):
    parts["image"].append(batch["image"].numpy())
    parts["landmarks"].append(batch["landmarks"].numpy())
    parts["identity"].append(batch["identity"].numpy())
    for n in names:
      parts[f"factor/{n}"].append(batch["factors"][n].numpy())
    if max_faces and sum(len(x) for x in parts["image"]) >= max_faces:
      break
  out = {k: np.concatenate(v)[:max_faces or None] for k, v in parts.items()}
  if not len(out["image"]):
    raise ValueError(f"no faces in {file_pattern!r}")
  return out


def _subset(faces: Mapping[str, np.ndarray], mask: np.ndarray):
  return {k: v[mask] for k, v in faces.items()}


def _resize(images: np.ndarray, size: int) -> np.ndarray:
  if images.shape[1] == size:
    return images
  return tf.image.resize(images, [size, size], antialias=True).numpy()


def mse_01(a: np.ndarray, b: np.ndarray) -> float:
  """MSE in [0, 1] units of two [-1, 1] image arrays."""
  return float(np.mean(np.square(0.5 * (np.asarray(a) - np.asarray(b)))))


def psnr(mse: float) -> float:
  return float(10.0 * np.log10(1.0 / max(mse, 1e-12)))


# -- probes and judges -------------------------------------------------------------

class Standardizer:
  """Per-feature standardisation fitted on training codes."""

  def __init__(self, x: np.ndarray):
    self.mean = x.mean(0)
    self.std = x.std(0) + 1e-6

  def __call__(self, x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, np.float32) - self.mean) / self.std


class SoftmaxJudge:
  """Softmax regression on standardised codes (the attribute judge).

  Args:
    z: `[N, Z]` training codes; labels: `[N]` class ids; num_classes: K.
    steps, learning_rate, l2: full-batch Adam settings.
  """

  def __init__(self, z: np.ndarray, labels: np.ndarray, num_classes: int,
               steps: int = 500, learning_rate: float = 0.05,
               l2: float = 1e-3, seed: int = 0):
    self.scale = Standardizer(z)
    x = tf.constant(self.scale(z))
    y = tf.one_hot(np.asarray(labels), num_classes)
    rng = np.random.default_rng(seed)
    w = tf.Variable(rng.normal(0, 0.01, [z.shape[1], num_classes]).astype(
        np.float32))
    b = tf.Variable(tf.zeros([num_classes]))
    optimizer = tf.keras.optimizers.Adam(learning_rate)

    @tf.function
    def step():
      with tf.GradientTape() as tape:
        logits = x @ w + b
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
            y, logits)) + l2 * tf.reduce_sum(tf.square(w))
      optimizer.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b]))
      return loss

    for _ in range(steps):
      step()
    self.w, self.b = w.numpy(), b.numpy()

  def predict(self, z: np.ndarray) -> np.ndarray:
    return np.argmax(self.scale(z) @ self.w + self.b, axis=1)


class RidgeProbe:
  """Ridge regression from standardised codes to targets (closed form)."""

  def __init__(self, z: np.ndarray, targets: np.ndarray, l2: float = 1.0):
    self.scale = Standardizer(z)
    x = self.scale(z)
    x = np.concatenate([x, np.ones([len(x), 1], np.float32)], 1)
    t = np.asarray(targets, np.float64).reshape(len(z), -1)
    self.shape = np.asarray(targets).shape[1:]
    gram = x.T @ x + l2 * np.eye(x.shape[1])
    self.w = np.linalg.solve(gram, x.T @ t)

  def predict(self, z: np.ndarray) -> np.ndarray:
    x = self.scale(z)
    x = np.concatenate([x, np.ones([len(x), 1], np.float32)], 1)
    return (x @ self.w).reshape((len(x),) + tuple(self.shape)).astype(
        np.float32)


FEATURE_SIZE = 16


def image_features(images: np.ndarray, size: int = FEATURE_SIZE) -> np.ndarray:
  """`[N, R, R, 3]` images -> `[N, size·size·3]` (antialiased downsampling)."""
  images = np.asarray(images, np.float32)
  small = tf.image.resize(images, [size, size], antialias=True).numpy()
  return small.reshape(len(images), -1)


def _load_analysis(network):
  if network is None or not isinstance(network, (str, os.PathLike)):
    return network
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  return analysis_weights.load_network(os.fspath(network))


def _apply(network, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
  return np.concatenate([np.asarray(network(images[i:i + batch_size]))
                         for i in range(0, len(images), batch_size)])


# -- the measurements -------------------------------------------------------------

def reconstruction(model: editing.LatentExport,
                   heldout: Mapping[str, np.ndarray]) -> Dict[str, float]:
  """MSE ([0, 1] units) and PSNR of ``decode(encode(x))`` on held-out faces."""
  images = _resize(heldout["image"], model.size)
  out = model.decode(model.encode(images))
  mse = mse_01(out, images)
  return {"mse": mse, "psnr": psnr(mse), "faces": int(len(images))}


def attribute_control(model: editing.LatentExport,
                      train: Mapping[str, np.ndarray],
                      heldout: Mapping[str, np.ndarray],
                      max_faces: int = 64, seed: int = 0) -> Dict[str, object]:
  """The conditional GAN's acceptance and cycle errors (module docstring)."""
  spec = model.meta["condition"]["spec"]
  condition = labels_lib.make_condition(spec)
  y_train = condition.values(train)
  images = heldout["image"]
  y_held = condition.values(heldout)
  keep = (y_held >= 0) if condition.discrete else np.ones(len(images), bool)
  images, y_held = images[keep][:max_faces], y_held[keep][:max_faces]
  z = model.encode(_resize(images, model.size))
  size = images.shape[1]
  features = lambda x: image_features(_resize(x, size))  # noqa: E731
  recon = model.decode(z)
  out: Dict[str, object] = {"condition": condition.describe(),
                            "faces": int(len(images))}
  if condition.discrete:
    valid = y_train >= 0
    judge = SoftmaxJudge(image_features(train["image"][valid]),
                         y_train[valid], condition.size, seed=seed)
    out["judge"] = ("softmax regression on 16x16 RGB images of the training "
                    "faces")
    out["judge_accuracy"] = float(np.mean(judge.predict(
        image_features(images)) == y_held))
    recon_class = judge.predict(features(recon))
    out["judge_accuracy_reconstructions"] = float(np.mean(
        recon_class == y_held))
    sources, targets = [], []
    for i, s in enumerate(y_held):
      for t in range(condition.size):
        if t != s:
          sources.append(i)
          targets.append(t)
    sources, targets = np.asarray(sources), np.asarray(targets, np.int32)
    edited = model.condition(z[sources], targets)
    decoded = model.decode(edited)
    predicted = judge.predict(features(decoded))
    out["edits"] = int(len(targets))
    out["acceptance"] = float(np.mean(predicted == targets))
    out["acceptance_without_edit"] = float(np.mean(
        recon_class[sources] == targets))
    out["acceptance_per_target"] = {
        name: float(np.mean(predicted[targets == t] == t))
        for t, name in enumerate(condition.classes) if np.any(targets == t)}
    back = model.condition(edited, y_held[sources])
    z_src = z[sources]
  else:
    probe = RidgeProbe(image_features(train["image"]), y_train)
    out["judge"] = "ridge regression on 16x16 RGB images of the training faces"
    out["judge_mae"] = float(np.mean(np.abs(
        probe.predict(image_features(images)) - y_held)))
    rng = np.random.default_rng(seed)
    targets = y_held[rng.permutation(len(y_held))]
    edited = model.condition(z, targets)
    decoded = model.decode(edited)
    out["edits"] = int(len(targets))
    out["requested_mae"] = float(np.mean(np.abs(
        probe.predict(features(decoded)) - targets)))
    out["requested_mae_without_edit"] = float(np.mean(np.abs(
        probe.predict(features(recon)) - targets)))
    back = model.condition(edited, y_held)
    z_src = z
  cycle = float(np.mean(np.abs(back - z_src)))
  out["cycle_l1"] = cycle
  out["cycle_l1_relative"] = cycle / max(float(np.mean(np.abs(z_src))), 1e-12)
  out["cycle_image_mse"] = mse_01(model.decode(back), model.decode(z_src))
  return out


def transfer_pairs(faces: Mapping[str, np.ndarray], max_pairs: int
                   ) -> Dict[str, np.ndarray]:
  """Held-out (identity, target face) pairs: ``members`` of each pair's
  identity (indices), ``target`` index."""
  groups = data_lib.identity_groups(faces["identity"])
  pairs = []
  for ident, members in sorted(groups.items()):
    if len(members) < 2:
      continue
    for j in members:
      pairs.append((ident, j))
  pairs = pairs[:max_pairs]
  return {"identity": np.asarray([p[0] for p in pairs], np.int32),
          "target": np.asarray([p[1] for p in pairs], np.int64),
          "groups": groups}


class _Measure:
  """Keypoints and identity of output images, for one evaluation."""

  def __init__(self, detector, identity_net, faces, pairs):
    self.detector, self.identity_net = detector, identity_net
    self.faces, self.pairs = faces, pairs
    self.requested = faces["landmarks"][pairs["target"]]
    self.identity_mean = None
    if identity_net is not None:
      embeddings = _apply(identity_net, faces["image"])
      means = {}
      for ident, members in pairs["groups"].items():
        m = embeddings[members].mean(0)
        means[ident] = m / max(np.linalg.norm(m), 1e-12)
      self.identity_mean = np.stack([means[i] for i in pairs["identity"]])

  def __call__(self, images: np.ndarray,
               probe: Optional[RidgeProbe]) -> Dict[str, float]:
    from tfface.analysis import landmarks as landmarks_lib  # pylint: disable=g-import-not-at-top
    size = self.faces["image"].shape[1]
    images_full = _resize(images, size)
    if self.detector is not None:
      keypoints = _apply(self.detector, images_full)
    else:
      keypoints = probe.predict(image_features(images_full))
    out = {"nme": float(np.mean(landmarks_lib.inter_ocular_nme(
        keypoints, self.requested))),
           "target_mse": mse_01(images_full,
                                self.faces["image"][self.pairs["target"]])}
    if self.identity_mean is not None:
      e = _apply(self.identity_net, images_full)
      e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
      out["identity_similarity"] = float(np.mean(np.sum(
          e * self.identity_mean, axis=1)))
    return out


def _codes(model: editing.LatentExport, faces) -> np.ndarray:
  return model.encode(_resize(faces["image"], model.size))


def keypoint_transfer(mappers: Mapping[str, editing.LatentExport],
                      baseline: Optional[editing.LatentExport],
                      train: Mapping[str, np.ndarray],
                      heldout: Mapping[str, np.ndarray],
                      landmarks_weights=None, identity_weights=None,
                      max_pairs: int = 64, neighbours: int = 100,
                      arithmetic_weights: Sequence[float] = (1.0, 1.0)
                      ) -> Dict[str, object]:
  """Keypoint transfer NME and identity, side by side (module docstring)."""
  detector = _load_analysis(landmarks_weights)
  identity_net = _load_analysis(identity_weights)
  pairs = transfer_pairs(heldout, max_pairs)
  if not len(pairs["target"]):
    raise ValueError("no held-out identity has two faces or more; keypoint "
                     "transfer needs runs of one identity")
  measure = _Measure(detector, identity_net, heldout, pairs)
  results: Dict[str, Dict[str, float]] = {}
  samples: Dict[str, np.ndarray] = {}
  probe, floor = None, None
  if detector is None:
    from tfface.analysis import landmarks as landmarks_lib  # pylint: disable=g-import-not-at-top
    probe = RidgeProbe(image_features(train["image"]), train["landmarks"])
    floor = float(np.mean(landmarks_lib.inter_ocular_nme(
        probe.predict(image_features(heldout["image"])),
        heldout["landmarks"])))

  def prepare(model):
    """Held-out codes, each pair's source (identity mean) code, the bank."""
    z_held = _codes(model, heldout)
    means = {i: z_held[m].mean(0) for i, m in pairs["groups"].items()}
    source = np.stack([means[i] for i in pairs["identity"]])
    scale = model.size / heldout["image"].shape[1]
    return z_held, source, _codes(model, train), train["landmarks"] * scale

  def record(name, images, extra=None):
    results[name] = measure(images, probe)
    if floor is not None:
      results[name]["probe_nme_floor"] = floor
    results[name].update(extra or {})
    samples[name] = images

  requested = pairs["target"]
  controls_done = False
  for name, model in mappers.items():
    z_held, source, z_train, bank_landmarks = prepare(model)
    scale = model.size / heldout["image"].shape[1]
    keypoints = heldout["landmarks"][requested] * scale
    mapped = model.map_keypoints(source, keypoints)
    z_target = z_held[requested]
    record(f"mapper_{name}", model.decode(mapped),
           {"target_code_l1": float(np.mean(np.abs(mapped - z_target)))})
    arithmetic = baseline_lib.latent_arithmetic(
        source, keypoints, z_train, bank_landmarks, neighbours,
        arithmetic_weights)
    record(f"arithmetic_on_{name}_codes", model.decode(arithmetic),
           {"target_code_l1": float(np.mean(np.abs(arithmetic - z_target)))})
    if not controls_done:
      record("no_edit", model.decode(source))
      record("oracle_target", model.decode(z_target))
      controls_done = True
  if baseline is not None:
    z_held, source, z_train, bank_landmarks = prepare(baseline)
    scale = baseline.size / heldout["image"].shape[1]
    arithmetic = baseline_lib.latent_arithmetic(
        source, heldout["landmarks"][requested] * scale, z_train,
        bank_landmarks, neighbours, arithmetic_weights)
    record("baseline_arithmetic", baseline.decode(arithmetic))
    record("baseline_no_edit", baseline.decode(source))
  return {"pairs": int(len(requested)),
          "keypoint_measure": ("landmark detector" if detector is not None
                               else "ridge probe on 16x16 RGB images"),
          "identity_measure": ("identity net cosine to the identity's mean "
                               "real embedding" if identity_net is not None
                               else None),
          "methods": results, "_samples": samples}


def evaluate_latent(data_pattern: str,
                    autoencoders: Optional[Mapping[str, str]] = None,
                    cgan_export: Optional[str] = None,
                    mappers: Optional[Mapping[str, str]] = None,
                    baseline_export: Optional[str] = None,
                    landmarks_weights=None, identity_weights=None,
                    heldout_modulus: int = data_lib.DEFAULT_HELDOUT_MODULUS,
                    image_size: Optional[int] = None,
                    max_faces: Optional[int] = None, max_pairs: int = 64,
                    neighbours: int = 100,
                    arithmetic_weights: Sequence[float] = (1.0, 1.0),
                    output_json: Optional[str] = None,
                    png_dir: Optional[str] = None,
                    seed: int = 0) -> Dict[str, object]:
  """Every latent measurement on exports; writes JSON and PNG grids.

  Args:
    data_pattern: labeled synthetic TFRecords (identity runs).
    autoencoders: name -> autoencoder export (``{"acai": ..., "alae": ...}``)
      for the reconstruction error; the baseline's and the GAN's
      autoencoders are measured too.
    cgan_export: a conditional latent GAN export.
    mappers: name -> keypoint-mapper export (``{"fixed": ...,
      "reference_cancelled": ...}``).
    baseline_export: the baseline AE export (latent arithmetic).
    landmarks_weights, identity_weights: analysis-net weights files (or
      models); None: the ridge probe / no identity similarity.
    heldout_modulus: identity split (:func:`tfface.methods.latent.codes.
      heldout_mask`).
    image_size: read size (default the largest export resolution).
    max_faces: read at most this many faces.
    max_pairs: keypoint-transfer pairs; neighbours, arithmetic_weights: the
      baseline arithmetic (100; (1, 1) = paper eq. 9).
    output_json: where to write the result.
    png_dir: where to write a grid per model.
    seed: target sampling seed.

  Returns:
    The result dict (as written).
  """
  models = {}
  for name, path in (autoencoders or {}).items():
    models[f"autoencoder_{name}"] = editing.LatentExport(path)
  cgan = editing.LatentExport(cgan_export) if cgan_export else None
  mapper_models = {k: editing.LatentExport(v) for k, v in (mappers or {}).items()}
  baseline = editing.LatentExport(baseline_export) if baseline_export else None
  everything = list(models.values()) + list(mapper_models.values()) + [
      m for m in (cgan, baseline) if m is not None]
  if not everything:
    raise ValueError("evaluate_latent: no exports given (autoencoders, "
                     "cgan_export, mappers or baseline_export)")
  size = int(image_size or max(m.size for m in everything))
  faces = read_faces(data_pattern, size, max_faces)
  held = codes_lib.heldout_mask(faces["identity"], heldout_modulus)
  if not held.any() or held.all():
    raise ValueError(f"heldout_modulus {heldout_modulus} leaves "
                     f"{int(held.sum())} of {len(held)} faces held out; both "
                     "splits need faces")
  train, heldout = _subset(faces, ~held), _subset(faces, held)
  result: Dict[str, object] = {
      "data": data_pattern, "faces": {"train": int((~held).sum()),
                                      "heldout": int(held.sum())},
      "heldout_modulus": heldout_modulus, "image_size": size}
  grids = {}
  recon = {}
  extra = {"cgan": cgan, "baseline": baseline}
  extra.update({f"mapper_{k}": v for k, v in mapper_models.items()})
  for name, model in list(models.items()) + [
      (k, v) for k, v in extra.items() if v is not None]:
    recon[name] = reconstruction(model, heldout)
    images = _resize(heldout["image"][:8], model.size)
    grids[name] = [images, model.decode(model.encode(images))]
  result["reconstruction"] = recon
  if cgan is not None:
    logging.info("measuring attribute control of %s", cgan.export_dir)
    result["attribute_control"] = attribute_control(cgan, train, heldout,
                                                    seed=seed)
    if cgan.meta["condition"]["kind"] == "discrete":
      images = _resize(heldout["image"][:8], cgan.size)
      edits = editing.edit_attributes(cgan, images)
      grids["cgan"] = [edits["input"], edits["reconstruction"]] + list(
          edits["edits"])
  if mapper_models or baseline is not None:
    logging.info("measuring keypoint transfer")
    transfer = keypoint_transfer(mapper_models, baseline, train, heldout,
                                 landmarks_weights, identity_weights,
                                 max_pairs, neighbours, arithmetic_weights)
    samples = transfer.pop("_samples")
    result["keypoint_transfer"] = transfer
    pairs = transfer_pairs(heldout, max_pairs)
    targets = heldout["image"][pairs["target"]][:8]
    columns = [targets] + [_resize(samples[k][:8], size)
                           for k in sorted(samples)]
    grids["keypoint_transfer"] = columns
    result["keypoint_transfer"]["grid_columns"] = ["target"] + sorted(samples)
  if png_dir:
    result["png"] = {}
    for name, columns in grids.items():
      columns = [_resize(c, size) for c in columns]
      path = os.path.join(png_dir, f"{name}.png")
      result["png"][name] = editing.write_png(path, editing.image_grid(columns))
  if output_json:
    directory = os.path.dirname(os.path.abspath(output_json))
    os.makedirs(directory, exist_ok=True)
    with open(output_json + ".tmp", "w") as f:
      json.dump(result, f, indent=2, sort_keys=True)
    os.replace(output_json + ".tmp", output_json)
  return result
