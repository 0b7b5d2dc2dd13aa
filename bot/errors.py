"""Errors that carry a message for the user (an i18n key and its values)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input: answered with ``t(lang, key, **values)``, never logged as a failure."""

    def __init__(self, key: str, **values: object):
        super().__init__(key)
        self.key = key
        self.values = values
