"""Lines the CLI prints for a run's failed checks: figure, limit and next step (from check metadata)."""

from __future__ import annotations

from typing import Any


def failed_check_lines(result: Any) -> list[str]:
    """One line per failed check of a Dagster run result; its `explanation` when the check gives one."""
    lines = []
    for e in result.get_asset_check_evaluations():
        if e.passed:
            continue
        explanation = e.metadata.get("explanation")
        text = getattr(explanation, "value", None) or getattr(explanation, "text", None)
        lines.append(f"{e.check_name} failed: {text}" if text else f"{e.check_name} failed (no explanation recorded)")
    return lines
