"""S3-compatible blob store for the scaled-out shape (aioboto3; tested on SeaweedFS).

Streamed puts become multipart uploads of ``PART_SIZE`` parts, so a long video is
never held in memory whole; a failed upload is aborted so no orphan parts remain. A put
of bytes in hand (a photo's sizes, a poster frame) is signed here (``sigv4``) and sent
with aiohttp when the store's keys are given: through botocore's client such a put cost
about 2.5 ms of CPU, sent this way about 0.5 ms.
The bucket is created on first use when it does not exist. Every key is checked
(``keys.check_key``) before the store is asked: SeaweedFS reads ``a//b`` and ``a\\b``
as ``a/b``, and answers 400 to ``.`` segments and NUL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aioboto3
import aiohttp
from botocore.config import Config
from botocore.exceptions import ClientError

from lumigram.infra.blobstore import BlobInfo, BlobNotFound, check_key
from lumigram.infra.blobstore.sigv4 import S3Signer

#: S3's minimum part size is 5 MiB (except the last part).
PART_SIZE = 8 * 1024 * 1024
STREAM_CHUNK = 64 * 1024
#: Tries of a signed put, as botocore's ``max_attempts`` below: a put of the same bytes
#: to the same key may be repeated, and a kept-alive connection the store has just
#: closed, a 5xx or a 429 deserve another go.
PUT_ATTEMPTS = 3
_ERROR_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")
_ERROR_MESSAGE = re.compile(rb"<Message>([^<]{0,500})</Message>")
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
#: Answers about the request itself (a key the store will not parse, a path too long)
#: rather than about us or the store's state: for a read, the key names no blob.
_NOT_A_BLOB_STATUSES = {400, 404, 410, 414}
#: Refusals of our credentials or signature; a store may send these as a bare 400 too.
_REFUSED_CODES = {
    "AccessDenied", "AuthorizationHeaderMalformed", "ExpiredToken", "InvalidAccessKeyId", "InvalidToken",
    "SignatureDoesNotMatch",
}  # fmt: skip


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _missing(error: ClientError) -> bool:
    return _error_code(error) in _MISSING


def means_not_found(error: ClientError) -> bool:
    """Whether the store's answer to reading one key means "no such blob".

    Besides its 404s, a 4xx that is about the request (SeaweedFS answers 400 to a key
    with a ``.`` segment or NUL) says nothing is stored there, so a request for it is a
    plain 404, not a server error. A refusal of our credentials (401, 403, or a 400
    naming them) is not: a misconfigured store must show as failing, not as empty, and a
    worker must not give up on an upload because its original seemed to be gone.
    """
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if _error_code(error) in _REFUSED_CODES:
        return False
    return _missing(error) or status in _NOT_A_BLOB_STATUSES


def _store_error(status: int, body: bytes, operation: str) -> ClientError:
    """The store's XML error answer as botocore's exception."""
    code = _ERROR_CODE.search(body)
    message = _ERROR_MESSAGE.search(body)
    error = {
        "Code": code.group(1).decode(errors="replace") if code else str(status),
        "Message": message.group(1).decode(errors="replace") if message else "",
    }
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        endpoint: str | None,
        region: str,
        access_key: str | None,
        secret_key: str | None,
    ) -> None:
        self.bucket = bucket
        self._endpoint = endpoint
        self._region = region
        self._session = aioboto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        #: Static keys sign puts here; without them botocore's chain (environment, role)
        #: finds the credentials, and every call goes through its client.
        self._signer = S3Signer(access_key, secret_key, region) if access_key and secret_key else None
        self._http: aiohttp.ClientSession | None = None
        #: The scheme and host of the client's endpoint, and any path before the bucket.
        self._origin = ""
        self._host = ""
        self._base_path = ""
        self._bucket_ready = False
        self._lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        return cls(
            bucket=parts.netloc,
            endpoint=query.get("endpoint"),
            region=query.get("region", "us-east-1"),
            access_key=query.get("access_key") or os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_key=query.get("secret_key") or os.environ.get("AWS_SECRET_ACCESS_KEY"),
        )

    async def _s3(self) -> Any:
        if self._client is not None and self._bucket_ready:
            return self._client
        async with self._lock:
            if self._client is None:
                # Building a client reads botocore's endpoint and service files (megabytes
                # of JSON) and imports boto3's extensions, all synchronously: on the serving
                # loop that stalled every request for about a second at the first blob
                # call. One throwaway client built in a thread fills the session's caches
                # first; the loop's own build then takes a few milliseconds.
                with contextlib.suppress(Exception):  # the real build below says what is wrong
                    await asyncio.to_thread(asyncio.run, self._build_and_close())
                stack = AsyncExitStack()
                self._client = await stack.enter_async_context(self._new_client())
                self._stack = stack
                endpoint = urlsplit(str(self._client.meta.endpoint_url))
                self._origin = f"{endpoint.scheme}://{endpoint.netloc}"
                self._host = endpoint.netloc
                self._base_path = endpoint.path.rstrip("/")
            if self._signer is not None and self._http is None:
                timeout = aiohttp.ClientTimeout(sock_connect=5, sock_read=60)
                self._http = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)
            if not self._bucket_ready:
                try:
                    await self._client.head_bucket(Bucket=self.bucket)
                except ClientError as error:
                    if not _missing(error):
                        raise
                    with contextlib.suppress(self._client.exceptions.BucketAlreadyOwnedByYou):
                        await self._client.create_bucket(Bucket=self.bucket)
                self._bucket_ready = True
            return self._client

    def _new_client(self) -> Any:
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3},
            # botocore waits 60 s to connect by default, and retries: a readiness check would hang.
            connect_timeout=5,
            read_timeout=60,
        )
        return self._session.client("s3", endpoint_url=self._endpoint, config=config)

    async def _build_and_close(self) -> None:
        async with self._new_client():
            pass

    async def put(self, key: str, data: bytes | AsyncIterable[bytes], content_type: str) -> BlobInfo:
        check_key(key)
        s3 = await self._s3()
        if isinstance(data, bytes | bytearray | memoryview):
            body = bytes(data)
            if self._signer is not None:
                etag = await self._signed_put(self._signer, key, body, content_type)
            else:
                response = await s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
                etag = str(response["ETag"])
            return BlobInfo(key, len(body), content_type, etag.strip('"'))
        return await self._put_stream(s3, key, data, content_type)

    async def _signed_put(self, signer: S3Signer, key: str, body: bytes, content_type: str) -> str:
        """PutObject, signed here and sent with aiohttp; the stored blob's ETag.

        A refusal raises the ``ClientError`` botocore would have raised, with the store's
        error code, so callers see one kind of failure whichever way a blob went.
        """
        assert self._http is not None
        path = f"{self._base_path}/{self.bucket}/{key}"
        url = f"{self._origin}{path}"
        failure: Exception | None = None
        for attempt in range(PUT_ATTEMPTS):
            if attempt:
                await asyncio.sleep(0.05 * 2**attempt)
            # Signed again each time: the signature carries the time.
            headers = signer.sign("PUT", self._host, path, body, {"Content-Type": content_type})
            try:
                async with self._http.put(url, data=body, headers=headers) as response:
                    answer = await response.read()
                    if response.status < 300:
                        return str(response.headers.get("ETag", ""))
                    failure = _store_error(response.status, answer, "PutObject")
                    if response.status < 500 and response.status != 429:
                        raise failure
            except (aiohttp.ClientError, TimeoutError) as error:
                failure = error
        assert failure is not None
        raise failure

    async def put_many(self, blobs: Sequence[tuple[str, bytes, str]]) -> list[BlobInfo]:
        for key, _data, _type in blobs:
            check_key(key)  # all of them before any request
        return list(await asyncio.gather(*(self.put(key, data, content_type) for key, data, content_type in blobs)))

    async def _put_stream(self, s3: Any, key: str, data: AsyncIterable[bytes], content_type: str) -> BlobInfo:
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []

        async def upload(part: bytes) -> None:
            assert upload_id is not None
            number = len(parts) + 1
            uploaded = await s3.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
            )
            parts.append({"ETag": uploaded["ETag"], "PartNumber": number})

        try:
            async for chunk in data:
                buffer.extend(chunk)
                size += len(chunk)
                while len(buffer) >= PART_SIZE:
                    if upload_id is None:
                        created = await s3.create_multipart_upload(
                            Bucket=self.bucket, Key=key, ContentType=content_type
                        )
                        upload_id = str(created["UploadId"])
                    part = bytes(buffer[:PART_SIZE])
                    del buffer[:PART_SIZE]
                    await upload(part)
            if upload_id is None:
                # Small enough for one request.
                return await self.put(key, bytes(buffer), content_type)
            if buffer:
                await upload(bytes(buffer))
            done = await s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            if upload_id is not None:
                # Parts of an unfinished upload are stored (and billed) until aborted.
                with contextlib.suppress(Exception):
                    await s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        return BlobInfo(key, size, content_type, str(done["ETag"]).strip('"'))

    async def get(self, key: str) -> bytes:
        check_key(key)
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if means_not_found(error):
                raise BlobNotFound(key) from None
            raise
        async with response["Body"] as body:
            data: bytes = await body.read()
        return data

    async def stream(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        check_key(key)
        s3 = await self._s3()
        extra: dict[str, str] = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=key, **extra)
        except ClientError as error:
            if _error_code(error) == "InvalidRange":
                # The blob exists but the range starts past its end: nothing to send, as from a file.
                return
            if means_not_found(error):
                raise BlobNotFound(key) from None
            raise
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(STREAM_CHUNK):
                yield chunk
        finally:
            body.close()

    async def stat(self, key: str) -> BlobInfo | None:
        check_key(key)
        s3 = await self._s3()
        try:
            head = await s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if means_not_found(error):
                return None
            raise
        return BlobInfo(
            key,
            int(head["ContentLength"]),
            str(head.get("ContentType", "application/octet-stream")),
            str(head["ETag"]).strip('"'),
        )

    async def delete(self, key: str) -> None:
        check_key(key)
        s3 = await self._s3()
        try:
            await s3.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if not means_not_found(error):
                raise

    async def presigned_url(self, key: str, expires_in: int) -> str | None:
        check_key(key)
        s3 = await self._s3()
        url: str = await s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url

    async def ping(self) -> None:
        s3 = await self._s3()
        await s3.head_bucket(Bucket=self.bucket)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = None
        self._client = None
        self._bucket_ready = False
