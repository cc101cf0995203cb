"""Plumbing every stage uses: typed errors, atomic writes, progress logs, execution settings, devices,
the workflow scripts' entry point and the code fingerprint. Nothing here changes a result, so the code
fingerprint leaves this package out."""
