"""Face datasets: the synthetic SynthFace-style dataset, its pseudo-real domain,
and tf.data readers for them, for image folders and for TFRecords of real faces.

Modules: ``schema`` (the TFRecord layout), ``sharded_writer`` (atomic shards,
progress bar), ``synthetic`` (factor sampling, the dataset writer, the
preview grid), ``shards`` (the check of a TFRecord file's framing that names a
damaged file), ``datasets`` (the readers) and ``sources`` (one dispatcher,
:func:`image_source`, from a source kind to its reader). The readers and the
dispatcher are re-exported here; ``synthetic`` imports the renderer and is
imported on use.
"""

from tfface.data.datasets import data_error_message
from tfface.data.datasets import image_folder_dataset
from tfface.data.datasets import pseudo_real_dataset
from tfface.data.datasets import read_layout
from tfface.data.datasets import ReadStats
from tfface.data.datasets import real_tfrecord_dataset
from tfface.data.datasets import synthetic_dataset
from tfface.data.sources import image_source
from tfface.data.sources import KINDS as IMAGE_SOURCE_KINDS
