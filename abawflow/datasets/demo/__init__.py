"""Embedded demo datasets, generated in each dataset's exact layout with labels rendered into the faces."""
