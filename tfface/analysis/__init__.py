"""Face-analysis networks tfface trains on its synthetic faces and uses frozen.

Reconstruction (image -> face-model coefficients), 68 landmarks, an identity
embedding and a face parser; converters for the public networks the papers
used; face alignment for a user's photos. Every network takes images
`[B, H, W, 3]` float32 RGB in [-1, 1] and is stored in one weights format
(:mod:`tfface.analysis.weights`).
"""
