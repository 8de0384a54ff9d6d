"""The original's `agents.tools.wrappers`: Gymnasium wrappers and `ExternalProcess`.

The wrappers live in `agents.envs.wrappers` and `ExternalProcess` in
`agents.envs.external_process`; this module names them where the original
did (`tools.wrappers.ExternalProcess(constructor)`).
"""

from agents.envs.external_process import ExternalProcess
from agents.envs.wrappers import (ActionRepeat, AutoReset, CacheSpaces, ClipAction,
                                  ConvertTo32Bit, FrameDelta, FrameHistory,
                                  LimitDuration, RandomStart, RangeNormalize,
                                  SelectObservation, StaggerStart)

__all__ = ['ActionRepeat', 'AutoReset', 'CacheSpaces', 'ClipAction', 'ConvertTo32Bit',
           'ExternalProcess', 'FrameDelta', 'FrameHistory', 'LimitDuration',
           'RandomStart', 'RangeNormalize', 'SelectObservation', 'StaggerStart']
