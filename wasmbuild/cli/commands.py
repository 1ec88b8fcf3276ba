"""Importing this module registers every command on :data:`wasmbuild.cli.app.app`."""

from . import build, images, maintain, setup, trust

__all__ = ["build", "images", "maintain", "setup", "trust"]
