"""A conversation server for business messaging: platform callbacks in, flow steps, replies out."""

__version__ = "0.1.0"
