"""The `nextword` command line: the group (main.py) and its commands."""

from nextword.cli.main import cli, main

__all__ = ["cli", "main"]
