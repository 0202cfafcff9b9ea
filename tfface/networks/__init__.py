"""Keras subclassed networks shared by several methods.

Modules: ``stylegan2`` (mapping, synthesis, generator, discriminator) and
``stylegan2_weights`` (the tfface weights ``.npz`` format and loading a
trained or converted generator). A method that needs a frozen StyleGAN2 calls
``load_stylegan2_generator(path_or_run_dir)``.
"""

from tfface.networks.stylegan2_weights import load_stylegan2_generator
