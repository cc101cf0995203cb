"""Torch modules of abawflow, registered by name and built from config by factories.

- ``models.registry``: the name -> constructor registries.
- ``models.backbones``: frame-level backbones (timm) and checkpoint loading.
- ``models.temporal``: feature fusion, temporal encoders and the temporal model.
- ``models.losses``: task losses.
"""
