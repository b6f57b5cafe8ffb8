"""Number ownership across the deployment: the operator's pool.

A phone number reaches one account. Before this, any account could claim
any E.164 number through the API, and another account's outbound message to
that number was then delivered (with its media) into the claimer's inbox by
the loopback carrier. Now a number belongs to the account it is *assigned*
to (``mediagate numbers assign``, an operator action, audited); an account
may claim an IncomingPhoneNumber only for its own assigned numbers, and
``numbers.owner_of`` (the loopback carrier, the ingress) only sees a number
whose claim matches its assignment. ``MEDIAGATE_NUMBER_POOL=open`` is the
development shape: a claim of an unassigned number assigns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mediagate.core.errors import BadRequest, NotFound
from mediagate.db.models import Account, AuditEvent, IncomingPhoneNumber, NumberAssignment
from mediagate.messaging.channels import normalize_number

if TYPE_CHECKING:
    from mediagate.runtime.context import Runtime

OPERATOR = "operator"


@dataclass(frozen=True)
class Assignment:
    phone_number: str
    account_sid: str
    actor: str
    date_created: datetime
    claimed: bool  # an IncomingPhoneNumber exists for it


def not_available(number: str) -> BadRequest:
    # Same answer whether the number is another account's or nobody's, so a
    # tenant cannot probe which numbers other tenants hold.
    return BadRequest(
        f"PhoneNumber {number} is not available to this account. "
        "Numbers are assigned by the operator (mediagate numbers assign).",
        code=21422,
    )


def reserve_for_claim(rt: Runtime, session: Session, number: str, account_sid: str, *, actor: str) -> None:
    """Inside the claim's transaction: allow it only for the account the number
    is assigned to (or, in the open pool, assign a free number to the claimer)."""
    row = session.get(NumberAssignment, number)
    if row is None and rt.settings.number_pool == "open":
        session.add(
            NumberAssignment(
                phone_number=number, account_sid=account_sid, actor=actor, date_created=rt.clock.now()
            )
        )
        return
    if row is None or row.account_sid != account_sid:
        raise not_available(number)


def assign(rt: Runtime, number: str, account_sid: str, *, actor: str = OPERATOR) -> Assignment:
    number = normalize_number(number)
    with rt.tx() as session:
        if session.get(Account, account_sid) is None:
            raise NotFound(f"/2010-04-01/Accounts/{account_sid}.json")
        row = session.get(NumberAssignment, number)
        if row is not None and row.account_sid != account_sid:
            raise BadRequest(
                f"{number} is assigned to {row.account_sid}; release it first (mediagate numbers release).",
                code=21422,
            )
        if row is None:
            row = NumberAssignment(
                phone_number=number, account_sid=account_sid, actor=actor, date_created=rt.clock.now()
            )
            session.add(row)
            session.add(
                AuditEvent(account_sid=account_sid, actor=actor, action="number.assign", target=number)
            )
        claimed = session.scalar(
            select(IncomingPhoneNumber.sid).where(IncomingPhoneNumber.phone_number == number)
        )
        return Assignment(row.phone_number, row.account_sid, row.actor, row.date_created, claimed is not None)


def release(rt: Runtime, number: str, *, actor: str = OPERATOR) -> Assignment:
    """Take the number back from its account: the assignment and the account's
    IncomingPhoneNumber for it go, so nothing more is delivered to that account."""
    number = normalize_number(number)
    with rt.tx() as session:
        row = session.get(NumberAssignment, number)
        if row is None:
            raise NotFound(f"number assignment {number}")
        claimed = session.scalar(
            select(IncomingPhoneNumber.sid).where(IncomingPhoneNumber.phone_number == number)
        )
        session.execute(delete(IncomingPhoneNumber).where(IncomingPhoneNumber.phone_number == number))
        session.delete(row)
        session.add(
            AuditEvent(account_sid=row.account_sid, actor=actor, action="number.release", target=number)
        )
        return Assignment(row.phone_number, row.account_sid, row.actor, row.date_created, claimed is not None)


def list_all(rt: Runtime, account_sid: str | None = None) -> list[Assignment]:
    stmt = (
        select(NumberAssignment, IncomingPhoneNumber.sid)
        .outerjoin(
            IncomingPhoneNumber,
            (IncomingPhoneNumber.phone_number == NumberAssignment.phone_number)
            & (IncomingPhoneNumber.account_sid == NumberAssignment.account_sid),
        )
        .order_by(NumberAssignment.phone_number)
    )
    if account_sid is not None:
        stmt = stmt.where(NumberAssignment.account_sid == account_sid)
    with rt.sessions() as session:
        return [
            Assignment(a.phone_number, a.account_sid, a.actor, a.date_created, claimed is not None)
            for a, claimed in session.execute(stmt)
        ]
