"""Helpers the tests share: running the workflow, and the FER fixture."""
