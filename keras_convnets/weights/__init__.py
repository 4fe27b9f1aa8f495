"""Weights: ported from the PyTorch reference implementations, kept in the local Keras cache.

``kc.weights.port(name, source=...)`` (and ``keras-convnets port``) needs the ``port`` extra
(torch, timm); loading a ported set with ``weights="imagenet"`` needs only this package.
"""

from .store import cache_dir, resolve


def default_source(model_name):
    """The reference a model's weights port from by default, or None."""
    from .porting import family_sources

    entry = family_sources().get(model_name)
    return entry.source if entry else None


def port(model_name, source=None, **kwargs):
    from .porting import port as _port

    return _port(model_name, source, **kwargs)


__all__ = ["cache_dir", "default_source", "port", "resolve"]
