"""Trainers of the face-analysis networks on tfface's labeled synthetic faces.

One :class:`~tfface.training.method.TrainingMethod` per network of
:mod:`tfface.analysis` (reconstruction, landmarks, identity, parser), trained
with ``tools/train.py`` and the gin files in ``gin/analysis/``; each exports a
SavedModel with its named signature and writes the network's weights file
that the other methods load frozen.
"""
