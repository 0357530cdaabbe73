"""Import every mediator module, so that each registers its builder."""

from . import control, logmediator, mediators, transform  # noqa: F401

__all__ = ["control", "logmediator", "mediators", "transform"]
