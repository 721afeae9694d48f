"""Collectors: one per engine, read-only, turning engine statistics into interval samples."""
