"""StyleGAN2: trainer on the shared runtime, export module, weight converter.

Importing this package registers the gin configurables ``StyleGAN2Method``
and ``stylegan2_dataset``.
"""

from tfface.methods.stylegan2.data import stylegan2_dataset
from tfface.methods.stylegan2.data import toy_images
from tfface.methods.stylegan2.export import GeneratorModule
from tfface.methods.stylegan2.trainer import StyleGAN2Method
