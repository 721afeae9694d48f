"""Configuration: pydantic schema (schema.py) -> loader (YAML, env, secrets) -> frozen settings."""
