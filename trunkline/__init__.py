"""Trunkline: telephony card driver and media server.

The top-level folders of the source tree (dsp/, media/, drivers/, ...) are the
subpackages ``trunkline.dsp``, ``trunkline.media``, ... (see setup.py). In a
source checkout the tree's root is added to this package's path so the same
imports work when the checkout itself is on ``sys.path``.
"""
import os as _os

__version__ = "0.1.0"

_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.exists(_os.path.join(_root, "setup.py")) and _os.path.isdir(_os.path.join(_root, "dsp")):
    __path__.append(_root)  # noqa: F821 - package __path__
