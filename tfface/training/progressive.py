"""What a progressively grown method does at each level of detail (LOD).

StyleALAE and DiscoFaceGAN grow their networks as StyleGAN v1 does: a
:class:`tfface.networks.stylegan1.ProgressiveSchedule` gives the LOD and the
fade-in factor α of each step, each LOD has its own batch size, the reals
are pooled to the LOD's resolution (and blended during a fade-in), and one
traced branch per LOD runs the step. :class:`ProgressiveMethod` holds those
pieces once; a method mixes it in next to its
:class:`~tfface.training.method.TrainingMethod` base.

The method provides ``schedule`` (the ProgressiveSchedule), ``num_lods``,
``resolution`` (the top LOD's, R px), ``lod_batch_sizes`` (global images per
step at each LOD), ``ema_half_life_images`` and ``global_step``.
"""

import functools
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfface.networks import stylegan1


class ProgressiveMethod:
  """Per-LOD helpers of a progressively grown training method."""

  def ema_decay_of(self, lod: int) -> float:
    """The G EMA decay at LOD ``lod``: a half-life counted in images."""
    return 0.5**(self.lod_batch_sizes[lod] / self.ema_half_life_images)

  def lod_and_alpha_at(self,
                      step: Optional[int] = None) -> Tuple[int, float]:
    """``(lod, alpha)`` as Python numbers at ``step`` (default the current
    global step)."""
    step = int(self.global_step.numpy()) if step is None else int(step)
    return self.schedule.lod_at(step), self.schedule.alpha_at(step)

  def replica_batch(self, lod: int, available: int) -> int:
    """This replica's share of LOD ``lod``'s batch (checked at trace time).

    Args:
      lod: the level of detail.
      available: the images the replica's input batch holds.

    Raises:
      ValueError: the LOD's batch does not split over the replicas, or
        ``train.global_batch_size`` is smaller than the largest LOD batch.
    """
    name = type(self).__name__
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    batch = self.lod_batch_sizes[lod]
    if batch % replicas:
      raise ValueError(f"{name}.lod_batch_sizes[{lod}] = {batch} is not "
                       f"divisible by the {replicas} replicas")
    if batch // replicas > available:
      raise ValueError(
          f"{name}.lod_batch_sizes[{lod}] = {batch} needs "
          f"train.global_batch_size >= {batch} (the global batch must hold "
          f"the largest per-LOD batch, {max(self.lod_batch_sizes)}); got "
          f"{available * replicas}")
    return batch // replicas

  def images_at_lod(self, images: tf.Tensor, lod: int, alpha) -> tf.Tensor:
    """Full-resolution images (reals, renders, masks) at LOD ``lod``.

    Average-pooled from R px, and during a fade-in
    ``α·x + (1 − α)·up(avgpool(x))`` (StyleGAN's ``process_reals``, ALAE's
    ``train_alae.py``). `[B, R, R, C]` -> `[B, r, r, C]`.
    """
    x = stylegan1.downsample_average(
        images, self.resolution // stylegan1.resolution_of(lod))
    if lod > self.schedule.start_lod and not (
        isinstance(alpha, (int, float)) and alpha == 1):
      x = stylegan1.lerp(stylegan1.upsample_nearest(
          stylegan1.downsample_average(x)), x, alpha)
    return x

  def dispatch_lod(self, lod, fn: Callable[[int], object]):
    """``fn(l)`` for a Python ``lod``; for a tensor, ``tf.switch_case`` over
    the LODs the schedule trains (``start_lod`` .. top), one traced branch
    each."""
    if isinstance(lod, (int, np.integer)):
      return fn(int(lod))
    first = self.schedule.start_lod
    if first == self.num_lods - 1:
      return fn(first)
    return tf.switch_case(lod - first, [functools.partial(fn, l)
                                        for l in range(first, self.num_lods)])
