"""The one training runtime: strategy, loop, checkpoints, summaries, EMA.

See :mod:`tfface.training.method` for the contract a method implements and
:mod:`tfface.training.loop` for what the runtime does with it;
:func:`restore_run` rebuilds a run from its directory and
:func:`resolve_checkpoint` finds the checkpoint a path names.
"""

from tfface.training.checkpoints import CheckpointNotFoundError
from tfface.training.checkpoints import CheckpointWriteError
from tfface.training.checkpoints import resolve_checkpoint
from tfface.training.ema import WeightEMA
from tfface.training.gradients import conditional_minimize
from tfface.training.gradients import minimize
from tfface.training.loop import ExistingRunError
from tfface.training.loop import LoopConfig
from tfface.training.loop import NonFiniteLossError
from tfface.training.loop import run_training
from tfface.training.method import TrainingMethod
from tfface.training.restore import restore_run
from tfface.training.seeding import set_global_seed
from tfface.training.seeding import step_seed
from tfface.training.strategy import make_strategy
