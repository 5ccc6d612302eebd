"""Sub-commands of `exprdet`; see detector/cli.py."""

from __future__ import annotations

import argparse


def fraction(text: str) -> float:
    """Argparse type for thresholds that must lie in [0, 1] (confidence, IoU).

    Args:
        text: The command-line value.

    Returns:
        The value as a float.

    Raises:
        argparse.ArgumentTypeError: not a number or outside [0, 1]; argparse turns it into a
            usage error naming the option, instead of a traceback later in the library.

    Example:
        >>> fraction("0.5")
        0.5
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value:g}")
    return value
