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
"""

import json
from typing import Dict, Optional, Tuple

import tensorflow as tf

from tfface.export import savedmodel


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
  """

  def __init__(self, generator, synthetic_encoder, table,
               real_encoder=None, latent_generator=None):
    super().__init__(name="confignet")
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

  def signatures(self) -> Dict[str, object]:
    latent = self.table.latent_dim
    res = self.resolution

    @tf.function(input_signature=[
        tf.TensorSpec([], tf.int32, "n"), tf.TensorSpec([], tf.int32, "seed"),
        tf.TensorSpec([], tf.float32, "truncation")])
    def sample(n, seed, truncation):
      w = tf.random.stateless_normal(tf.stack([n, latent]),
                                     tf.stack([seed, 0])) * truncation
      z = self.latent_generator(w) if self.latent_generator is not None else w
      image = self.generator(z, tf.zeros(tf.stack([n, 3])))
      return {"z": z, "image": image}

    @tf.function(input_signature=[
        tf.TensorSpec([None, latent], tf.float32, "z"),
        tf.TensorSpec([None, 3], tf.float32, "rotation")])
    def generate(z, rotation):
      return {"image": self.generator(z, rotation)}

    table_json = self.factor_table_json

    @tf.function(input_signature=[])
    def factor_table():
      return {"json": tf.constant(table_json)}

    out = {"sample": sample, "generate": generate,
           "factor_table": factor_table}
    if self.real_encoder is not None:

      @tf.function(input_signature=[
          tf.TensorSpec([None, res, res, 3], tf.float32, "image")])
      def encode(image):
        z, rotation = self.real_encoder(image, training=False)
        return {"z": z, "rotation": rotation}

      out["encode"] = encode
    for factor in self.table.factors:
      out[signature_name(factor.name)] = self._set_factor(factor)
    return out

  def _set_factor(self, factor):
    start, stop = self.table.latent_slice(factor.name)
    encoder = self.synthetic_encoder.encoders[factor.name]

    @tf.function(input_signature=[
        tf.TensorSpec([None, self.table.latent_dim], tf.float32, "z"),
        tf.TensorSpec([None, factor.theta_dim], tf.float32, "factor_values")])
    def set_factor(z, factor_values):
      return {"z": tf.concat([z[:, :start], encoder(factor_values),
                              z[:, stop:]], axis=1)}

    return set_factor


def serving_module(method, latent_generator=None
                  ) -> Tuple[ConfigNetServing, Dict[str, object]]:
  """``(module, signatures)`` of a built ConfigNet stage method."""
  module = ConfigNetServing(method.generator_ema, method.synthetic_encoder,
                            method.table, getattr(method, "real_encoder", None),
                            latent_generator)
  return module, module.signatures()


def export(method, base_dir: str, latent_generator=None,
           version: Optional[int] = None) -> str:
  """Writes ``<base_dir>/<version>`` (next free version); returns its path."""
  module, signatures = serving_module(method, latent_generator)
  return savedmodel.export_module(module, base_dir, signatures,
                                  version=version)
