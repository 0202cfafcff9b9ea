"""Lambertian shading: SH irradiance (Deep3DFaceRecon) and ambient+directional.

**Spherical harmonics** (Deep3DFaceRecon `Illumination_block`, used by
DiscoFaceGAN and StyleRig). The 27 lighting coefficients `gamma` are read as
`[3, 9]`: row 0 the red SH coefficients, row 1 green, row 2 blue. The DC term
of every channel gets `+0.8` (`DEFAULT_AMBIENT_OFFSET`), so `gamma = 0` is a
uniform grey light. The irradiance of a unit normal `n = (x, y, z)` is

    E_c(n) = sum_k gamma[c, k] · Y_k(n),
    Y(n) = [a0 c0, -a1 c1 y, a1 c1 z, -a1 c1 x, a2 c2 x y, -a2 c2 y z,
            a2 c2 (3 z² - 1) / (2√3), -a2 c2 x z, a2 c2 (x² - y²) / 2],

with a0 = π, a1 = 2π/√3, a2 = 2π/√8 (the Lambertian kernel's per-band factors,
as Deep3DFaceRecon chose them) and c0 = 1/√(4π), c1 = √3/√(4π),
c2 = 3√5/√(12π). `Y_k / a_band` are the orthonormal real SH of bands 0-2 up
to sign, i.e. TF Graphics' `evaluate_spherical_harmonics`. The shaded colour
is `albedo_c · E_c(n)` with `n` the posed (rotated) normal.

**Ambient + directional Lambert** (LiftedGAN / unsup3d): a single-channel
shading `ambient + diffuse · max(0, n · d̂)`.
"""

import math

import tensorflow as tf

from tfface.rendering import face_model

DEFAULT_AMBIENT_OFFSET = 0.8
NUM_SH_COEFFICIENTS = 27

# Per-band Lambertian factors a_l and SH normalisations c_l (Deep3DFaceRecon).
A0 = math.pi
A1 = 2.0 * math.pi / math.sqrt(3.0)
A2 = 2.0 * math.pi / math.sqrt(8.0)
C0 = 1.0 / math.sqrt(4.0 * math.pi)
C1 = math.sqrt(3.0) / math.sqrt(4.0 * math.pi)
C2 = 3.0 * math.sqrt(5.0) / math.sqrt(12.0 * math.pi)
BAND_FACTORS = (A0, A1, A1, A1, A2, A2, A2, A2, A2)


def sh_basis(normals: tf.Tensor) -> tf.Tensor:
  """Deep3DFaceRecon's 9 scaled SH basis values `Y(n)` (see module doc).

  Args:
    normals: `[..., 3]` float32 unit normals.

  Returns:
    `[..., 9]` float32.
  """
  normals = tf.convert_to_tensor(normals, tf.float32)
  x, y, z = tf.unstack(normals, axis=-1)
  a1c1, a2c2 = A1 * C1, A2 * C2
  return tf.stack([
      tf.fill(tf.shape(x), A0 * C0),
      -a1c1 * y,
      a1c1 * z,
      -a1c1 * x,
      a2c2 * x * y,
      -a2c2 * y * z,
      a2c2 / (2.0 * math.sqrt(3.0)) * (3.0 * tf.square(z) - 1.0),
      -a2c2 * x * z,
      0.5 * a2c2 * (tf.square(x) - tf.square(y)),
  ], axis=-1)


def sh_coefficients(sh: tf.Tensor,
                    ambient_offset: float = DEFAULT_AMBIENT_OFFSET
                    ) -> tf.Tensor:
  """Reshapes `[B, 27]` lighting to `[B, 3, 9]` and adds the DC offset.

  Args:
    sh: `[B, 27]` float32 Deep3DFaceRecon `gamma` (R's 9, G's 9, B's 9).
    ambient_offset: added to each channel's DC coefficient (0.8 in
      Deep3DFaceRecon).

  Returns:
    `[B, 3, 9]` float32.
  """
  sh = tf.convert_to_tensor(sh, tf.float32)
  if sh.shape.rank != 2 or sh.shape[-1] not in (None, NUM_SH_COEFFICIENTS):
    raise ValueError(
        f"sh must be [B, {NUM_SH_COEFFICIENTS}] (3 x 9 SH coefficients), got "
        f"shape {sh.shape}.")
  gamma = tf.reshape(sh, [-1, 3, 9])
  offset = tf.constant([ambient_offset] + [0.0] * 8, tf.float32)
  return gamma + offset


def sh_irradiance(normals: tf.Tensor, sh: tf.Tensor,
                  ambient_offset: float = DEFAULT_AMBIENT_OFFSET) -> tf.Tensor:
  """Per-channel SH irradiance `E_c(n)` of unit normals.

  Args:
    normals: `[B, N, 3]` float32 unit normals (camera/world frame).
    sh: `[B, 27]` float32 lighting coefficients.
    ambient_offset: DC offset (see `sh_coefficients`).

  Returns:
    `[B, N, 3]` float32 RGB irradiance (unbounded; 0.8·a0·c0 ≈ 0.709 for
    `sh = 0`).
  """
  gamma = sh_coefficients(sh, ambient_offset)  # [B, 3, 9]
  basis = sh_basis(normals)  # [B, N, 9]
  return tf.einsum("bnk,bck->bnc", basis, gamma)


def sh_shade(albedo: tf.Tensor, normals: tf.Tensor, sh: tf.Tensor,
             ambient_offset: float = DEFAULT_AMBIENT_OFFSET) -> tf.Tensor:
  """Lambertian colour `albedo · E(n)` (Deep3DFaceRecon `Illumination_block`).

  Args:
    albedo: `[B, N, 3]` float32 RGB, [0, 1].
    normals: `[B, N, 3]` float32 unit normals.
    sh: `[B, 27]` float32.
    ambient_offset: DC offset.

  Returns:
    `[B, N, 3]` float32 RGB (not clipped).
  """
  return tf.convert_to_tensor(albedo, tf.float32) * sh_irradiance(
      normals, sh, ambient_offset)


def lambert_shading(normals: tf.Tensor, ambient: tf.Tensor,
                    diffuse: tf.Tensor, light_direction: tf.Tensor
                    ) -> tf.Tensor:
  """Ambient + directional Lambertian shading (LiftedGAN / unsup3d).

  `shading = ambient + diffuse · max(0, n · d / |d|)`.

  Args:
    normals: `[..., 3]` float32 unit normals.
    ambient: `[..., 1]` float32 ambient strength (broadcastable).
    diffuse: `[..., 1]` float32 diffuse strength (broadcastable).
    light_direction: `[..., 3]` float32 direction *toward* the light
      (broadcastable; normalized here). In LiftedGAN's frame `(0, 0, 1)` is
      frontal.

  Returns:
    `[..., 1]` float32 single-channel shading; multiply with albedo.
  """
  normals = tf.convert_to_tensor(normals, tf.float32)
  direction = face_model.safe_normalize(
      tf.convert_to_tensor(light_direction, tf.float32))
  cosine = tf.reduce_sum(normals * direction, axis=-1, keepdims=True)
  return (tf.convert_to_tensor(ambient, tf.float32) +
          tf.convert_to_tensor(diffuse, tf.float32) * tf.nn.relu(cosine))
