"""ConfigNet (Kowalski et al., ECCV 2020): controllable neural face generation
trained on synthetic renders (with their θ) and unlabeled real faces.

Importing this package registers its gin configurables: ``ConfigNetStage1``,
``ConfigNetStage2``, ``ConfigNetLatentGAN``, ``confignet_dataset`` and
``embedding_dataset``.
"""

from tfface.methods.confignet import data
from tfface.methods.confignet import trainer
from tfface.methods.confignet.trainer import ConfigNetLatentGAN
from tfface.methods.confignet.trainer import ConfigNetStage1
from tfface.methods.confignet.trainer import ConfigNetStage2
