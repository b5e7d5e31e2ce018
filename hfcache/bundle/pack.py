"""``pack``: write repos of a local cache as one portable tar bundle, verified while streaming.

The bundle is a cache fragment: members are paths relative to the hub cache folder, so a plain
``tar -xf bundle.tar -C ~/.cache/huggingface/hub`` gives a cache huggingface_hub reads. The
manifest comes first (once); then each repo folder's section is each blob once, the tree
listing, refs, and snapshot links last (:mod:`hfcache.bundle.packorder`). Every byte is
hashed as it is written; a blob that does not hash to its name aborts the pack and no file
that looks like a bundle is left behind.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass, field, replace

from hfcache import __version__, layout
from hfcache.bundle.manifest import DELTA_FORMAT, FORMAT, Manifest, RepoEntry
from hfcache.bundle.packdirect import Redo, write_direct
from hfcache.bundle.packed import PackResult
from hfcache.bundle.packhash import (
    all_corrupt,
    deferrable,
    deferred_entries,
    manifest_entries,
    prehash,
)
from hfcache.bundle.packorder import Pieces, bundle_members
from hfcache.bundle.picked import Section
from hfcache.bundle.present import Present, load_present
from hfcache.bundle.refusal import by_file, picked_uses, refusal, written_uses
from hfcache.bundle.select import RepoPick, select
from hfcache.bundle.tarwriter import TarWriter
from hfcache.bundle.volumes import VolumeWriter, checksum_name
from hfcache.errors import BadInputError
from hfcache.findings import Finding
from hfcache.fs.mounts import FAT32_MAX_FILE, is_fat
from hfcache.progress import NO_PROGRESS, Progress
from hfcache.repoid import RepoRef, check_revision, parse_repo_ref
from hfcache.units import parse_size


def _without_broken(p: RepoPick) -> RepoPick:
    """With ``--allow-incomplete``: the files whose bytes are known bad are left out (the manifest
    records why); a missing file was never picked."""
    broken = {f.path for f in p.problems} | {a for f in p.problems for a in f.about}
    keep = tuple(
        f
        for f in p.files
        if f.path not in broken
        and os.path.join(p.repo.path, layout.SNAPSHOTS, p.commit, *f.name.split("/")) not in broken
    )
    return replace(p, files=keep)


def _one_owner_per_ref(picks: list[RepoPick]) -> None:
    """Several revisions of one repo share its refs/: each ref goes with the revision it names."""
    by_folder: dict[str, list[RepoPick]] = {}
    for p in picks:
        by_folder.setdefault(p.repo.folder, []).append(p)
    for group in by_folder.values():
        names = [name for p in group for name in p.refs]
        if len(names) != len(set(names)):  # cannot happen (a ref names one commit), but never ship two
            raise BadInputError(f"{group[0].repo.repo_id}: a ref names two of the revisions asked for")


def default_output(refs: list[RepoRef]) -> str:
    """``<name>.tar`` in the current folder for one repo, ``<name>-and-N-more.tar`` for several."""
    name = refs[0].repo_id.rsplit("/", 1)[-1]
    return f"{name}.tar" if len(refs) == 1 else f"{name}-and-{len(refs) - 1}-more.tar"


def _fat32_check(output: str, volume: int | None, total: int) -> None:
    """Refuse, before writing, a file FAT32 cannot hold on a FAT32 target."""
    if output == "-" or not is_fat(os.path.dirname(os.path.abspath(output))):
        return
    largest = volume if volume is not None else total
    if largest > FAT32_MAX_FILE:
        raise BadInputError(
            f"{os.path.dirname(os.path.abspath(output))} is on FAT32, which holds no file over "
            f"4 GiB - 1 byte ({FAT32_MAX_FILE} bytes); use --split-size fat32"
        )


def _taken(e: FileExistsError) -> BadInputError:
    """The output's name is taken: by an earlier bundle (``--force`` replaces it) or a pack now writing it."""
    if e.errno == errno.EBUSY:
        return BadInputError(f"another pack is writing {e.filename} now: wait for it, or write elsewhere")
    return BadInputError(f"{e.filename} exists; use --force to overwrite it")


def _writer(output: str, volume: int | None, overwrite: bool) -> VolumeWriter:
    try:
        return VolumeWriter(output, volume, overwrite=overwrite)
    except FileExistsError as e:
        raise _taken(e) from None


@dataclass
class _Plan:
    """What is packed, before the manifest's digests are all known."""

    picks: list[RepoPick]
    asked: list[RepoPick]
    """Every pick with every file, to tie problems about blobs to the files they are (refusals)."""
    allow_incomplete: bool
    present: Present | None
    bad: list[Finding] = field(default_factory=list)
    """What the small files' digests reveal (:meth:`judge`), recorded as ``--allow-incomplete`` asked."""

    def judge(self, problems: list[Finding]) -> None:
        """After :func:`prehash`: refuse what the small files' digests reveal, or (allowed) record it."""
        self.bad = [f for p in self.picks for f in manifest_entries(p)[1]]
        if self.bad and not self.allow_incomplete:
            raise refusal(self.bad, picked_uses(self.asked))
        problems += self.bad

    def entries(self, hashed: bool) -> tuple[list[RepoEntry], list[Section]]:
        """Each pick's manifest entry and where its bytes are; not ``hashed``: small files' sha256
        still pending (the direct way), else judged already. Each pick is let go once its entry
        is made (the entry lists its files): the picks are spent."""
        entries, sections = [], []
        picks, self.picks = self.picks, []
        if not self.allow_incomplete:
            self.asked = []  # the same picks: nothing is refused once the entries are made
        held = self.present.blobs if self.present is not None else {}  # a delta's target
        picks.reverse()
        while picks:
            p = picks.pop()
            files = deferred_entries(p) if not hashed else manifest_entries(p)[0]
            bad = [f.to_json() for f in self.bad if f.repo == p.repo.folder]
            entries.append(
                RepoEntry(
                    repo_id=p.repo.repo_id,
                    repo_type=p.repo.repo_type,
                    folder=p.repo.folder,
                    revision=p.requested,
                    commit=p.commit,
                    refs=p.refs,
                    files=files,
                    include=list(p.include),
                    exclude=list(p.exclude),
                    allow_incomplete=self.allow_incomplete,
                    problems=[f.to_json() for f in p.problems] + bad,
                    tree=p.tree_path is not None,
                    expected=sorted({f.etag for f in files if held.get(f.etag) == f.size}),
                )
            )
            sections.append(Section.of(p.repo, p.commit, p.tree_path, p.files))
        return entries, sections

    def manifest(self, entries: list[RepoEntry]) -> Manifest:
        delta = any(e.expected for e in entries)
        return Manifest(
            hfcache_version=__version__,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            repos=entries,
            format=DELTA_FORMAT if delta else FORMAT,
            against=self.present.label if delta and self.present is not None else "",
        )


def _write_streamed(
    sections: list[Section], manifest: Manifest, out: VolumeWriter, progress: Progress
) -> list[str]:
    """The bundle written in order through ``out`` (stdout, volumes), each blob hashed as it
    streams by; a blob that is not what its name says is refused with every corrupt file named."""
    entries = manifest.repos
    try:
        tar = TarWriter(out)
        progress.start("pack", manifest.total_bytes)
        for _, name, payload in bundle_members(sections, entries, Pieces.of(manifest.pieces)):
            if isinstance(payload, bytes):
                tar.add_bytes(name, payload)
            elif isinstance(payload, str):
                tar.add_link(name, payload)
            elif isinstance(payload, Pieces):
                tar.add_pieces(name, payload.size, payload.make())
            else:
                actual = tar.add_file(name, payload.source, payload.size, progress)
                if actual != payload.sha256:
                    progress.finish()
                    out.abort()
                    found = all_corrupt(sections, entries, progress)
                    raise refusal(found, written_uses(sections, entries), while_packing=True)
        tar.close()
        progress.finish()
        return out.commit()
    except BaseException as e:
        progress.finish()
        out.abort()
        if isinstance(e, FileExistsError):
            raise _taken(e) from None
        raise


def pack(
    repo_ids: list[str],
    output: str | None,
    *,
    cache_dir: str | None = None,
    repo_type: str = "model",
    revision: str = "main",
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    allow_incomplete: bool = False,
    split_size: int | str | None = None,
    overwrite: bool = False,
    exclude_present: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> PackResult:
    """Pack ``repo_ids`` from the local cache into ``output`` (``-``: stdout; ``None``: ``<name>.tar``).

    Repo ids are ``[datasets/|spaces/]org/name[@revision]`` (:func:`hfcache.repoid.parse_repo_ref`);
    ``repo_type`` and ``revision`` apply where an id does not say. Never uses the network.

    ``split_size`` (bytes, or a size such as ``"4G"``) writes numbered volumes. Raises
    :class:`BadInputError` for bad arguments, and :class:`PackRefusedError` listing the
    problems when a revision is incomplete or inconsistent, unless ``allow_incomplete`` (then
    they are recorded in the manifest).

    ``exclude_present`` (an inventory, or an earlier bundle or its manifest) makes a delta: every
    blob the target holds is left out, and the manifest still lists every file and which blobs
    it expects to find there.
    """
    refs = [parse_repo_ref(text, repo_type) for text in repo_ids]
    if not refs:
        raise BadInputError("name at least one repo to pack, e.g. hfl/rbt3")
    check_revision(revision)
    output = output if output is not None else default_output(refs)
    if split_size is not None and output == "-":
        raise BadInputError("--split-size needs -o FILE, not stdout")
    try:
        volume = parse_size(split_size) if isinstance(split_size, str) else split_size
    except ValueError as e:
        raise BadInputError(f"--split-size: {e}") from None
    def choose() -> _Plan:
        """The picks, every problem refused or (allowed) recorded in ``problems``."""
        picks = select(cache_dir, refs, revision=revision, include=include, exclude=exclude)
        picks = list({(p.repo.folder, p.commit): p for p in picks}.values())  # a revision named twice: once
        _one_owner_per_ref(picks)
        problems[:] = [f for p in picks for f in p.problems]
        if problems and not allow_incomplete:
            raise refusal(problems, picked_uses(picks))
        source[:] = [f for p in picks for f in p.source_problems]
        asked = picks
        if allow_incomplete:
            picks = [_without_broken(p) for p in picks]
        return _Plan(picks, asked, allow_incomplete, present)

    problems: list[Finding] = []
    source: list[Finding] = []
    present = load_present(exclude_present) if exclude_present is not None else None
    plan = choose()
    manifest: Manifest | None = None
    if output != "-" and volume is None and deferrable(plan.picks):
        # One file: blobs copied in the kernel and hashed from the bundle on every core, small
        # files hashed once, by the stream (the manifest, written first, is completed in place).
        entries, sections = plan.entries(hashed=False)
        manifest = plan.manifest(entries)
        _fat32_check(output, volume, manifest.total_bytes)
        out = _writer(output, volume, overwrite)
        try:
            manifest = write_direct(sections, manifest, out, output, progress)
            paths = out.commit()
        except Redo:
            manifest = None  # something is wrong with a file: the way below finds and names it
        except BaseException as e:
            out.abort()
            if isinstance(e, FileExistsError):
                raise _taken(e) from None
            raise
        finally:
            out.abort()  # no-op once committed
            progress.finish()
        if manifest is None:
            plan = choose()  # chosen again: the picks were let go as the entries were made
    if manifest is None:
        prehash(plan.picks, progress)
        plan.judge(problems)
        entries, sections = plan.entries(hashed=True)
        manifest = plan.manifest(entries)
        _fat32_check(output, volume, manifest.total_bytes)
        out = _writer(output, volume, overwrite)
        paths = _write_streamed(sections, manifest, out, progress)
    checksums = checksum_name(output) if volume is not None else None
    allowed = tuple(by_file(problems, picked_uses(plan.asked)))
    return PackResult(manifest, tuple(paths), out.bytes_written, allowed, checksums, tuple(source))
