"""Query identity: a fingerprint of the normalized statement that survives native-id churn."""

from __future__ import annotations

import hashlib
import re

_COMMENTS = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
_STRINGS = re.compile(r"'(?:[^']|'')*'")
_PLACEHOLDERS = re.compile(r"\$\d+|\?|%s|@\w+|:\w+")
_NUMBERS = re.compile(r"\b\d+(?:\.\d+)?\b")
_IN_LISTS = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"\s*([=<>!,()+*/;-])\s*")


def normalize(text: str) -> str:
    """Lower-case, comment-free, literal-free statement text with single spaces; MySQL's
    identifier quotes are dropped (its digest texts quote every name, statements rarely)."""
    t = _COMMENTS.sub(" ", text).replace("`", "")
    t = _STRINGS.sub("?", t)
    t = _PLACEHOLDERS.sub("?", t)
    t = _NUMBERS.sub("?", t)
    t = _IN_LISTS.sub("(?)", t)
    t = _PUNCT.sub(r"\1", _SPACE.sub(" ", t)).strip().rstrip(";")
    return t.lower()


def fingerprint(text: str) -> str:
    """16 hex chars identifying the statement regardless of literals, whitespace and engine ids."""
    return hashlib.sha1(normalize(text).encode(), usedforsecurity=False).hexdigest()[:16]
