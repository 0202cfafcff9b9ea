"""tfface: controllable neural face generation in TensorFlow 2 / Keras 3.

Subpackages (see DESIGN.md): ``rendering`` (differentiable face rendering on
TensorFlow Graphics), ``data`` (tf.data pipelines and the synthetic face
dataset), ``layers``, ``networks``, ``losses``, ``methods`` (one package per
paper), ``training`` (the one custom training loop), ``export`` (SavedModels for
TF Serving) and ``metrics``.

Importing ``tfface`` is cheap: subpackages are imported on use.
"""

__version__ = "0.1.0"
