"""Where a team deployment keeps things, checked before use: the call-store URL and the assets URL.

Both come from `Settings` (XPERTBENCH_CALL_STORE, XPERTBENCH_ASSETS_URL). Neither may carry a
secret: Dagster shows resource settings in its UI and records them with every run, so passwords
and keys come from the environment the libraries read themselves (PGPASSWORD or ~/.pgpass for
PostgreSQL; AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_* for object stores).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from upath import UPath

CALL_STORE_SCHEMES = ("sqlite", "postgresql", "postgres")
LOCAL_SCHEMES = ("", "file", "local")


def call_store_problem(url: str) -> str | None:
    """Why this call-store URL cannot be used, or None."""
    if "://" not in url:
        return "expected a URL: sqlite:///path/to/llm_calls.sqlite or postgresql://user@host:5432/db"
    scheme = url.split("://", 1)[0].lower().partition("+")[0]
    if scheme not in CALL_STORE_SCHEMES:
        return f"unsupported scheme {scheme!r} (use sqlite:/// or postgresql://)"
    if scheme != "sqlite" and urlsplit(url).password:
        return "the URL carries a password, which Dagster would show and record; put it in PGPASSWORD instead"
    return None


def assets_url_problem(url: str) -> str | None:
    """Why this assets URL cannot be used, or None (the filesystem library is checked, not reached)."""
    import fsspec

    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return None
    if parts.password or parts.username:
        return "the URL carries credentials; use the storage library's environment variables instead"
    try:
        fsspec.get_filesystem_class(parts.scheme)
    except (ValueError, ImportError) as e:
        return f"no filesystem for {parts.scheme!r}: {e}"
    return None


def read_parquet(path: Any) -> pd.DataFrame:
    """A parquet table from a local path or any fsspec URL/UPath (pandas wants a file object for UPaths)."""
    with UPath(path).open("rb") as fh:
        return pd.read_parquet(fh)
