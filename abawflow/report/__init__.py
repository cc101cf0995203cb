"""Figures and tables of the run report (``snakemake --report``)."""
