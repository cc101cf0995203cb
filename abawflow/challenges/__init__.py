"""The ABAW challenges, registered by name, and their submission files."""
