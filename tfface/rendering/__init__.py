"""Differentiable face rendering on TensorFlow Graphics.

Modules (imported on use, so ``import tfface.rendering`` stays cheap):
``rasterizer`` (two backends with one contract: TF Graphics' rebuilt CPU
kernel and a pure-TensorFlow rasterizer), ``kernel_build`` (builds and
registers TF Graphics' CPU kernel), ``camera``, ``lighting``, ``face_model``,
``bfm``, ``procedural_model``, ``face_renderer`` and ``depth_renderer``
(LiftedGAN's depth-map renderer).
"""
