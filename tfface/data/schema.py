"""The TFRecord schema of tfface's synthetic and pseudo-real face datasets.

Every record is one `tf.train.Example`:

=====================  ===========  ==========================================
key                    type         content
=====================  ===========  ==========================================
``image``              bytes        PNG, uint8 RGB, `[H, W, 3]`
``height``, ``width``  int64        image size in pixels
``domain``             bytes        ``b"synthetic"`` or ``b"pseudo_real"``
``factor_names``       bytes list   factor names θ_i in their canonical order
                                    (labeled records only)
``factors/<name>``     float list   the factor θ_<name>, `[n]` float32
                                    (labeled records only)
``iris_mask``          bytes        PNG, uint8 grayscale `[H, W, 1]`, 255 where
                                    an iris is visible (labeled records only)
``landmarks``          float list   `[68 * 2]` iBUG-68 (x, y) in pixels
                                    (labeled records only)
``parse``              bytes        PNG, uint8 `[H, W, 1]` class ids of
                                    :data:`PARSE_CLASSES` (``labeled`` writer
                                    mode only)
``identity``           int64        the face's identity id: records of one id
                                    share shape and albedo (``labeled`` only)
``style``              bytes        render style, ``b"synthetic"`` or
                                    ``b"pseudo_real"`` (``labeled`` only)
=====================  ===========  ==========================================

The writer's ``labeled`` mode (:mod:`tfface.data.synthetic`) writes synthetic
records with the three extra labels, for the face-analysis networks: both
render styles, identities seen several times, wider poses.

Pseudo-real records carry only ``image``, ``height``, ``width`` and
``domain``: they stand in for unlabeled photos. Files of *real* faces read by
:func:`tfface.data.datasets.real_tfrecord_dataset` need only an encoded
``image`` feature (PNG, JPEG, BMP or GIF).

Factors are float lists, so they round-trip exactly (float32 in, float32 out).
"""

import collections
from typing import Dict, List, Mapping, Optional

import numpy as np
import tensorflow as tf

IMAGE = "image"
HEIGHT = "height"
WIDTH = "width"
DOMAIN = "domain"
FACTOR_NAMES = "factor_names"
FACTOR_PREFIX = "factors/"
IRIS_MASK = "iris_mask"
LANDMARKS = "landmarks"
PARSE = "parse"
IDENTITY = "identity"
STYLE = "style"

SYNTHETIC = "synthetic"
PSEUDO_REAL = "pseudo_real"
DOMAINS = (SYNTHETIC, PSEUDO_REAL)

NUM_LANDMARKS = 68

# Face-parser classes, ids in this order. Hair is class 2 as in the face
# parser DiscoFaceGAN uses (0 background, 1 face, 2 hair).
PARSE_CLASSES = ("background", "skin", "hair", "beard", "brows", "eyes",
                 "lips", "mouth")

# Every PNG starts with this signature and ends with this IEND chunk.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _bytes_feature(values) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _float_feature(values) -> tf.train.Feature:
  values = np.asarray(values, np.float32).ravel()
  return tf.train.Feature(float_list=tf.train.FloatList(value=values.tolist()))


def _int_feature(values) -> tf.train.Feature:
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def encode_png(image: np.ndarray) -> bytes:
  """PNG bytes of a `[H, W, C]` uint8 array (C = 1 or 3); deterministic."""
  image = np.asarray(image)
  if (image.dtype != np.uint8 or image.ndim != 3 or
      image.shape[-1] not in (1, 3)):
    raise ValueError(
        "encode_png expects a [H, W, 1] or [H, W, 3] uint8 array, got "
        f"{image.dtype} {image.shape}.")
  return tf.io.encode_png(image, compression=6).numpy()


def to_uint8(image: np.ndarray) -> np.ndarray:
  """Maps float images in [-1, 1] to uint8 [0, 255] (round to nearest)."""
  image = np.asarray(image, np.float32)
  return np.clip(np.round((image + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_example(image: np.ndarray,
                 domain: str = SYNTHETIC,
                 factors: Optional[Mapping[str, np.ndarray]] = None,
                 iris_mask: Optional[np.ndarray] = None,
                 landmarks: Optional[np.ndarray] = None,
                 parse: Optional[np.ndarray] = None,
                 identity: Optional[int] = None,
                 style: Optional[str] = None) -> bytes:
  """Serializes one face as a `tf.train.Example`.

  Args:
    image: `[H, W, 3]` uint8 RGB.
    domain: ``"synthetic"`` (labeled) or ``"pseudo_real"`` (unlabeled).
    factors: ordered mapping name -> `[n]` float32 factor θ_name; required
      for (and only allowed in) the synthetic domain.
    iris_mask: `[H, W, 1]` uint8, 255 on iris pixels (synthetic only).
    landmarks: `[68, 2]` float32 (x, y) pixels (synthetic only).
    parse, identity, style: the analysis labels (synthetic only, all three
      or none): `[H, W, 1]` uint8 ids of :data:`PARSE_CLASSES`, an int >= 0
      and ``"synthetic"`` or ``"pseudo_real"``.

  Returns:
    The serialized example.

  Raises:
    ValueError: on an unknown domain, a mis-shaped array, or labels that do
      not match the domain.
  """
  if domain not in DOMAINS:
    raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}.")
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"image must be [H, W, 3] uint8, got {image.shape}.")
  height, width = image.shape[:2]
  feature = {
      IMAGE: _bytes_feature([encode_png(image)]),
      HEIGHT: _int_feature([height]),
      WIDTH: _int_feature([width]),
      DOMAIN: _bytes_feature([domain.encode()]),
  }
  labels = (factors, iris_mask, landmarks)
  if domain == PSEUDO_REAL:
    if any(label is not None for label in labels):
      raise ValueError("pseudo-real examples carry no factors, iris mask or "
                       "landmarks.")
  else:
    if any(label is None for label in labels):
      raise ValueError("synthetic examples need factors, iris_mask and "
                       "landmarks.")
    iris_mask = np.asarray(iris_mask)
    if iris_mask.shape != (height, width, 1):
      raise ValueError(f"iris_mask must be [{height}, {width}, 1] uint8, got "
                       f"{iris_mask.shape}.")
    landmarks = np.asarray(landmarks, np.float32)
    if landmarks.shape != (NUM_LANDMARKS, 2):
      raise ValueError(f"landmarks must be [68, 2], got {landmarks.shape}.")
    feature[FACTOR_NAMES] = _bytes_feature(name.encode() for name in factors)
    for name, value in factors.items():
      feature[FACTOR_PREFIX + name] = _float_feature(value)
    feature[IRIS_MASK] = _bytes_feature([encode_png(iris_mask)])
    feature[LANDMARKS] = _float_feature(landmarks)
  analysis = (parse, identity, style)
  if any(label is not None for label in analysis):
    if domain == PSEUDO_REAL or any(label is None for label in analysis):
      raise ValueError("parse, identity and style go together, on synthetic "
                       "examples only.")
    parse = np.asarray(parse)
    if parse.shape != (height, width, 1) or parse.dtype != np.uint8:
      raise ValueError(f"parse must be [{height}, {width}, 1] uint8, got "
                       f"{parse.shape} {parse.dtype}.")
    if style not in DOMAINS:
      raise ValueError(f"style must be one of {DOMAINS}, got {style!r}.")
    feature[PARSE] = _bytes_feature([encode_png(parse)])
    feature[IDENTITY] = _int_feature([int(identity)])
    feature[STYLE] = _bytes_feature([style.encode()])
  example = tf.train.Example(features=tf.train.Features(feature=feature))
  # Deterministic: the proto map's keys are written in sorted order.
  return example.SerializeToString(deterministic=True)


class RecordLayout(collections.namedtuple(
    "RecordLayout", ["domain", "height", "width", "factor_sizes"])):
  """What the first record of a file says about the whole dataset.

  Attributes:
    domain: ``"synthetic"`` or ``"pseudo_real"``.
    height, width: stored image size in pixels.
    factor_sizes: ordered dict name -> n (empty for pseudo-real records).
  """


def parse_layout(serialized: bytes, source: str = "record") -> RecordLayout:
  """Reads the layout (domain, size, factor names and sizes) of one record.

  Raises:
    ValueError: the record is not a tfface face example; names ``source``.
  """
  try:
    example = tf.train.Example.FromString(serialized)
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f"{source} is not a tf.train.Example ({e}).") from e
  feature = example.features.feature
  for key in (IMAGE, HEIGHT, WIDTH, DOMAIN):
    if key not in feature:
      raise ValueError(
          f"{source} has no {key!r} feature; expected a tfface synthetic or "
          "pseudo-real face record (see tfface/data/schema.py).")
  domain = (feature[DOMAIN].bytes_list.value[0].decode("utf-8", "replace")
            if feature[DOMAIN].bytes_list.value else "")
  if domain not in DOMAINS:
    raise ValueError(f"{source} has domain {domain!r}; expected one of "
                     f"{DOMAINS} (see tfface/data/schema.py).")
  sizes: Dict[str, int] = collections.OrderedDict()
  names = (feature[FACTOR_NAMES].bytes_list.value
           if FACTOR_NAMES in feature else ())
  for raw in names:
    name = raw.decode("utf-8", "replace")
    if FACTOR_PREFIX + name not in feature:
      raise ValueError(f"{source} lists factor {name!r} but has no "
                       f"{FACTOR_PREFIX + name!r} feature (see "
                       "tfface/data/schema.py).")
    sizes[name] = len(feature[FACTOR_PREFIX + name].float_list.value)
  height, width = (feature[k].int64_list.value for k in (HEIGHT, WIDTH))
  if not height or not width:
    raise ValueError(f"{source} has an empty 'height' or 'width' feature; "
                     "expected int64 image sizes (see tfface/data/schema.py).")
  return RecordLayout(domain, int(height[0]), int(width[0]), sizes)


def looks_like_png(data: bytes) -> bool:
  """Whether ``data`` starts and ends as a complete PNG file does."""
  return (len(data) >= len(PNG_SIGNATURE) + len(PNG_END) and
          data.startswith(PNG_SIGNATURE) and data.endswith(PNG_END))


def record_problems(serialized: bytes,
                    factor_sizes: Optional[Mapping[str, int]] = None
                    ) -> List[str]:
  """What a record lacks to be a tfface face record; [] when it is complete.

  Checks what the readers need: a PNG ``image`` and, when ``factor_sizes`` is
  given (labeled records), a PNG ``iris_mask``, 136 ``landmarks`` floats and
  every ``factors/<name>`` with its size.

  Args:
    serialized: one record.
    factor_sizes: name -> n of a labeled dataset, or None (images only).

  Returns:
    Short phrases, e.g. ``["no 'landmarks' feature",
    "'factors/identity' holds 3 floats, expected 5"]``.
  """
  try:
    feature = tf.train.Example.FromString(serialized).features.feature
  except Exception:  # pylint: disable=broad-except
    return ["it is not a tf.train.Example"]
  problems = []

  def png(key):
    if key not in feature or not feature[key].bytes_list.value:
      problems.append(f"no {key!r} bytes feature")
    elif not looks_like_png(feature[key].bytes_list.value[0]):
      problems.append(f"{key!r} is not a complete PNG")

  def floats(key, size):
    if key not in feature:
      problems.append(f"no {key!r} feature")
    elif len(feature[key].float_list.value) != size:
      problems.append(f"{key!r} holds {len(feature[key].float_list.value)} "
                      f"floats, expected {size}")

  png(IMAGE)
  if factor_sizes is not None:
    png(IRIS_MASK)
    floats(LANDMARKS, NUM_LANDMARKS * 2)
    for name, size in factor_sizes.items():
      floats(FACTOR_PREFIX + name, size)
  return problems


def format_sizes(sizes: Mapping[str, int]) -> str:
  """``{'identity': 5, 'pose': 3}`` as ``identity=5, pose=3`` (no quotes)."""
  return ", ".join(f"{name}={size}" for name, size in sizes.items())


def feature_spec(factor_sizes: Optional[Mapping[str, int]] = None
                 ) -> Dict[str, object]:
  """`tf.io.parse_single_example` spec; labels included when sizes given."""
  spec = {
      IMAGE: tf.io.FixedLenFeature([], tf.string),
      HEIGHT: tf.io.FixedLenFeature([], tf.int64),
      WIDTH: tf.io.FixedLenFeature([], tf.int64),
  }
  if factor_sizes is not None:
    for name, size in factor_sizes.items():
      spec[FACTOR_PREFIX + name] = tf.io.FixedLenFeature([size], tf.float32)
    spec[IRIS_MASK] = tf.io.FixedLenFeature([], tf.string)
    spec[LANDMARKS] = tf.io.FixedLenFeature([NUM_LANDMARKS * 2], tf.float32)
  return spec
