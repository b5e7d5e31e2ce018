"""``hfcache serve``: a read-only LAN mirror of caches and bundles for HF_ENDPOINT clients."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hfcache.cli.errors import handled
from hfcache.cli.output import JSON_OPTION, QUIET_OPTION, Output
from hfcache.errors import BadInputError
from hfcache.fs.digests import DigestStore, default_state_dir

if TYPE_CHECKING:
    from hfcache.serve import Started


def _tokens(path: Path | None) -> frozenset[str]:
    if path is None:
        return frozenset()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise BadInputError(f"cannot read --token-file {path}: {e.strerror or e}") from None
    tokens = frozenset(t.strip() for t in lines if t.strip() and not t.lstrip().startswith("#"))
    if not tokens:
        raise BadInputError(f"--token-file {path} holds no token")
    return tokens


def serve_command(
    sources: list[str] = typer.Argument(
        None,
        metavar="SOURCE...",
        help="Caches (HF_HOME, hub cache, repo folder) or bundle files (x.tar, x.tar.001). "
        "Default: the cache huggingface_hub uses.",
        show_default=False,
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", metavar="ADDRESS", help="Address to listen on; 0.0.0.0 for the whole LAN."
    ),
    port: int = typer.Option(8080, "--port", metavar="PORT", help="Port to listen on; 0 for any free one."),
    public_url: str | None = typer.Option(
        None,
        "--public-url",
        metavar="URL",
        show_default=False,
        help="The http(s) URL clients use, if not http://ADDRESS:PORT (behind a proxy).",
    ),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        metavar="FILE",
        show_default=False,
        help="File of bearer tokens, one per line; clients must send one.",
    ),
    state_dir: Path | None = typer.Option(
        None,
        "--state-dir",
        metavar="DIR",
        show_default=False,
        help=f"Where verified digests are kept. Default: {default_state_dir()}.",
    ),
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Serve caches and bundles to huggingface_hub clients (HF_ENDPOINT) until Ctrl-C. Read-only.

    Every file is hashed on its first full read and never served if it does not match its name.

    Examples:
      hfcache serve                                  # this user's cache, on 127.0.0.1:8080
      hfcache serve /data/hf big.tar --host 0.0.0.0  # a LAN mirror of a cache and a bundle
      HF_ENDPOINT=http://mirror:8080 hf download hfl/rbt3      # on a client

    Exit codes: 0 stopped by Ctrl-C or SIGTERM, 1 failed (a source that cannot be read),
    2 bad input (not a cache or bundle, a bad --port or --public-url, a port in use).
    """
    out = Output(json_out, quiet=quiet)

    def started(s: Started) -> None:
        if json_out:
            out.data(s.to_json())
        else:
            out.say(f"Serving {s.repos} repo(s) from {', '.join(s.sources)} at {s.url}")
            out.say("On each client, set:")
            for line in s.client_settings:
                out.say(f"  export {line}")
        if not s.loopback_only:
            out.message(f"Listening on {s.host}: reachable from the network, not only this machine.")
        out.message("Ctrl-C stops the mirror.")

    from hfcache.serve import serve  # aiohttp is imported by this command alone

    with handled(out):
        store = (
            DigestStore(str(state_dir / "digests.sqlite")) if state_dir is not None else DigestStore.default()
        )
        serve(
            list(sources or []) or [None],
            host=host,
            port=port,
            public_url=public_url,
            tokens=_tokens(token_file),
            store=store,
            log=None if quiet else out.message,
            on_start=started,
        )
