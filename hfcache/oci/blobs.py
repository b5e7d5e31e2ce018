"""One registry blob as a stream of exactly its descriptor's size, resumed where it broke off.

A weight file is gigabytes; a connection that drops after most of it should not start it over.
So a read that ends early reopens the blob with ``Range: bytes=N-`` and checks the answer: a
``206`` must say ``Content-Range: bytes N-(size-1)/size``; a ``200`` (a server that ignores
``Range``) is read again from the start with the ``N`` bytes already delivered skipped. At most
:data:`MAX_RESUMES` reopenings per blob, with a doubling pause. A server that says or sends a
different length than the descriptor is refused at once: the unpacker hashes what this stream
delivers, so the stream need only be exact in length and bounded in what it reads.
"""

from __future__ import annotations

import http.client
import io
import time
from typing import Any

from hfcache.errors import ArtifactError, RegistryError
from hfcache.oci.client import Opened, RegistryClient
from hfcache.oci.transport import ConnectionFailed, content_length, read_answer

MAX_RESUMES = 5
"""Times one blob's download may break off and be reopened before hfcache gives up."""
MAX_PAUSE = 4.0
_SKIP_CHUNK = 1 << 20


class BlobStream(io.RawIOBase):
    """The ``size`` bytes of the blob ``sha256:<digest>`` at ``target`` (``/v2/NAME/blobs/…``)
    of ``client``'s registry; the request is sent when the stream is made, so a blob the
    registry does not have fails there, before any byte is read."""

    def __init__(self, client: RegistryClient, target: str, label: str, digest: str, size: int) -> None:
        super().__init__()
        self.client, self.target, self.label = client, target, label
        self.digest, self.size = digest, size
        self.what = f"blob sha256:{digest[:12]}…"
        self.pos = 0
        self.resumes = 0
        self._opened: Opened | None = None
        self._open()

    def readable(self) -> bool:
        return True

    def _fail(self, why: str) -> ArtifactError:
        return ArtifactError(f"{self.label}: the {self.what} {why}; nothing was installed")

    def _open(self) -> None:
        """Request the blob from ``pos`` on and check the answer's head before reading from it."""
        headers = {"Range": f"bytes={self.pos}-"} if self.pos else {}
        opened = self.client.get(self.target, f"the {self.what}", headers)
        try:
            self._check(opened)
        except BaseException:
            opened.close()
            raise
        self._opened = opened
        if self.pos == self.size:
            self._check_end()

    def _check(self, opened: Opened) -> None:
        """The answer is this blob, from ``pos``, of the length its descriptor says."""
        resp, rest = opened.resp, self.size - self.pos
        said = resp.getheader("Docker-Content-Digest")
        if said is not None and said.strip() != f"sha256:{self.digest}":
            raise self._fail(f"is sent as {said.strip()[:80]!r}")
        if resp.status == 200:
            length = content_length(resp)
            if length is not None and length != self.size:
                raise self._fail(
                    f"is {length} bytes as the registry sends it, {self.size} as its descriptor says"
                )
            skipped = 0
            while skipped < self.pos:  # Range ignored: past what was delivered already
                chunk = resp.read(min(self.pos - skipped, _SKIP_CHUNK))
                if not chunk:
                    raise ConnectionFailed(f"{opened.url.netloc}: the {self.what} broke off again")
                skipped += len(chunk)
        elif resp.status == 206 and self.pos:
            expected = f"bytes {self.pos}-{self.size - 1}/"
            got = (resp.getheader("Content-Range") or "").strip()
            if not got.startswith(expected) or got[len(expected) :] not in (str(self.size), "*"):
                raise self._fail(f"was resumed with Content-Range {got[:60]!r}, not {expected}{self.size}")
            length = content_length(resp)
            if length is not None and length != rest:
                raise self._fail(f"was resumed with {length} bytes where {rest} were left")
        elif resp.status == 206:
            raise self._fail("came as a part (206) though the whole was asked for")
        elif resp.status == 416 and self.pos:
            raise self._fail(f"ends before byte {self.pos}, though its descriptor says {self.size} bytes")
        elif resp.status == 404:
            answer = read_answer(resp)
            raise self._fail(f"is not in the registry ({self.client.redact(answer.line())})")
        else:
            raise self.client.refusal(opened.url.netloc, read_answer(resp), f"the {self.what}")

    def readinto(self, buffer: Any) -> int:
        rest = self.size - self.pos
        if rest <= 0:
            return 0
        view = memoryview(buffer).cast("B")[: min(len(buffer), rest)]
        while True:
            if self._opened is None:
                self._open()
            assert self._opened is not None
            failure: BaseException | None = None
            try:
                n = self._opened.resp.readinto(view)
            except (OSError, http.client.HTTPException) as e:
                n, failure = 0, e
            if n:
                self.pos += n
                if self.pos == self.size:
                    self._check_end()
                return n
            self._broke_off(failure)

    def _broke_off(self, failure: BaseException | None) -> None:
        """The answer ended before ``size`` bytes: reopen it, within bounds. Without a stated
        length that is the server's doing (:class:`ArtifactError` in the end); with one, or with
        an error, the network's (:class:`RegistryError`)."""
        assert self._opened is not None
        declared = self._opened.resp.length is not None or failure is not None
        netloc = self._opened.url.netloc
        self._opened.close()
        self._opened = None
        while self.resumes < MAX_RESUMES:
            self.resumes += 1
            time.sleep(min(self.client.retry_delay / 2 * 2 ** (self.resumes - 1), MAX_PAUSE))
            try:
                self._open()
                return
            except ConnectionFailed:
                continue
        if not declared:
            raise self._fail(f"ended after {self.pos} of its {self.size} bytes, {self.resumes + 1} times")
        cause = f" ({type(failure).__name__})" if failure is not None else ""
        raise RegistryError(
            f"{netloc}: the download of the {self.what} broke off {self.resumes + 1} times, at {self.pos} "
            f"of {self.size} bytes{cause}"
        )

    def _check_end(self) -> None:
        """All ``size`` bytes arrived: an answer of unstated length must end here."""
        assert self._opened is not None
        resp = self._opened.resp
        if resp.length is None:
            try:
                extra = resp.read(1)
            except (OSError, http.client.HTTPException):
                extra = b""
            if extra:
                raise self._fail(f"goes on past the {self.size} bytes its descriptor says")
        self._opened.close()
        self._opened = None

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None
        super().close()
