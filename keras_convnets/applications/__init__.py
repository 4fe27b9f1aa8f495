"""Shared builder plumbing used by every model family."""

from .builder import BuildContext, Head, build_model, inference_model

__all__ = ["BuildContext", "Head", "build_model", "inference_model"]
