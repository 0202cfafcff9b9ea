"""LiftedGAN (Shi, Aggarwal, Jain, CVPR 2021): a frozen StyleGAN2 distilled
into a 3D generator (depth, albedo, light, view, transformation map) rendered
by :mod:`tfface.rendering.depth_renderer`.

Modules: ``networks`` (D_V, D_L, M, D_S, D_T, the frozen G, VGG16 features),
``model`` (the 3D generator), ``losses``, ``method`` (the trainer,
``@LiftedGANMethod`` for ``tools/train.py``), ``control`` (sampling, poses,
lighting, component and mesh export, ``tools/generate.py liftedgan``),
``mesh_io``, ``export`` (SavedModel signatures), ``evaluation`` (Table 2 and
Fig. 6 protocol, ``tools/evaluate.py liftedgan``).
"""
