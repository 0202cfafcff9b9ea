"""Codes tables of a photo folder (CelebA) under a frozen latent autoencoder.

The reference's conditional latent GANs train on ``Embedding_CelebA64.pth``:
the 128-D ACAI codes of CelebA plus attribute columns. This module writes
the same table for any autoencoder tfface trains or converts
(:func:`tfface.methods.latent.codes.load_autoencoder`), as an ``.npz`` that
``latent_codes_dataset.codes_path`` reads (``gin/latent/cgan_celeba_64.gin``):

* ``z`` `[N, Z]` float32, the encoder's codes;
* ``filenames`` `[N]`, the images' paths relative to the folder;
* with an attribute file (``list_attr_celeba.txt``: a count line, a line of
  attribute names, then ``<file> ±1 …`` rows): ``attributes`` `[N, A]` uint8
  0/1 and ``attribute_names`` `[A]`; only images listed there are encoded,
  in its order.

Framing (``framing=``): ``stretch`` resizes the whole photo to the square
(the reference ACAI notebooks: ``img_align_celeba`` straight to 64 × 64, no
crop); ``celeba_128`` takes the centred 128 × 128 crop moved down by 15 px
(ALAE's ``prepare_celeba_tfrecords.py``) and resizes it; ``center`` takes the
largest centred square. Pixels go to [-1, 1].

The job is resumable: codes are written in chunks of ``chunk_size`` images
to ``<output>.parts/`` (each atomically), a rerun encodes only the missing
chunks, and the table is assembled and renamed into place at the end.
"""

import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from tfface.methods.latent import codes as codes_lib

FRAMINGS = ("stretch", "celeba_128", "center")
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def read_attribute_file(path: str
                        ) -> Tuple[List[str], List[str], np.ndarray]:
  """Reads a CelebA-format attribute file.

  Returns:
    ``(filenames [N], attribute_names [A], values [N, A] uint8 0/1)``.

  Raises:
    ValueError: the file is not in the format (the count line, the names
      line, then one row of ``A`` values ±1 (or 0/1) per image).
  """
  with open(path) as f:
    lines = [line.split() for line in f if line.strip()]
  expected = ("expected list_attr_celeba.txt's format: a count line, a line "
              "of attribute names, then '<file> ±1 ...' rows")
  if len(lines) < 3 or len(lines[0]) != 1 or not lines[0][0].isdigit():
    raise ValueError(f"attribute file {path!r}: {expected}")
  names = lines[1]
  files, rows = [], []
  for number, row in enumerate(lines[2:], start=3):
    if len(row) != len(names) + 1:
      raise ValueError(f"attribute file {path!r} line {number}: {len(row) - 1}"
                       f" values for {len(names)} attributes; {expected}")
    try:
      values = [int(v) for v in row[1:]]
    except ValueError as e:
      raise ValueError(f"attribute file {path!r} line {number}: {e}; "
                       f"{expected}") from e
    if any(v not in (-1, 0, 1) for v in values):
      raise ValueError(f"attribute file {path!r} line {number}: values must "
                       f"be -1/1 or 0/1; {expected}")
    files.append(row[0])
    rows.append(values)
  if int(lines[0][0]) != len(files):
    logging.warning("attribute file %s announces %s rows and has %d", path,
                    lines[0][0], len(files))
  return files, names, (np.asarray(rows) > 0).astype(np.uint8)


def list_images(directory: str) -> List[str]:
  """Image paths under ``directory`` relative to it, sorted."""
  found = []
  for root, _, names in os.walk(directory):
    for name in names:
      if name.lower().endswith(_IMAGE_EXTENSIONS):
        found.append(os.path.relpath(os.path.join(root, name), directory))
  return sorted(found)


def frame_image(image: tf.Tensor, size: int, framing: str) -> tf.Tensor:
  """One decoded photo `[H, W, 3]` uint8 -> `[size, size, 3]` in [-1, 1]."""
  image = tf.image.convert_image_dtype(image, tf.float32)
  if framing == "celeba_128":
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    crop = tf.minimum(128, tf.minimum(height, width))
    top = tf.clip_by_value((height - crop) // 2 + 15, 0, height - crop)
    left = (width - crop) // 2
    image = image[top:top + crop, left:left + crop]
  elif framing == "center":
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    crop = tf.minimum(height, width)
    top, left = (height - crop) // 2, (width - crop) // 2
    image = image[top:top + crop, left:left + crop]
  image = tf.image.resize(image, [size, size], method="bilinear",
                          antialias=True)
  return image * 2.0 - 1.0


def _check(framing: str, chunk_size: int, batch_size: int) -> None:
  if framing not in FRAMINGS:
    raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
  if chunk_size < 1 or batch_size < 1:
    raise ValueError(f"chunk_size and batch_size must be >= 1, got "
                     f"{chunk_size} and {batch_size}")


def _encode_chunk(encode, directory: str, files: Sequence[str],
                  size: int, framing: str, batch_size: int) -> np.ndarray:
  paths = [os.path.join(directory, f) for f in files]
  missing = [p for p in paths if not os.path.isfile(p)]
  if missing:
    raise ValueError(f"{len(missing)} listed images are missing, the first "
                     f"{missing[0]!r}")

  def load(path):
    image = tf.io.decode_image(tf.io.read_file(path), channels=3,
                               expand_animations=False)
    return frame_image(image, size, framing)

  data = tf.data.Dataset.from_tensor_slices(paths).map(
      load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
  return np.concatenate([encode(images).numpy() for images in data])


def encode_folder(autoencoder_source: str, image_dir: str, output_path: str,
                  attributes_path: Optional[str] = None,
                  image_size: Optional[int] = None,
                  framing: str = "stretch", batch_size: int = 64,
                  chunk_size: int = 4096,
                  max_images: Optional[int] = None) -> Dict[str, np.ndarray]:
  """Encodes a photo folder into a codes table (see the module docstring).

  Args:
    autoencoder_source: a latent autoencoder weights file or run directory.
    image_dir: the photos (CelebA: ``img_align_celeba``).
    output_path: the ``.npz`` to write.
    attributes_path: optional CelebA-format attribute file.
    image_size: the encoder's input size (default the autoencoder's).
    framing: ``stretch``, ``celeba_128`` or ``center``.
    batch_size: encoder batch.
    chunk_size: images per resumable chunk.
    max_images: encode only the first N images.

  Returns:
    The table written.

  Raises:
    ValueError: a bad setting, no images, a listed image missing, or a
      chunk left by a run with other settings.
  """
  _check(framing, chunk_size, batch_size)
  if not os.path.isdir(image_dir):
    raise ValueError(f"image folder {image_dir!r} does not exist")
  autoencoder = codes_lib.load_autoencoder(autoencoder_source)
  size = int(image_size or autoencoder.image_size)
  if attributes_path:
    files, names, attributes = read_attribute_file(attributes_path)
  else:
    files, names, attributes = list_images(image_dir), None, None
  if max_images:
    files = files[:max_images]
    attributes = None if attributes is None else attributes[:max_images]
  if not files:
    raise ValueError(f"no images to encode in {image_dir!r}")

  parts_dir = output_path + ".parts"
  os.makedirs(parts_dir, exist_ok=True)
  settings = {"autoencoder": os.path.abspath(autoencoder_source),
              "image_dir": os.path.abspath(image_dir), "size": size,
              "framing": framing, "chunk_size": int(chunk_size),
              "num_images": len(files)}
  settings_path = os.path.join(parts_dir, "settings.json")
  if os.path.isfile(settings_path):
    with open(settings_path) as f:
      before = json.load(f)
    if before != settings:
      raise ValueError(f"{parts_dir!r} holds chunks of another job "
                       f"({before}); delete it or use another output path")
  else:
    with open(settings_path + ".tmp", "w") as f:
      json.dump(settings, f)
    os.replace(settings_path + ".tmp", settings_path)

  encode = tf.function(autoencoder.encode, reduce_retracing=True)
  chunks = []
  num_chunks = -(-len(files) // chunk_size)
  for index in range(num_chunks):
    path = os.path.join(parts_dir, f"chunk-{index:05d}.npy")
    if not os.path.isfile(path):
      logging.info("encoding chunk %d/%d", index + 1, num_chunks)
      z = _encode_chunk(encode, image_dir,
                        files[index * chunk_size:(index + 1) * chunk_size],
                        size, framing, batch_size)
      with open(path + ".tmp", "wb") as f:
        np.save(f, z.astype(np.float32))
      os.replace(path + ".tmp", path)
    chunks.append(np.load(path))

  table = {"z": np.concatenate(chunks), "filenames": np.asarray(files)}
  if attributes is not None:
    table["attributes"] = attributes
    table["attribute_names"] = np.asarray(names)
  codes_lib.save_table(output_path, table)
  for name in os.listdir(parts_dir):
    os.remove(os.path.join(parts_dir, name))
  os.rmdir(parts_dir)
  return table
