"""Frozen dataclasses and enums shared by every layer; no behaviour beyond derived values."""
