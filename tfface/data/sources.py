"""One dispatcher from an image-source kind to its tf.data reader.

Methods that train on unlabeled face images (StyleGAN2's training set,
ConfigNet's real half, ...) name their source with one of :data:`KINDS` (the
same words as the gin files) and a path, and get ``{"image"}`` elements from
:func:`image_source`, whatever the reader behind the kind.
"""

from typing import Optional, Sequence, Union

import tensorflow as tf

from tfface.data import datasets

# kind -> what ``path`` is.
KINDS = ("folder", "tfrecord", "synthetic", "pseudo_real")
_PATHS = {
    "folder": "a directory of PNG/JPEG/BMP/GIF images (searched recursively)",
    "tfrecord": "a file pattern of TFRecords of tf.train.Examples with an "
                "encoded 'image'",
    "synthetic": "a file pattern of synthetic-face shards "
                 "(tools/make_synthetic.py)",
    "pseudo_real": "a file pattern of pseudo-real shards "
                   "(tools/make_synthetic.py --mode=pseudo_real)",
}


def image_source(kind: str, path: Union[str, Sequence[str]],
                 image_size: datasets.ImageSize,
                 batch_size: Optional[int] = None, *,
                 shuffle: bool = True, seed: int = 0,
                 repeat: bool = True,
                 skip_corrupt: bool = False) -> tf.data.Dataset:
  """Unlabeled face images of one kind of source.

  Args:
    kind: ``"folder"`` (:func:`~tfface.data.datasets.image_folder_dataset`),
      ``"tfrecord"`` (:func:`~tfface.data.datasets.real_tfrecord_dataset`),
      ``"synthetic"`` (:func:`~tfface.data.datasets.synthetic_dataset`, its
      images only) or ``"pseudo_real"``
      (:func:`~tfface.data.datasets.pseudo_real_dataset`).
    path: the directory (``folder``) or file pattern(s) (the other kinds).
    image_size: `H` or `(H, W)`; other stored sizes are centre-cropped and
      resized.
    batch_size: batch with ``drop_remainder=True``, or None for single images.
    shuffle: shuffle files and examples.
    seed: shuffle seed.
    repeat: repeat forever.
    skip_corrupt: the TFRecord kinds skip and count damaged records instead
      of raising (a folder always skips and counts undecodable files).

  Returns:
    Dataset of ``{"image": [H, W, 3] float32 in [-1, 1]}`` (leading `[B]`
    when batched), with the reader's ``read_stats`` attribute.

  Raises:
    ValueError: an unknown kind (the message lists :data:`KINDS`), an empty
      path, or whatever the reader rejects (no files, a bad size, a damaged
      or foreign file, not one decodable image, ...; the message names the
      file).
  """
  if kind not in KINDS:
    raise ValueError(f"unknown image source kind {kind!r}; expected one of "
                     f"{', '.join(repr(k) for k in KINDS)}.")
  if not path:
    raise ValueError(f"image source {kind!r} needs a path: {_PATHS[kind]}.")
  kwargs = dict(batch_size=batch_size, shuffle=shuffle, repeat=repeat,
                seed=seed)
  if kind == "folder":
    return datasets.image_folder_dataset(path, image_size, **kwargs)
  kwargs["skip_corrupt"] = skip_corrupt
  if kind == "tfrecord":
    return datasets.real_tfrecord_dataset(path, image_size, **kwargs)
  if kind == "pseudo_real":
    return datasets.pseudo_real_dataset(path, image_size, **kwargs)
  labeled = datasets.synthetic_dataset(path, image_size, **kwargs)
  images = labeled.map(lambda element: {"image": element["image"]},
                       num_parallel_calls=tf.data.AUTOTUNE)
  images.read_stats = labeled.read_stats
  images.source_files = labeled.source_files
  return images
