"""Errors a user can act on: each renders as one line, never a traceback, never a secret."""


class TicklakeError(Exception):
    """Base class: the message is the whole one-line explanation."""


class InvalidInput(TicklakeError):
    """A symbol, date, range or tick that breaks the documented rules."""


class NoTickFiles(TicklakeError):
    """A symbol/day with no raw parts in the lake."""


class LakeError(TicklakeError):
    """The lake is unreachable, refuses our credentials, or holds an unreadable object."""


class DatabaseError(TicklakeError):
    """PostgreSQL/TimescaleDB is unreachable or refused a statement."""
