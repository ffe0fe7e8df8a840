"""Exceptions that carry an operator-readable message (the CLI prints them as one line)."""


class SendoptError(Exception):
    """Base class: the message alone must say what failed and where to look."""


class ConfigError(SendoptError):
    """Bad configuration: names the file, the key path and what was expected."""


class LakeError(SendoptError):
    """A table could not be read or written."""


class TableNotFoundError(LakeError):
    """The table has never been written (or its path holds no Delta log)."""


class SchemaMismatchError(LakeError):
    """A DataFrame or a stored table does not match the catalog's schema."""


class CommitConflictError(LakeError):
    """Another writer committed a conflicting change first."""


class UnsupportedTableError(LakeError):
    """A table uses Delta features this backend cannot read correctly."""


class TruthAccessError(SendoptError):
    """Production code tried to read a ground-truth table."""
