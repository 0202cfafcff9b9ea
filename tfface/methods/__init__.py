"""One package per paper. Importing this package registers every method's gin
configurables, so gin files can name them."""

from tfface.methods import stylegan2  # noqa: F401  (StyleGAN2Method, stylegan2_dataset)
from tfface.methods import confignet  # noqa: F401  (registers gin configurables)
