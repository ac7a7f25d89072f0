"""Errors meant for the user: the CLI prints their message (no traceback) and exits with 2."""


class ClusterHPCError(Exception):
    """Bad input the user can fix; the message names the file, key or row and what is expected."""


class DataError(ClusterHPCError, ValueError):
    """An input file (catalogue, image, shard) that cannot be used as it is."""
