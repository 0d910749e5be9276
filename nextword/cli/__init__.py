"""The `nextword` command line: the group (main.py) hands itself to each command family's
`register` (train.py, predict.py, inspect.py, store.py); nothing imports back into main.py.
Helpers: options.py (option types and checks), output.py (stdout, stdin and one-line
errors), status.py (exit statuses), loading.py (the predictor the commands share)."""

import time

STARTED = time.monotonic()  # the time budget of `train` counts from here, imports included
