"""Shared builder plumbing used by every model family."""

from .builder import BuildContext, Head, aux_loss_weights, build_model, inference_model

__all__ = ["BuildContext", "Head", "aux_loss_weights", "build_model", "inference_model"]
