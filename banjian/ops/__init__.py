"""Operating an installation: start-up checks, the data dir's lock and permissions, supervision of
the embedded server and worker, backup and restore. Used by `banjian up`, `backup` and `restore`.

Every problem an operator must fix is a `StartupError` whose message is one line naming the cause
(the port, the path, the option that moves it): the CLI prints it and exits non-zero.
"""
from __future__ import annotations


class StartupError(Exception):
    """A start-up (or backup, restore) that cannot proceed; the message is one line for the operator."""


__all__ = ["StartupError"]
