"""Sub-commands of `exprdet`; see detector/cli.py.

Number options use the argparse types below, so a bad value is a usage error naming the option
(exit 2) instead of a traceback from the library later on.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _number_type(kind: type, accept: Callable[[float], bool], expected: str,
                 what: str) -> Callable[[str], int | float]:
    # nan fails every comparison in `accept`, so it is refused along with out-of-range values.
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_fraction = _number_type(float, lambda v: 0.0 <= v <= 1.0, "a number between 0 and 1", "a number between 0 and 1")
_positive_int = _number_type(int, lambda v: v >= 1, "at least 1", "a whole number")
_non_negative_int = _number_type(int, lambda v: v >= 0, "0 or more", "a whole number")
_positive_float = _number_type(float, lambda v: v > 0, "a number above 0", "a number")
_non_negative_float = _number_type(float, lambda v: v >= 0, "0 or more", "a number")
# Ultralytics rounds an input size to its stride (32); 32 px is the least a face crop allows.
_stride_size = _number_type(int, lambda v: v >= 32 and v % 32 == 0, "a multiple of 32", "a whole number")


def fraction(text: str) -> float:
    """Argparse type for thresholds that must lie in [0, 1] (confidence, IoU).

    Raises:
        argparse.ArgumentTypeError: not a number or outside [0, 1].

    Example:
        >>> fraction("0.5")
        0.5
    """
    return float(_fraction(text))


def positive_int(text: str) -> int:
    """Argparse type for counts and sizes that must be at least 1 (threads, batch, imgsz, frames).

    Example:
        >>> positive_int("16")
        16
    """
    return int(_positive_int(text))


def stride_size(text: str) -> int:
    """Argparse type for a model input size Ultralytics would not round: a multiple of 32, at least 32.

    Example:
        >>> stride_size("160")
        160
    """
    return int(_stride_size(text))


def non_negative_int(text: str) -> int:
    """Argparse type for counts where 0 means "off" (smoothing window, warm-up batches).

    Example:
        >>> non_negative_int("0")
        0
    """
    return int(_non_negative_int(text))


def positive_float(text: str) -> float:
    """Argparse type for durations and rates that must be above 0 (seconds, fps, minutes).

    Example:
        >>> positive_float("2.5")
        2.5
    """
    return float(_positive_float(text))


def non_negative_float(text: str) -> float:
    """Argparse type for offsets and thresholds where 0 is allowed (start time, dedupe level).

    Example:
        >>> non_negative_float("0")
        0.0
    """
    return float(_non_negative_float(text))
