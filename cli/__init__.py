"""The `framecast` command: videos and images from a terminal, with live progress.

It speaks to a framecast frontend over HTTP only (no import of the frontend or the worker).
"""
