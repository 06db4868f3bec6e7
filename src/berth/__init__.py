"""Berth: compute sessions in containers on your own servers."""

__version__ = "0.1.0"
