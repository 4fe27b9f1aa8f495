"""Training: the main job (``keras-convnets train``) and what it is built from."""

from .job import train

__all__ = ["train"]
