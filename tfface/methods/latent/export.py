"""Serving modules of the latent models (the tfface export convention).

Every module holds a frozen autoencoder (:class:`~tfface.methods.latent.codes.
LatentAutoencoder`) and exposes, with a ``None`` batch dimension and inputs
checked in the graph (:mod:`tfface.export.validation`):

* ``encode``: ``image`` `[B, R, R, 3]` float32 RGB in [-1, 1] ->
  ``{"z": [B, Z]}``;
* ``decode``: ``z`` `[B, Z]` -> ``{"image": [B, R, R, 3]}`` clipped to [-1, 1].

and per model:

* :class:`AutoencoderModule` (ACAI; ``serving_default`` = ``decode``);
  the baseline adds ``landmarks``: ``z`` -> ``{"keypoints": [B, 68, 2]}``
  pixels (its landmark head);
* :class:`ConditionalModule` (latent cGAN / prGAN / AC-GAN):
  ``condition``: ``z``, ``label`` -> ``{"z"}``, the code edited to the
  condition; ``edit``: ``image``, ``label`` -> ``{"image"}``
  (decode(condition(encode(image)))) = ``serving_default``. A discrete
  condition takes ``label`` `[B]` int32 class ids in [0, K − 1] (the class
  names are in the metadata), a continuous one `[B, C]` float32;
* :class:`KeypointModule` (the keypoint mapper R):
  ``map_keypoints``: ``z``, ``keypoints`` `[B, 68, 2]` float32 (x, y) pixels of
  an R × R image -> ``{"z"}`` = R(z, c); ``transfer``: ``image``,
  ``keypoints`` -> ``{"image"}`` = ``serving_default``.

``tfface.json`` adds ``code_size``, the autoencoder kind and config, and the
condition or keypoint convention.
"""

from typing import Callable, Dict, Mapping, Optional, Tuple

import tensorflow as tf

from tfface.export import metadata as metadata_lib
from tfface.export import validation as v

NUM_KEYPOINTS = 68


def _image_input(size: int) -> v.Input:
  return v.Input("image", (v.BATCH, size, size, 3), meaning="RGB in [-1, 1]",
                 finite=True)


def _z_input(code_size: int) -> v.Input:
  return v.Input("z", (v.BATCH, code_size), meaning="latent code",
                 finite=True)


def _keypoints_input(size: int) -> v.Input:
  return v.Input("keypoints", (v.BATCH, NUM_KEYPOINTS, 2),
                 meaning=f"(x, y) pixels of a {size}x{size} image",
                 finite=True)


class _Base(tf.Module):
  """encode / decode over an autoencoder."""

  method = "latent"

  def __init__(self, autoencoder, name: str):
    super().__init__(name=name)
    self.autoencoder = autoencoder
    self.size = int(autoencoder.image_size)
    self.code_size = int(autoencoder.code_size)
    inputs = self.signature_inputs()

    @v.validated_function("encode", inputs["encode"])
    def encode(image):
      return {"z": self.autoencoder.encode(image)}

    @v.validated_function("decode", inputs["decode"])
    def decode(z):
      return {"image": self._decode(z)}

    self.encode = encode
    self.decode = decode

  def _decode(self, z):
    return tf.clip_by_value(self.autoencoder.decode(z), -1.0, 1.0)

  def signature_inputs(self) -> Dict[str, Tuple[v.Input, ...]]:
    return {"encode": (_image_input(self.size),),
            "decode": (_z_input(self.code_size),)}

  def _outputs(self) -> Dict[str, Dict[str, str]]:
    image = f"[B, {self.size}, {self.size}, 3] float32 RGB in [-1, 1]"
    return {"encode": {"z": f"[B, {self.code_size}] float32 latent code"},
            "decode": {"image": image}}

  def _extra(self) -> Dict[str, object]:
    ae = self.autoencoder
    extra = {"code_size": self.code_size,
             "autoencoder": getattr(type(ae), "autoencoder_kind",
                                    type(ae).__name__)}
    if hasattr(ae, "autoencoder_config"):
      extra["autoencoder_config"] = dict(ae.autoencoder_config())
    return extra

  def signatures(self) -> Dict[str, object]:
    return {name: getattr(self, name) for name in self.signature_inputs()}


class AutoencoderModule(_Base):
  """ACAI's (or the baseline's) export: encode, decode (+ landmarks).

  Args:
    autoencoder: the trained autoencoder.
    method: the metadata's method name (``"acai"``, ``"latent_baseline"``).
    landmark_head: optional Keras model ``z [B, Z] -> [B, 136]`` keypoints in
      [0, 1] of the image (the baseline's head, (x, y) pairs); adds the
      ``landmarks`` signature, in pixels.
  """

  def __init__(self, autoencoder, method: str = "acai",
               landmark_head: Optional[tf.keras.Model] = None):
    self.method = method
    self.landmark_head = landmark_head
    super().__init__(autoencoder, name=method)
    if landmark_head is not None:
      @v.validated_function("landmarks", self.signature_inputs()["landmarks"])
      def landmarks(z):
        points = tf.reshape(self.landmark_head(z, training=False),
                            [-1, NUM_KEYPOINTS, 2])
        return {"keypoints": points * float(self.size)}
      self.landmarks = landmarks

  def signature_inputs(self):
    inputs = super().signature_inputs()
    if self.landmark_head is not None:
      inputs["landmarks"] = (_z_input(self.code_size),)
    return inputs

  def export_metadata(self) -> Dict[str, object]:
    outputs = self._outputs()
    if self.landmark_head is not None:
      outputs["landmarks"] = {"keypoints": f"[B, {NUM_KEYPOINTS}, 2] float32 "
                                           "(x, y) pixels"}
    return metadata_lib.build_metadata(self.method, self.size, "decode",
                                       self.signature_inputs(), outputs,
                                       extra=self._extra())


class ConditionalModule(_Base):
  """A conditional latent GAN's export: encode, decode, condition, edit.

  Args:
    autoencoder: the frozen autoencoder.
    generator: Keras model ``(z [B, Z], c [B, C]) -> z' [B, Z]``, called with
      ``training=False``.
    condition: the :class:`~tfface.methods.latent.labels.Condition`.
    model: the GAN variant (metadata).
  """

  def __init__(self, autoencoder, generator: Callable, condition,
               model: str = "projection"):
    self.generator = generator
    self.condition_spec = condition
    self.model = model
    self.method = "latent_cgan"
    super().__init__(autoencoder, name="latent_cgan")
    inputs = self.signature_inputs()

    @v.validated_function("condition", inputs["condition"])
    def condition_fn(z, label):
      return {"z": self.generator(z, self._vector(label), training=False)}

    @v.validated_function("edit", inputs["edit"])
    def edit(image, label):
      z = self.autoencoder.encode(image)
      edited = self.generator(z, self._vector(label), training=False)
      return {"image": self._decode(edited)}

    self.condition = condition_fn
    self.edit = edit

  def _vector(self, label):
    c = self.condition_spec
    if c.discrete:
      return tf.one_hot(label, c.size, dtype=tf.float32)
    return label

  def _label_input(self) -> v.Input:
    c = self.condition_spec
    if c.discrete:
      names = ", ".join(f"{i} {n}" for i, n in enumerate(c.classes))
      return v.Input("label", (v.BATCH,), tf.int32,
                     meaning=f"class id ({names})", minimum=0,
                     maximum=c.size - 1)
    return v.Input("label", (v.BATCH, c.size), meaning=f"{c.spec} value",
                   finite=True)

  def signature_inputs(self):
    inputs = super().signature_inputs()
    label = self._label_input()
    inputs["condition"] = (_z_input(self.code_size), label)
    inputs["edit"] = (_image_input(self.size), label)
    return inputs

  def export_metadata(self) -> Dict[str, object]:
    outputs = self._outputs()
    outputs["condition"] = {"z": f"[B, {self.code_size}] float32 edited code"}
    outputs["edit"] = {"image": outputs["decode"]["image"]}
    extra = self._extra()
    extra.update(condition=self.condition_spec.describe(), model=self.model)
    return metadata_lib.build_metadata(self.method, self.size, "edit",
                                       self.signature_inputs(), outputs,
                                       extra=extra)


class KeypointModule(_Base):
  """The keypoint mapper's export: encode, decode, map_keypoints, transfer.

  Args:
    autoencoder: the frozen (possibly decoder-fine-tuned) autoencoder.
    mapper: Keras model R ``(z [B, Z], c [B, 136]) -> z' [B, Z]``, called
      with ``training=False``.
    normalize: ``keypoints [B, 68, 2] pixels -> c [B, 136]``, how R sees them
      (no variables).
    keypoint_convention: metadata text on how R sees the keypoints.
  """

  def __init__(self, autoencoder, mapper: tf.keras.Model,
               normalize: Callable[[tf.Tensor], tf.Tensor],
               keypoint_convention: str = ""):
    self.mapper = mapper
    self._normalize = normalize
    self.keypoint_convention = keypoint_convention
    self.method = "keypoint_mapper"
    super().__init__(autoencoder, name="keypoint_mapper")
    inputs = self.signature_inputs()

    @v.validated_function("map_keypoints", inputs["map_keypoints"])
    def map_keypoints(z, keypoints):
      return {"z": self._map(z, keypoints)}

    @v.validated_function("transfer", inputs["transfer"])
    def transfer(image, keypoints):
      z = self.autoencoder.encode(image)
      return {"image": self._decode(self._map(z, keypoints))}

    self.map_keypoints = map_keypoints
    self.transfer = transfer

  def _map(self, z, keypoints):
    return self.mapper(z, self._normalize(keypoints), training=False)

  def signature_inputs(self):
    inputs = super().signature_inputs()
    keypoints = _keypoints_input(self.size)
    inputs["map_keypoints"] = (_z_input(self.code_size), keypoints)
    inputs["transfer"] = (_image_input(self.size), keypoints)
    return inputs

  def export_metadata(self) -> Dict[str, object]:
    outputs = self._outputs()
    outputs["map_keypoints"] = {"z": f"[B, {self.code_size}] float32 code "
                                     "with the requested keypoints"}
    outputs["transfer"] = {"image": outputs["decode"]["image"]}
    extra = self._extra()
    extra["keypoints"] = {"count": NUM_KEYPOINTS, "units": "pixels",
                          "convention": self.keypoint_convention}
    return metadata_lib.build_metadata(self.method, self.size, "transfer",
                                       self.signature_inputs(), outputs,
                                       extra=extra)


def load_export(version_dir: str):
  """A latent model's SavedModel and its metadata: ``(loaded, meta)``."""
  loaded = tf.saved_model.load(version_dir)
  meta = metadata_lib.read_metadata(version_dir)
  return loaded, meta


def call_signature(loaded, name: str, **inputs) -> Mapping[str, tf.Tensor]:
  """``loaded.signatures[name](**inputs)`` with a clear error when absent."""
  if name not in loaded.signatures:
    raise ValueError(f"the export has no {name!r} signature (has "
                     f"{sorted(loaded.signatures)})")
  return loaded.signatures[name](**{k: tf.convert_to_tensor(x)
                                    for k, x in inputs.items()})
