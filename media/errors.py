"""The one error of the media helpers."""

from __future__ import annotations


class MediaRefused(Exception):
    """The bytes or the reference are not media this server takes; the message says why (the
    caller names the request field)."""
