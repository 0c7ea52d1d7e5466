"""Content hashing of tables: the data versions that stop unchanged rows from re-running LLM stages."""

from __future__ import annotations

import hashlib
import json

import pandas as pd


def frame_hash(df: pd.DataFrame) -> str:
    """Order-sensitive hash of column names, dtypes-independent values and row order."""
    h = hashlib.sha256(json.dumps([str(c) for c in df.columns]).encode())
    if len(df):
        # JSON of records is stable across pandas versions and dtype backends (unlike pickles).
        h.update(df.to_json(orient="values", date_format="iso", default_handler=str).encode())
    return h.hexdigest()


def stable_json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
