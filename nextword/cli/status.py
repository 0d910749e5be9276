"""Exit statuses, in one place (httpie's ExitStatus)."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    SUCCESS = 0
    ERROR = 1         # one `Error:` line: a problem the user can fix; or an answer not delivered
    USAGE = 2         # a mistake on the command line (Click's own status for it)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    TERMINATED = 143   # SIGTERM (128 + SIGTERM); SIGHUP exits 129 (errors.Terminated)
