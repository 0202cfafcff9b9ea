"""DiscoFaceGAN (Deng et al., CVPR 2020): disentangled, controllable face
generation by 3D imitative-contrastive learning.

Modules: ``lambda_space`` (the λ layout, sampling from the λ VAEs),
``generator`` (mapping from [λ, ε], StyleGAN v1/v2 synthesis, progressive
D), ``method`` (the trainer), ``truncation``, ``editing`` (embedding into
W+, Δw edits), ``export``, ``evaluation`` (the paper's Table 1 and 2).
"""
