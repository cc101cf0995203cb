"""The config plan: the schema (config.schema.yaml, with defaults and descriptions) and the compiled plan
that answers the workflow's rules."""
