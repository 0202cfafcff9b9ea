"""ConfigNet as a SavedModel that stock TensorFlow (and TF Serving) loads.

Signatures (all inputs float32 unless stated, batch dimension free):
  * ``sample(n: int32 [], seed: int32 [], truncation: [])`` ->
    ``{"z": [n, Z], "image": [n, R, R, 3]}`` (frontal; the latent GAN's
    G_lat when exported with one, else z ~ N(0, I)·truncation).
  * ``generate(z: [B, Z], rotation: [B, 3])`` -> ``{"image": [B, R, R, 3]}``
    (rotation = pitch, yaw, roll radians).
  * ``encode(image: [B, R, R, 3])`` -> ``{"z": [B, Z], "rotation": [B, 3]}``
    (stage-2 models only).
  * ``set_factor_<name>(z: [B, Z], factor_values: [B, dim θ_name])`` ->
    ``{"z": [B, Z]}`` — z with the factor's slice replaced by E_S(θ); one per
    factor (names sanitized to ``[A-Za-z0-9_]``).
  * ``factor_table()`` -> ``{"json": string []}``: the factor names, θ sizes,
    latent slices and signature names as JSON.

Every signature checks its inputs in the graph before any network runs
(:mod:`tfface.export.validation`): ranks and sizes as above, batch >= 1 and
the same batch size across inputs, finite latents, rotations, θ and images,
``n >= 1``; a bad input raises one ``InvalidArgumentError`` such as
``"encode: image must be [B, 64, 64, 3] float32 RGB in [-1, 1] with B >= 1,
got shape [64, 64, 3]"``. The SignatureDef inputs have no static shape (see
the validation module for why); :meth:`ConfigNetServing.signature_inputs`
lists the real ones.
"""

import json
from typing import Dict, Optional, Tuple

import tensorflow as tf

from tfface.export import metadata as metadata_lib
from tfface.export import validation as v

IMAGE_MEANING = "RGB in [-1, 1]"
ROTATION_MEANING = "(pitch, yaw, roll) in radians"


def signature_name(factor: str) -> str:
  """``set_factor_<name>`` with the name reduced to ``[A-Za-z0-9_]``."""
  return "set_factor_" + "".join(c if c.isalnum() or c == "_" else "_"
                                 for c in factor)


class ConfigNetServing(tf.Module):
  """Holds the networks the signatures use.

  Args:
    generator: G (the EMA copy).
    synthetic_encoder: E_S.
    table: the factor table.
    real_encoder: E_R or None.
    latent_generator: G_lat or None.
    zoom: camera zoom of the synthetic training faces (``tfface.json``'s
      ``zoom``, which ``tools/edit.py`` aligns real photos to); None when
      unknown.
  """

  def __init__(self, generator, synthetic_encoder, table,
               real_encoder=None, latent_generator=None,
               zoom: Optional[float] = None):
    super().__init__(name="confignet")
    self.zoom = None if zoom is None else float(zoom)
    self.generator = generator
    self.synthetic_encoder = synthetic_encoder
    self.real_encoder = real_encoder
    self.latent_generator = latent_generator
    self.table = table
    self.resolution = int(generator.resolution)
    self.factor_table_json = json.dumps({
        "latent_dim": table.latent_dim,
        "resolution": self.resolution,
        "factors": [{"name": f.name, "theta_dim": f.theta_dim,
                     "z_dim": f.z_dim,
                     "latent_slice": list(table.latent_slice(f.name)),
                     "signature": signature_name(f.name)}
                    for f in table.factors]})

  def signature_inputs(self) -> Dict[str, Tuple[v.Input, ...]]:
    """Signature name -> the inputs it takes and checks."""
    latent, res = self.table.latent_dim, self.resolution
    z = v.Input("z", (v.BATCH, latent), finite=True)
    out = {
        "sample": (v.Input("n", (), tf.int32, minimum=1),
                   v.Input("seed", (), tf.int32),
                   v.Input("truncation", (), finite=True)),
        "generate": (z, v.Input("rotation", (v.BATCH, 3),
                                meaning=ROTATION_MEANING, finite=True)),
        "factor_table": (),
    }
    if self.real_encoder is not None:
      out["encode"] = (v.Input("image", (v.BATCH, res, res, 3),
                               meaning=IMAGE_MEANING, finite=True),)
    for factor in self.table.factors:
      out[signature_name(factor.name)] = (
          z, v.Input("factor_values", (v.BATCH, factor.theta_dim),
                     meaning=f"θ of factor {factor.name}", finite=True))
    return out

  def signatures(self) -> Dict[str, object]:
    latent = self.table.latent_dim
    inputs = self.signature_inputs()

    @v.validated_function("sample", inputs["sample"])
    def sample(n, seed, truncation):
      w = tf.random.stateless_normal(tf.stack([n, latent]),
                                     tf.stack([seed, 0])) * truncation
      z = self.latent_generator(w) if self.latent_generator is not None else w
      image = self.generator(z, tf.zeros(tf.stack([n, 3])))
      return {"z": z, "image": image}

    @v.validated_function("generate", inputs["generate"])
    def generate(z, rotation):
      return {"image": self.generator(z, rotation)}

    table_json = self.factor_table_json

    @tf.function(input_signature=[])
    def factor_table():
      return {"json": tf.constant(table_json)}

    out = {"sample": sample, "generate": generate,
           "factor_table": factor_table}
    if self.real_encoder is not None:

      @v.validated_function("encode", inputs["encode"])
      def encode(image):
        z, rotation = self.real_encoder(image, training=False)
        return {"z": z, "rotation": rotation}

      out["encode"] = encode
    for factor in self.table.factors:
      name = signature_name(factor.name)
      out[name] = self._set_factor(factor, name, inputs[name])
    return out

  def _set_factor(self, factor, name, inputs):
    start, stop = self.table.latent_slice(factor.name)
    encoder = self.synthetic_encoder.encoders[factor.name]

    @v.validated_function(name, inputs)
    def set_factor(z, factor_values):
      return {"z": tf.concat([z[:, :start], encoder(factor_values),
                              z[:, stop:]], axis=1)}

    return set_factor

  def export_metadata(self) -> Dict[str, object]:
    """``tfface.json``: the conventions plus every factor's θ entry names."""
    from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
    known = synthetic.synthetic_factor_entry_names()
    factors = json.loads(self.factor_table_json)["factors"]
    for entry in factors:
      names = known.get(entry["name"])
      entry["theta_names"] = (names if names and len(names) ==
                              entry["theta_dim"] else
                              [f"{entry['name']}_{i}"
                               for i in range(entry["theta_dim"])])
    image = f"[B, {self.resolution}, {self.resolution}, 3] float32 " + (
        IMAGE_MEANING)
    outputs = {"sample": {"z": f"[n, {self.table.latent_dim}] latent",
                          "image": image},
               "generate": {"image": image},
               "encode": {"z": f"[B, {self.table.latent_dim}] latent",
                          "rotation": f"[B, 3] {ROTATION_MEANING}"},
               "factor_table": {"json": "the factor table as JSON"}}
    for factor in self.table.factors:
      outputs[signature_name(factor.name)] = {
          "z": f"[B, {self.table.latent_dim}] latent with {factor.name} set"}
    return metadata_lib.build_metadata(
        "confignet", self.resolution, "generate", self.signature_inputs(),
        outputs, extra={"latent_dim": self.table.latent_dim,
                        "rotation": ROTATION_MEANING + ", R = Rz·Ry·Rx",
                        "factors": factors,
                        **({} if self.zoom is None else {"zoom": self.zoom})})


def serving_module(method, latent_generator=None, zoom: Optional[float] = None
                  ) -> Tuple[ConfigNetServing, Dict[str, object]]:
  """``(module, signatures)`` of a built ConfigNet stage method."""
  module = ConfigNetServing(method.generator_ema, method.synthetic_encoder,
                            method.table, getattr(method, "real_encoder", None),
                            latent_generator, zoom)
  return module, module.signatures()


def export(method, base_dir: str, latent_generator=None,
           version: Optional[int] = None, zoom: Optional[float] = None) -> str:
  """Writes ``<base_dir>/<version>`` (next free version); returns its path.

  ``zoom``: the training faces' camera zoom, recorded in ``tfface.json``.
  """
  module, signatures = serving_module(method, latent_generator, zoom)
  return metadata_lib.export_servable(
      module, base_dir, signatures, module.export_metadata(),
      module.signature_inputs(), version=version)
