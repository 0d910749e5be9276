"""Where the model and the personal store live when the user names none. Stdlib only, so
`--help` stays fast."""

import os
from pathlib import Path


def default_model_dir() -> Path:
    """`$NEXTWORD_MODEL`, else `$XDG_DATA_HOME/nextword/model` (XDG default ~/.local/share)."""
    explicit = os.environ.get("NEXTWORD_MODEL")
    if explicit:
        return Path(explicit).expanduser()
    return data_dir() / "model"


def default_user_db() -> Path | None:
    """`$NEXTWORD_USER_DB` (set but empty: no store, as `--user-db ''`), else
    `$XDG_DATA_HOME/nextword/user.db` (XDG default ~/.local/share)."""
    explicit = os.environ.get("NEXTWORD_USER_DB")
    if explicit is not None:
        return Path(explicit).expanduser() if explicit else None
    return data_dir() / "user.db"


def resolve_user_db(user_db: str | None) -> Path | None:
    """The store's path for `--user-db` (or a setting): the default for None, none for ''."""
    if user_db is None:
        return default_user_db()
    return Path(user_db).expanduser() if user_db else None


def data_dir() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(data_home).expanduser() / "nextword"
