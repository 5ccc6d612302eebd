"""Facial-expression detector: datasets, training, evaluation and live detection.

The library is frames in, detections and annotated frames out; the CLI (`exprdet`),
the tools in `tools/` and the tests all call it.

Example:
    >>> from detector import Detections
    >>> Detections.empty().xyxy.shape
    (0, 4)
"""

from detector.core import Detections
from detector.errors import DatasetError, DetectorError, ModelError, SourceError

__all__ = ["Detections", "DatasetError", "DetectorError", "ModelError", "SourceError"]
__version__ = "0.1.0"
