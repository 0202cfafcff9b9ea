"""StyleRig (Tewari et al., CVPR 2020): a face rig over a frozen StyleGAN2.

* :mod:`.data` — training data drawn from the frozen generator: W+ codes,
  images, landmarks and face masks from the frozen analysis nets, in
  resumable TFRecord shards, and the reader.
* :mod:`.networks` — ``ParameterEstimator`` (F, w -> p, the 3-layer ELU MLP)
  and ``RigNet`` (per-layer linear encoder / decoder, ŵ = w + d).
* :mod:`.losses` — rendering loss (masked photometric + landmarks), the
  statistical regulariser, the index surgery and the RigNet cycle losses.
* :mod:`.method` — the trainers (F, then one RigNet per control mode).
* :mod:`.control`, :mod:`.export`, :mod:`.evaluation`.
"""
