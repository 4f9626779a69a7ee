"""days-to-sell: the reference training package of model-platform (see examples/days-to-sell/README.md)."""

from importlib import metadata

try:
    __version__ = metadata.version("days-to-sell")
except metadata.PackageNotFoundError:  # run from a source checkout (PYTHONPATH=src)
    __version__ = "0+source"
