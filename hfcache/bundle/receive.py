"""Read a bundle stream member by member, checking each before acting on it, and stage its blobs.

Nothing here touches the target: blobs are written (or, with no staging folder, only hashed)
into a private staging folder, each verified against the manifest while it streams. Only a
bundle that is complete and correct to its last byte yields a :class:`Received`; anything else
raises :class:`BundleError`, and the caller throws the staging folder away.

From a bundle file the blobs go to :class:`DirectStager` (read once by workers, hashed in
memory, written in aligned chunks); from a stream, small blobs are hashed as they pass and big
ones by :class:`StagedVerifier`'s threads close behind their copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
from collections import ChainMap
from collections.abc import Callable
from typing import IO

from hfcache.bundle import manifestread
from hfcache.bundle.foldertables import FolderTable, FolderTables
from hfcache.bundle.manifest import Manifest
from hfcache.bundle.members import Kind, Member, classify, not_a_bundle
from hfcache.bundle.metaread import read_small, read_text
from hfcache.bundle.received import LinksRead, Received
from hfcache.bundle.shortfall import (
    CutShortError,
    cut_error,
    describe,
    each_member,
    incomplete,
    missing_members,
)
from hfcache.bundle.staged import Expected, StagedVerifier
from hfcache.bundle.stager import DirectStager
from hfcache.bundle.volread import range_copier, range_reader
from hfcache.errors import BundleError
from hfcache.fs.digests import DigestStore, identity_of, matches
from hfcache.fs.hashing import Algo, algo_for, hash_file
from hfcache.fs.streamcopy import BUFFER_SIZE, copy_hashed
from hfcache.fs.writeback import start_writeback
from hfcache.progress import NO_PROGRESS, Progress

STAGE_THEN_HASH_SIZE = 8 << 20  # from here a blob is hashed by a pool thread that follows its copy
_COPY_STEP = 16 << 20  # in-kernel copies go in steps: the hasher follows, writeback starts, progress moves
# Writeback is started a run of this many bytes at a time: asked for every 1 MiB written from a
# pipe, it made each write wait for the disk's queue (1.5 GB from stdin: 4.2 s, against 2.1 s).
_WRITEBACK_STEP = 64 << 20
DIRECT_STAGE = True  # blobs of a bundle file: staged by DirectStager's workers (else copied in the kernel)


def existing_ok(
    path: str | None, etag: str, sha256: str, size: int, store: DigestStore | None = None
) -> bool:
    """Does the target already hold exactly this blob? (Then it is verified, not rewritten.)

    ``store``: the digest record; a file it says hashed to ``etag``, unchanged since, is not
    read again, and a file hashed here is recorded."""
    if path is None:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if st.st_size != size:
        return False
    ident = identity_of(st)
    if store is not None and matches(store, path, ident, etag):
        return True
    algos = {Algo.SHA256, algo_for(etag)}
    result = hash_file(path, algos)
    ok = (
        result.error is None
        and result.digests.get(Algo.SHA256) == sha256
        and (result.digests.get(algo_for(etag)) == etag)
    )
    if ok and store is not None:
        store.put(path, ident, {a.value: d for a, d in result.digests.items()})
    return ok


class _Receiver:
    def __init__(
        self,
        tf: tarfile.TarFile,
        staging: str | None,
        existing: Callable[[str, str], str | None],
        progress: Progress,
        verifier: StagedVerifier,
        copy_range: Callable[[int, int, int], None] | None,
        stager: DirectStager | None,
    ) -> None:
        self.tf, self.staging, self.existing, self.progress = tf, staging, existing, progress
        self.verifier, self.copy_range, self.stager = verifier, copy_range, stager
        self.manifest_sha256 = ""  # later copies must match the first (older bundles carry one per repo)
        self.out: Received | None = None
        self.tables: FolderTables | None = None  # the manifest a repo folder at a time
        self.links = LinksRead()
        self._last: Member | None = None  # the member read last: where a cut is
        self._before = "its start"  # what was read last before any member
        self._made = ""  # the staging folder made last

    def describe(self, m: Member) -> str:
        if m.kind is Kind.BLOB and self.tables is not None:
            return self.tables[m.folder].files_of(m.key)
        return describe(self.out.manifest if self.out is not None else None, m)

    @property
    def last(self) -> str:
        """The member read last, as people know it (said only when something goes wrong)."""
        return self.describe(self._last) if self._last is not None else self._before

    def blob(self, ti: tarfile.TarInfo, m: Member, out: Received, table: FolderTable) -> None:
        key = (m.folder, m.key)
        entry = table.carried.get(m.key)  # a delta's expected blobs come from the target
        if entry is None:
            raise BundleError(f"bundle member {ti.name!r} is a blob the manifest does not list")
        if key in out.staged or key in out.present:
            raise BundleError(f"bundle member {ti.name!r} appears twice")
        if ti.size != entry.size:
            raise BundleError(f"{ti.name!r} holds {ti.size} bytes, the manifest says {entry.size}")
        src = self.tf.extractfile(ti)
        if src is None:
            raise BundleError(f"cannot read bundle member {ti.name!r}")
        there = self.existing(m.folder, m.key)
        keep = self.staging is not None and not existing_ok(there, m.key, entry.sha256, entry.size)
        dest = os.path.join(self.staging, *key) if keep and self.staging else None
        if algo_for(m.key) is Algo.SHA256 and m.key != entry.sha256:
            raise BundleError(f"bundle member {ti.name!r}: the manifest gives it another sha256")
        algos = {Algo.SHA256, algo_for(m.key)}
        what = self.describe(m)
        expected = Expected(what, dest or "", entry.size, {Algo.SHA256: entry.sha256, algo_for(m.key): m.key})
        try:
            if dest is None:
                expected.check(copy_hashed(src, None, entry.size, algos, progress=self.progress.advance))
            elif self.stager is not None:  # a bundle file: read, hashed and written by a worker
                self._folder_of(dest)
                self.stager.stage(expected, ti.offset_data)
            elif entry.size < STAGE_THEN_HASH_SIZE:
                with self._create(dest) as f:
                    digests = copy_hashed(src, f, entry.size, algos, progress=self.progress.advance)
                    f.flush()
                    start_writeback(f.fileno(), 0, 0)
                expected.check(digests)
                self.verifier.settled(expected)
            else:
                with self._create(dest, buffering=0) as f:
                    growing = self.verifier.follow(expected)
                    try:
                        self._copy(src, ti.offset_data, f, entry.size, growing.advance)
                    finally:
                        growing.close()
                self.verifier.settled(expected)
        except (EOFError, tarfile.ReadError):
            raise CutShortError(f"the bundle is cut short inside {what}") from None
        out.bytes_read += entry.size
        if dest is not None:
            out.staged[key] = ""  # its usual place in the staging folder
        else:
            out.present[key] = there or ""

    @staticmethod
    def _create(dest: str, buffering: int = -1) -> IO[bytes]:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        return open(dest, "xb", buffering=buffering)

    def _copy(
        self, src: IO[bytes], offset: int, dst: IO[bytes], size: int, written: Callable[[int], None]
    ) -> None:
        """The member's bytes into unbuffered ``dst`` (in the kernel from a bundle file, else by
        Python), calling ``written(n)`` as they land in the file and starting their writeback
        (so the one sync before installing finds little left to write)."""
        done = started = 0

        def landed(n: int) -> None:
            nonlocal done, started
            written(n)
            self.progress.advance(n)
            done += n
            if done - started >= _WRITEBACK_STEP:
                start_writeback(dst.fileno(), started, done - started)
                started = done

        if self.copy_range is None:
            copy_hashed(src, dst, size, (), progress=landed)
            return
        for start in range(0, size, _COPY_STEP):
            step = min(_COPY_STEP, size - start)
            self.copy_range(dst.fileno(), offset + start, step)
            landed(step)

    def _stage_tree(self, dest: str, listing: bytearray) -> None:
        """A tree listing into the staging folder. Not synced: the install's one sync before it
        renames anything makes it durable, or (without that sync) it is copied into place."""
        self._folder_of(dest)
        with open(dest, "xb") as f:
            f.write(listing)

    def _folder_of(self, dest: str) -> None:
        """The staging folder of ``dest`` made, once per run of members in it (a bundle holds a
        repo folder's members together; a set of every folder made would grow with the repos)."""
        folder = os.path.dirname(dest)
        if folder != self._made:
            os.makedirs(folder, exist_ok=True)
            self._made = folder

    def first(self, ti: tarfile.TarInfo) -> None:
        """The first member: the manifest, or this is not a bundle (perhaps a plain tar of a cache)."""
        try:
            kind = classify(ti).kind
        except BundleError as e:
            raise not_a_bundle(self.tf, ti, e) from None
        if kind is not Kind.MANIFEST:
            raise not_a_bundle(self.tf, ti)
        self._before = "its manifest"
        text, self.manifest_sha256 = read_text(self.tf, ti, self.last)
        # Spooled beside the staged blobs, on the target's disk (a temporary folder may be RAM);
        # elsewhere than POSIX an open file would keep the staging folder from being removed.
        spool = self.staging if os.name == "posix" else None
        self.out = Received(manifestread.parse_lazy(text, spool), self.staging)
        self.tables = FolderTables(self.out.manifest)

    def member(self, ti: tarfile.TarInfo) -> None:
        if self.out is None or self.tables is None:
            self.first(ti)
            return
        m = classify(ti)
        self._last = m
        out = self.out
        if m.kind is Kind.DIR:
            return
        table = self.tables[m.folder]
        revisions = table.entries
        if not revisions:
            raise BundleError(f"bundle member {ti.name!r} belongs to no repo of the manifest")
        if m.kind is Kind.MANIFEST:
            if hashlib.sha256(read_small(self.tf, ti, self.last)).hexdigest() != self.manifest_sha256:
                raise BundleError(f"bundle member {ti.name!r} disagrees with the first manifest")
        elif m.kind is Kind.BLOB:
            self.blob(ti, m, out, table)
        elif m.kind is Kind.TREE:
            if not any(r.commit == m.key and r.tree for r in revisions):
                raise BundleError(f"bundle member {ti.name!r} is a tree listing the manifest does not expect")
            if (m.folder, m.key) in out.trees:
                raise BundleError(f"bundle member {ti.name!r} appears twice")
            listing = read_small(self.tf, ti, self.last)
            out.trees[(m.folder, m.key)] = None  # staged: thousands of listings are not held
            if self.staging is not None:
                self._stage_tree(out.tree_file((m.folder, m.key)), listing)
        elif m.kind is Kind.REF:
            data = read_small(self.tf, ti, self.last).decode("ascii", "replace")
            commit = next((r.refs[m.key] for r in revisions if m.key in r.refs), None)
            if commit is None or commit != data:
                raise BundleError(f"bundle member {ti.name!r} disagrees with the manifest's refs")
            out.refs[(m.folder, m.key)] = commit
        elif m.kind is Kind.LINK:
            revision = (m.folder, m.commit or "")
            if not self.links.read(revision, m.path, m.key, table.revision(revision[1])):
                raise BundleError(
                    f"bundle member {ti.name!r} is a link the manifest does not list, or one read before"
                )


def _check_complete(out: Received, links: LinksRead) -> None:
    """Every member the manifest lists arrived; else name what is missing, files first."""
    arrived = ChainMap(out.staged, out.present)
    missing = missing_members(out.manifest, arrived, links, out.trees, out.refs)
    if missing:
        raise incomplete(missing)


def receive(
    stream: IO[bytes],
    *,
    staging: str | None,
    existing: Callable[[str, str], str | None] = lambda folder, etag: None,
    on_manifest: Callable[[Manifest], None] = lambda m: None,
    progress: Progress = NO_PROGRESS,
    sync_each: bool = True,
) -> Received:
    """Verify a whole bundle; stage its new blobs under ``staging`` (``None``: verify only).

    ``existing(folder, etag)`` names the target's current file for a blob, so a blob the target
    already holds, verified, is not written again. ``on_manifest`` runs once the manifest is
    read, before any blob: the place to check free space. ``sync_each``: fsync each staged file
    as it is written; else writeback only starts, and the installer syncs them all at once.
    """
    try:
        # Files and volumes are read in place ("r:"): tarfile's stream mode ("r|", for pipes)
        # copies every chunk two more times. Members are still taken strictly in order.
        if stream.seekable():
            tf = tarfile.open(fileobj=stream, mode="r:")  # noqa: SIM115 (closed below)
        else:
            tf = tarfile.open(fileobj=stream, mode="r|", bufsize=BUFFER_SIZE)  # noqa: SIM115
    except tarfile.TarError as e:
        raise BundleError(f"not a tar bundle ({e})") from None
    verifier = StagedVerifier(sync_each=sync_each)
    source = range_reader(stream) if DIRECT_STAGE else None
    stager = DirectStager(source, progress.advance, sync_each=sync_each) if source is not None else None
    receiver = _Receiver(tf, staging, existing, progress, verifier, range_copier(stream), stager)
    try:
        with verifier, stager or contextlib.nullcontext():
            for ti in each_member(tf):
                announced = receiver.out is not None
                receiver.member(ti)
                if not announced and receiver.out is not None:
                    on_manifest(receiver.out.manifest)
                    progress.start("unpack", receiver.out.manifest.total_bytes)
            if stager is not None:
                stager.finish()
            verifier.finish()
    except (tarfile.TarError, EOFError) as e:
        raise cut_error(e, receiver.last) from None
    finally:
        progress.finish()
        tf.close()
    if receiver.out is None:
        raise BundleError("not an hfcache bundle: it holds no manifest")
    _check_complete(receiver.out, receiver.links)
    return receiver.out
