"""Shared builder plumbing used by every model family."""

from .builder import BuildContext, build_model

__all__ = ["BuildContext", "build_model"]
