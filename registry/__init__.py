"""The model registry's data: what each supported model is, accepts and needs (models.py), and
the types that hold it (spec.py). A leaf package: it imports framecast.protocol and nothing
else of ours, so the worker (which judges and loads models, framecast.components.registry)
and the frontend (which shows the catalogue) read the same records.
"""

from framecast.registry.models import REGISTRY
from framecast.registry.spec import ModelSpec

__all__ = ["REGISTRY", "ModelSpec"]
