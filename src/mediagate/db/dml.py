"""Conditional writes whose outcome is decided by the database."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session


def rowcount(session: Session, stmt: Executable) -> int:
    """Execute an UPDATE/DELETE and return how many rows it changed.

    "Read, check, write" answers twice under concurrency; a statement whose
    WHERE clause is the check, judged by its row count, answers once."""
    result = cast(CursorResult[Any], session.execute(stmt))
    return int(result.rowcount)
