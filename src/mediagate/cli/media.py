"""``mediagate media``: explicit, audited operations on stored media."""

from __future__ import annotations

from typing import Annotated

import typer

from mediagate.cli.common import AccountSid, checked_account_sid, err, fail, open_runtime, out
from mediagate.core import sids

media_app = typer.Typer(
    no_args_is_help=True, help="Explicit operations on stored media.", rich_markup_mode=None
)


@media_app.command("secure-legacy", short_help="Require HTTP auth for an account's legacy public media.")
def media_secure_legacy(
    account_sid: AccountSid,
    batch: Annotated[int, typer.Option(help="Media per committed batch.")] = 500,
) -> None:
    """Require HTTP auth for ACCOUNT_SID's legacy public media (resumable: just run it again)."""
    from rich.progress import Progress as Bar

    from mediagate.media import maintenance

    rt = open_runtime()
    checked_account_sid(account_sid)
    total = maintenance.legacy_count(rt, account_sid)
    if total == 0:
        out.print("no legacy public media")
        return
    with Bar(console=err) as bar:
        task = bar.add_task("securing legacy media", total=total)
        for step in maintenance.secure_legacy(rt, account_sid, actor="cli", batch=batch):
            bar.update(task, completed=step.done, total=step.total)
    out.print(f"{total} media now require HTTP auth")


@media_app.command("revoke", short_help="Void the outstanding signed URLs of one media or of an account.")
def media_revoke(
    account_sid: AccountSid,
    media: Annotated[str | None, typer.Option("--media", help="Only this media (ME...).")] = None,
) -> None:
    """Void every signed URL issued until now for one media (--media) or every media of ACCOUNT_SID.
    Running servers refuse them within a few seconds; fresh URLs work (media/revocation.py)."""
    from mediagate.media import revocation

    rt = open_runtime()
    checked_account_sid(account_sid)
    if media is not None and not sids.is_sid(media, sids.MEDIA):
        fail(f"{media!r} is not a Media SID (ME + 32 hex digits)")
    if media is None:
        done = revocation.revoke_account(rt, account_sid, actor="cli")
    else:
        done = revocation.revoke_media(rt, account_sid, media, actor="cli")
    what = f"media {done.media_sid}" if done.media_sid else f"every media of {account_sid}"
    moved = f"; {done.objects_moved} objects moved to new keys" if done.objects_moved else ""
    out.print(f"revoked the signed URLs of {what}{moved}")


@media_app.command("gc")
def media_gc(grace: Annotated[float, typer.Option(help="Seconds an orphan must be old.")] = 3600) -> None:
    """Delete objects no media row refers to, and interrupted writes (temp files, S3 multipart uploads)."""
    from mediagate.media import maintenance

    removed = maintenance.collect_garbage(open_runtime(), grace_seconds=grace)
    out.print(f"removed {removed} orphaned objects and interrupted writes")
