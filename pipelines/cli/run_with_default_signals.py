"""Exec a command with default SIGINT/SIGTERM/SIGQUIT handling.

Processes started in the background from a non-interactive shell inherit these signals as ignored,
which makes `dagster dev` unstoppable by Ctrl-C or `kill` (dagster-notes.md §10).
"""

import os
import signal
import sys

if __name__ == "__main__":
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(s, signal.SIG_DFL)
    os.execvp(sys.argv[1], sys.argv[1:])
