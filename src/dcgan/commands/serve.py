"""`dcgan serve`: the live dashboard (REST API, WebSocket and the page) on one port."""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import sys
from pathlib import Path

from dcgan.errors import ConfigError

TOKEN_ENV = "DCGAN_TOKEN"
SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def register(p) -> None:
    p.description = ("Serve the dashboard: start and stop training from a browser and watch the "
                     "curves and samples live; browse past runs and generate images. One process, "
                     "one port; the API is documented at /docs.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine "
                   "only; any other address needs an access token)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000; 0 picks a free one)")
    p.add_argument("--runs-dir", default="runs", help="the folder of runs to list and train into (default: runs)")
    p.add_argument("--token-file", metavar="FILE", help=f"read the access token every request must carry from "
                   f"FILE (default: ${TOKEN_ENV}; generated and printed when --host is not a loopback address)")
    p.add_argument("--token", help="the access token itself; it shows in `ps` and the shell history, so prefer "
                   f"--token-file or ${TOKEN_ENV}")
    p.add_argument("--ssl-certfile", metavar="FILE", help="serve HTTPS with this certificate (PEM; with "
                   "--ssl-keyfile): the token and the cookie then travel encrypted")
    p.add_argument("--ssl-keyfile", metavar="FILE", help="the certificate's private key (PEM)")
    p.add_argument("--allow-origin", action="append", metavar="ORIGIN", help="let web pages served from ORIGIN "
                   "(scheme://host[:port], e.g. http://localhost:5173 for a Vite dev server) call the API and open "
                   "the live feeds, with CORS; repeat for several (default: none, only the dashboard's own page; "
                   "'*' is refused)")
    p.add_argument("--data-root", action="append", metavar="DIR", help="a folder datasets and data_dir may lead "
                   "into; repeat for several (default: ./data and the system dataset folders)")
    p.add_argument("--allow-downloads", action="store_true", help="let a training started from the dashboard "
                   "download a named dataset that is not on this machine")
    p.add_argument("--memory-budget", metavar="SIZE", help="the most memory one training, generator or "
                   "architecture preview may need, estimated before anything is built, e.g. 8G or 512M (default: "
                   "half of this machine's memory)")
    p.add_argument("--disk-budget", metavar="SIZE", help="the most one run started from the dashboard may write "
                   "into its folder (checkpoints, grids, metrics), estimated before it starts and at each live change, "
                   "e.g. 20G (default: what the runs folder's disk has free beyond 2 GiB, which it always leaves)")
    p.add_argument("--max-processes", type=int, metavar="N", help="the most training processes a run started from "
                   "the dashboard may use (default: this machine's CPU cores, or its GPUs on CUDA)")
    p.add_argument("--request-timeout", type=float, default=20.0, metavar="SECONDS", help="close a connection whose "
                   "request has not arrived whole within SECONDS of its opening or of the last response on it, so "
                   "slow clients cannot hold connections (default: 20; WebSockets are exempt once open)")
    p.set_defaults(func=run, imports_first=False)


def run(args: argparse.Namespace) -> int:
    # Every option is checked before the app (FastAPI, torch: seconds) is imported, so a wrong one is said at once.
    from dcgan.errors import refuse_a_file_in_the_way
    from dcgan.server.security import is_loopback, loopback_hosts

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {args.port}")
    if not 0 < args.request_timeout <= 3600:
        raise ConfigError(f"--request-timeout must be between 0 and 3600 seconds, got {args.request_timeout:g}")
    if args.max_processes is not None and args.max_processes < 1:
        raise ConfigError(f"--max-processes must be at least 1, got {args.max_processes}")
    refuse_a_file_in_the_way(Path(args.runs_dir).absolute(), "--runs-dir",
                             "choose the folder of runs (it is made when the first run starts)")
    for root in args.data_root or []:
        refuse_a_file_in_the_way(Path(root).absolute(), "--data-root", "give a folder that holds datasets")
    tls = tls_files(args.ssl_certfile, args.ssl_keyfile)
    loopback = is_loopback(args.host)
    token = read_token(args)
    generated = token is None and not loopback
    if generated:
        token = secrets.token_urlsafe(24)
    options = dict(token=token, allowed_hosts=loopback_hosts() if loopback else None,
                   allowed_origins=allowed_origins(args.allow_origin or []), allow_downloads=args.allow_downloads)
    if args.data_root:
        options["data_roots"] = [Path(d) for d in args.data_root]
    if args.memory_budget is not None:
        options["memory_budget"] = parse_size(args.memory_budget, "--memory-budget")
    if args.disk_budget is not None:
        options["disk_budget"] = parse_size(args.disk_budget, "--disk-budget")
    if args.max_processes is not None:
        options["max_processes"] = args.max_processes
    sock = listen(args.host, args.port)
    from dcgan.cli import ctrl_c_held_back

    with ctrl_c_held_back():  # the app imports torch, inside which a Ctrl-C would be lost (dcgan.cli says how)
        import uvicorn

        from dcgan.server import create_app
        from dcgan.server.http import server_config
    app = create_app(args.runs_dir, **options)
    server = uvicorn.Server(server_config(app, args.request_timeout, timeout_graceful_shutdown=5, **tls))
    url = f"{'https' if tls else 'http'}://{url_host(args.host)}:{sock.getsockname()[1]}/"
    print(f"dcgan dashboard: {url}{f'?token={token}' if token else ''}", flush=True)
    if generated:
        print(f"access token: {token} (generated; choose one with --token-file or ${TOKEN_ENV})", flush=True)
    print(f"runs folder: {os.path.abspath(args.runs_dir)}; API docs: {url}docs; Ctrl-C stops the server (a "
          f"training stops after its step and writes a checkpoint)", flush=True)
    if app.state.settings.allowed_origins:
        print(f"pages allowed from other origins: {', '.join(app.state.settings.allowed_origins)}", flush=True)
    describe_limits(app)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled after its graceful shutdown: that is a normal exit
    return 0


def read_token(args: argparse.Namespace) -> str | None:
    """The access token from --token-file, --token (with a warning: it shows in `ps`) or the environment."""
    if args.token_file and args.token:
        raise ConfigError("give --token-file or --token, not both")
    if args.token_file:
        try:
            token = Path(args.token_file).expanduser().read_text().strip()
        except OSError as e:
            raise ConfigError(f"cannot read --token-file {args.token_file} ({e.strerror or e})") from e
        if not token:
            raise ConfigError(f"--token-file {args.token_file} is empty; write the token into it")
        return token
    if args.token:
        print(f"warning: --token shows in `ps` and in the shell history; prefer --token-file or ${TOKEN_ENV}",
              file=sys.stderr, flush=True)
        return args.token
    return os.environ.get(TOKEN_ENV) or None


def allowed_origins(texts: list[str]) -> list[str]:
    from dcgan.server.security import parse_origin

    origins = []
    for text in texts:
        try:
            origins.append(parse_origin(text))
        except ValueError as e:
            raise ConfigError(f"--allow-origin {text!r}: {e}") from e
    return origins


def tls_files(certfile: str | None, keyfile: str | None) -> dict[str, str]:
    """uvicorn's TLS options, checked here so a wrong path is one clear line."""
    if not certfile and not keyfile:
        return {}
    if not (certfile and keyfile):
        raise ConfigError("HTTPS needs both --ssl-certfile and --ssl-keyfile")
    for flag, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        if not Path(path).expanduser().is_file():
            raise ConfigError(f"{flag} {path} is not a file")
    return {"ssl_certfile": str(Path(certfile).expanduser()), "ssl_keyfile": str(Path(keyfile).expanduser())}


def parse_size(text: str, option: str) -> int:
    """'8G', '512M', '1.5g', '1048576' -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{option} {text!r} is not a size; write e.g. 8G, 512M or a number of bytes")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2)])


def describe_limits(app) -> None:
    from dcgan.budget import gib, machine_processes

    settings, store = app.state.settings, app.state.store
    processes = settings.max_processes or machine_processes()
    roots = app.state.manager.data_roots.describe()
    disk = (f"disk budget {gib(settings.disk_budget)} per run" if settings.disk_budget is not None else
            f"runs use the disk's free space beyond {gib(settings.disk_reserve)}")
    print(f"data folders: {roots}; memory budget {gib(settings.memory_budget)} per training; {disk}; up to "
          f"{processes} training processes{'; datasets may be downloaded' if settings.allow_downloads else ''}",
          flush=True)
    interrupted = [r for r in store.summaries() if r.status == "interrupted"]
    for r in interrupted:
        print(f"interrupted: {r.name} ({r.message})", flush=True)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, so the printed URL (with the real port when --port is 0) accepts connections at once."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise ConfigError(f"cannot use --host {host} ({e.strerror or e}); give an address of this machine") from e
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port (0 picks a "
                          f"free one)") from e
    return sock


def url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # every interface: show a name others can reach it by
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host
