"""The datasets stage one reads: their registry, the readers of each layout, and the demo generators."""
