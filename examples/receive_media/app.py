"""A small app that receives Twilio-style MMS/WhatsApp webhooks and downloads the media
the right way. It works unchanged against Twilio and against mediagate.

    TWILIO_ACCOUNT_SID=AC... TWILIO_AUTH_TOKEN=... \
        granian --interface asgi --port 5000 app:app   # then point the number's SmsUrl at /sms

Environment:

* ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``: the receiving account. The token
  validates ``X-Twilio-Signature`` and, unless an API key is given, authenticates
  media downloads.
* ``TWILIO_API_KEY``, ``TWILIO_API_SECRET`` (optional): download media with an API
  key instead of the auth token (signatures still use the auth token).
* ``WEBHOOK_BASE_URL`` (optional): the scheme and host the sender calls, when this app
  runs behind a proxy that changes them (the signature covers the URL as sent).
* ``MEDIA_DIR``: where files are saved (default ``./received``).

What "the right way" means, each point a bug seen in real integrations:

1. Reject requests whose signature does not validate (``RequestValidator``).
2. Answer the webhook quickly and download afterwards.
3. Send credentials only to the API URL (``MediaUrl{N}``), and do not follow its
   redirect automatically: the ``Location`` is a signed (or public) URL on another
   host, which must be fetched *without* credentials (S3 refuses a request that has
   both; a forwarded token would leak to the media host).
4. Retry a 404 on the API hop a few times after 1-3 s: a webhook can arrive before
   the media has propagated.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

REDIRECTS = (301, 302, 303, 307, 308)
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@dataclass
class Saved:
    message_sid: str
    index: int
    content_type: str
    size: int
    sha256: str
    path: str


class MediaDownloadError(Exception):
    pass


def download_media(
    url: str,
    auth: tuple[str, str],
    *,
    retries: int = 3,
    retry_delay: float = 1.5,
    timeout: float = 30.0,
) -> tuple[bytes, str]:
    """Fetch one ``MediaUrl{N}``: -> (bytes, content type)."""
    with requests.Session() as api:
        api.trust_env = False  # no ~/.netrc or proxy credentials sneaking in
        for attempt in range(retries + 1):
            first = api.get(url, auth=auth, allow_redirects=False, timeout=timeout)
            if first.status_code == 404 and attempt < retries:
                time.sleep(retry_delay)  # not propagated yet; Twilio says retry after 1-3 s
                continue
            break
    if first.status_code not in REDIRECTS:
        if first.status_code != 200:
            raise MediaDownloadError(f"{url}: HTTP {first.status_code}")
        return first.content, first.headers.get("Content-Type", "application/octet-stream")
    location = urljoin(url, first.headers["Location"])
    # The media host: a fresh session, no credentials. Further redirects (a CDN) are
    # followed, still without credentials.
    with requests.Session() as media:
        media.trust_env = False
        second = media.get(location, timeout=timeout)
    if second.status_code != 200:
        raise MediaDownloadError(f"{urlsplit(location).netloc}: HTTP {second.status_code}")
    return second.content, second.headers.get("Content-Type", "application/octet-stream")


class Receiver:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        media_dir: Path,
        *,
        download_auth: tuple[str, str] | None = None,
        base_url: str | None = None,
    ) -> None:
        self.validator = RequestValidator(auth_token)
        self.download_auth = download_auth or (account_sid, auth_token)
        self.media_dir = media_dir
        self.base_url = base_url.rstrip("/") if base_url else None
        self.saved: list[Saved] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def url_of(self, request: Request) -> str:
        """The URL the sender signed: as requested, or on WEBHOOK_BASE_URL."""
        url = str(request.url)
        if self.base_url:
            parts = urlsplit(url)
            url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return url

    async def sms(self, request: Request) -> Response:
        signature = request.headers.get("X-Twilio-Signature", "")
        if request.method == "POST":
            params = await request.form()
            valid = self.validator.validate(self.url_of(request), params, signature)
        else:  # GET: every parameter is in the (signed) query string
            params = request.query_params  # type: ignore[assignment]
            valid = self.validator.validate(self.url_of(request), {}, signature)
        if not valid:
            return Response("invalid signature", status_code=403)
        message_sid = str(params.get("MessageSid", ""))
        count = int(str(params.get("NumMedia", "0")) or 0)
        media = [
            (n, str(params.get(f"MediaUrl{n}", "")), str(params.get(f"MediaContentType{n}", "")))
            for n in range(count)
        ]
        return Response(
            TWIML_EMPTY,
            media_type="text/xml",
            background=BackgroundTask(self.download_all, message_sid, media),
        )

    def download_all(self, message_sid: str, media: list[tuple[int, str, str]]) -> None:
        for index, url, announced_type in media:
            try:
                content, content_type = download_media(url, self.download_auth)
            except (requests.RequestException, MediaDownloadError) as exc:
                with self._lock:
                    self.errors.append(f"{message_sid}/{index}: {exc}")
                continue
            content_type = content_type.split(";")[0].strip() or announced_type
            ext = mimetypes.guess_extension(content_type) or ".bin"
            folder = self.media_dir / message_sid
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{index}{ext}"
            path.write_bytes(content)
            with self._lock:
                self.saved.append(
                    Saved(
                        message_sid,
                        index,
                        content_type,
                        len(content),
                        hashlib.sha256(content).hexdigest(),
                        str(path),
                    )
                )

    async def received(self, request: Request) -> Response:
        with self._lock:
            return JSONResponse({"saved": [asdict(s) for s in self.saved], "errors": list(self.errors)})


def create_app(receiver: Receiver) -> Starlette:
    return Starlette(
        routes=[
            Route("/sms", receiver.sms, methods=["GET", "POST"]),
            Route("/received", receiver.received, methods=["GET"]),
        ]
    )


def _from_env() -> Starlette:
    key, secret = os.environ.get("TWILIO_API_KEY"), os.environ.get("TWILIO_API_SECRET")
    receiver = Receiver(
        os.environ["TWILIO_ACCOUNT_SID"],
        os.environ["TWILIO_AUTH_TOKEN"],
        Path(os.environ.get("MEDIA_DIR", "./received")),
        download_auth=(key, secret) if key and secret else None,
        base_url=os.environ.get("WEBHOOK_BASE_URL") or None,
    )
    return create_app(receiver)


app = _from_env() if "TWILIO_ACCOUNT_SID" in os.environ else None

if __name__ == "__main__":
    from granian.constants import Interfaces
    from granian.server import Server

    port = int(os.environ.get("PORT", "5000"))
    print(json.dumps({"listening": f"http://127.0.0.1:{port}/sms"}))
    # Any ASGI server runs this app; granian is the one mediagate itself runs on.
    Server("app:app", address="127.0.0.1", port=port, interface=Interfaces.ASGI,
           working_dir=Path(__file__).parent).serve()  # fmt: skip
