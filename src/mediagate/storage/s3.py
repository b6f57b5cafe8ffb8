"""Media objects in an S3 bucket (AWS, SeaweedFS, MinIO, ...), through boto3.

boto3 rather than aiobotocore: every storage call already runs in the
threadpool (the store interface is synchronous, like the local disk's), the
client is thread-safe and keeps a connection pool, and streaming a body is a
blocking ``read`` either way; an async client would only add a second event
loop bridge to the same work.

* ``put`` streams: objects below one part go up with a single PUT; larger ones
  as a multipart upload of ``part_size`` parts, so memory stays at one part
  whatever the object's size (a 100 MB WhatsApp document uses 8 MiB). The
  object becomes visible only when the upload completes, and a failure
  aborts it, so a half-written object never exists under its key. A crash
  cannot abort: what it leaves (an incomplete multipart upload, whose parts
  are billed until aborted) is found by ``clean_temp``.
* Provider errors are translated here (``NoSuchKey``/404 → ``ObjectNotFound``,
  anything else → ``StorageError``); nothing above this package sees botocore.
* Credentials come from the standard AWS chain (environment, shared config,
  instance or task role); only the endpoint is ours to configure.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from mediagate.core.crashpoints import crash_point
from mediagate.storage.base import Blob, InvalidKey, ObjectNotFound, StorageError, StoredObject, check_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 256 * 1024
PART_SIZE = 8 * 1024 * 1024  # S3's minimum part is 5 MiB (except the last)
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})


def _translate(exc: Exception, key: str) -> OSError:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            return ObjectNotFound(key)
        return StorageError(f"object store refused {key}: {code or 'error'}")
    return StorageError(f"object store unavailable for {key}: {type(exc).__name__}")


class S3Store:
    network = True

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        part_size: int = PART_SIZE,
        sse: bool = False,
        list_page_size: int = 1000,
        connect_timeout: float = 2.0,
        read_timeout: float = 2.0,
        attempts: int = 2,
    ) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ValueError("S3 parts must be at least 5 MiB")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size
        self.list_page_size = list_page_size  # S3's own maximum; smaller only to test paging
        # SSE-S3: the store encrypts what it writes to its disks with keys it
        # holds itself (docs/encryption.md says what that does not protect).
        self._put_extra: dict[str, Any] = {"ServerSideEncryption": "AES256"} if sse else {}
        session = boto3.session.Session()
        self.client: S3Client = session.client(
            "s3",
            endpoint_url=endpoint_url or None,
            # AWS_REGION (the newer SDKs' name, which botocore does not read),
            # then the chain (AWS_DEFAULT_REGION, profile); some region is
            # needed to sign, and SeaweedFS/MinIO accept any.
            region_name=os.environ.get("AWS_REGION") or session.region_name or "us-east-1",
            config=Config(
                signature_version="s3v4",
                # Custom endpoints rarely have wildcard DNS for bucket subdomains.
                s3={"addressing_style": "path" if endpoint_url else "auto"},
                # Every call has a deadline (MEDIAGATE_STORE_*): a store that stops
                # answering without closing its connections (a frozen process, a
                # black-holed route) fails a call after at most attempts x
                # max(connect, read) plus one backoff of at most 1 s, instead of
                # holding the request and its thread for the whole outage. The
                # read timeout is per socket read, so a body that stalls midway
                # fails the same way. Standard mode retries connection errors,
                # timeouts and 5xx; ``total_max_attempts`` counts the first try.
                retries={"mode": "standard", "total_max_attempts": attempts},
                max_pool_connections=64,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            ),
        )

    def _name(self, key: str) -> str:
        key = check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        name = self._name(key)
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                if len(buffer) >= self.part_size:
                    if upload_id is None:
                        upload_id = self.client.create_multipart_upload(
                            Bucket=self.bucket, Key=name, **self._put_extra
                        )["UploadId"]
                    self._upload_part(name, upload_id, parts, bytes(buffer))
                    buffer.clear()
                    if len(parts) == 1:
                        crash_point("mid-fetch")
            if upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=name, Body=bytes(buffer), **self._put_extra)
            else:
                if buffer:
                    self._upload_part(name, upload_id, parts, bytes(buffer))
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
        except BaseException as exc:
            if upload_id is not None:
                self._abort(name, upload_id)
            if isinstance(exc, ClientError | BotoCoreError):
                raise _translate(exc, key) from None
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def _upload_part(self, name: str, upload_id: str, parts: list[dict[str, Any]], body: bytes) -> None:
        number = len(parts) + 1
        answer = self.client.upload_part(
            Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def _abort(self, name: str, upload_id: str) -> None:
        # If this fails too, a bucket lifecycle rule (AbortIncompleteMultipartUpload) is the backstop.
        with contextlib.suppress(ClientError, BotoCoreError):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)

    def open(self, key: str) -> Blob:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, key) from None
        return Blob(
            key=key,
            size=int(head["ContentLength"]),
            etag=str(head.get("ETag", "")).strip('"'),
            reader=lambda start, end: self.stream(key, start, end),
        )

    def stat(self, key: str) -> int:
        return self.open(key).size

    def stream(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        name = self._name(key)
        if end is not None and end < start:
            return
        extra: dict[str, str] = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=name, **extra)  # type: ignore[arg-type]
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) == "InvalidRange":
                return  # start at or past the end: nothing to read
            raise _translate(exc, key) from None
        except BotoCoreError as exc:
            raise _translate(exc, key) from None
        body = answer["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, key) from None
        finally:
            body.close()

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except (ClientError, BotoCoreError) as exc:
            translated = _translate(exc, key)
            if not isinstance(translated, ObjectNotFound):
                raise translated from None

    def iter_keys(self) -> Iterator[tuple[str, float]]:
        start = f"{self.prefix}/" if self.prefix else ""
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start
            ):
                for item in page.get("Contents", []):
                    try:
                        key = check_key(item["Key"][len(start) :])
                    except InvalidKey:
                        continue  # not ours (another tenant of the bucket or prefix)
                    yield key, item["LastModified"].timestamp()
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, start or self.bucket) from None

    def clean_temp(self, cutoff: float) -> int:
        """Abort the multipart uploads of media keys under this store's prefix
        that were initiated before ``cutoff`` (epoch seconds); return how many.

        These are what a crash mid-``put`` leaves (a kill -9 runs no ``except``
        to abort them): parts invisible to ``iter_keys`` and billed until
        aborted. An upload is in flight for at most the longest ingest, and
        the caller's grace (``MEDIAGATE_GC_GRACE``) is longer than that, so
        one initiated before ``cutoff`` belongs to no live ``put``, of this
        process or of any other sharing the bucket: aborting it breaks
        nothing. ``Initiated`` is the store's clock and ``cutoff`` ours; the
        grace dwarfs any sane skew between the two."""
        start = f"{self.prefix}/" if self.prefix else ""
        aborted = 0
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=start, PaginationConfig={"PageSize": self.list_page_size}
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    name, upload_id = upload["Key"], upload["UploadId"]
                    try:
                        check_key(name[len(start) :])
                    except InvalidKey:
                        continue  # not ours (another tenant of the bucket or prefix)
                    if upload["Initiated"].timestamp() >= cutoff:
                        continue  # maybe a put in flight
                    try:
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
                    except ClientError as exc:
                        if str(exc.response.get("Error", {}).get("Code", "")) == "NoSuchUpload":
                            continue  # completed or aborted by another process meanwhile
                        raise
                    aborted += 1
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, start or self.bucket) from None
        return aborted

    def file_name(self, key: str) -> None:
        return None

    def local_path(self, key: str) -> None:
        return None

    def presigned_url(
        self, key: str, ttl: int, *, content_type: str, disposition: str, method: str = "GET"
    ) -> str:
        # SigV4 query signing covers the method and the response-* overrides, so
        # the holder of the URL can change neither the type nor the disposition
        # S3 answers with.
        url: str = self.client.generate_presigned_url(
            "head_object" if method == "HEAD" else "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._name(key),
                "ResponseContentType": content_type,
                "ResponseContentDisposition": disposition,
            },
            ExpiresIn=ttl,
        )
        return url
