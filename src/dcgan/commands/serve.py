"""`dcgan serve`: the live dashboard (REST API, WebSocket and the page) on one port."""

from __future__ import annotations

import argparse
import os
import secrets
import socket

from dcgan.errors import ConfigError

TOKEN_ENV = "DCGAN_TOKEN"
WS_MAX_MESSAGE = 64 * 1024  # clients only send tiny messages (the server ignores them)


def register(sub) -> None:
    p = sub.add_parser("serve", help="the live dashboard: train, watch and generate from a browser",
                       description="Serve the dashboard: start and stop training from a browser and watch the "
                                   "curves and samples live; browse past runs and generate images. One process, "
                                   "one port; the API is documented at /docs.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine "
                   "only; any other address needs an access token)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000; 0 picks a free one)")
    p.add_argument("--runs-dir", default="runs", help="the folder of runs to list and train into (default: runs)")
    p.add_argument("--token", help=f"access token every request must carry (default: ${TOKEN_ENV}; generated and "
                   f"printed when --host is not a loopback address)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from dcgan.server import create_app
    from dcgan.server.settings import is_loopback, loopback_hosts

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {args.port}")
    loopback = is_loopback(args.host)
    token = args.token or os.environ.get(TOKEN_ENV)
    generated = token is None and not loopback
    if generated:
        token = secrets.token_urlsafe(24)
    sock = listen(args.host, args.port)
    app = create_app(args.runs_dir, token=token, allowed_hosts=loopback_hosts() if loopback else None)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, ws_max_size=WS_MAX_MESSAGE,
                                           timeout_graceful_shutdown=5))
    url = f"http://{url_host(args.host)}:{sock.getsockname()[1]}/"
    print(f"dcgan dashboard: {url}{f'?token={token}' if token else ''}", flush=True)
    if generated:
        print(f"access token: {token} (generated; choose one with --token or ${TOKEN_ENV})", flush=True)
    print(f"runs folder: {os.path.abspath(args.runs_dir)}; API docs: {url}docs; Ctrl-C stops the server (a "
          f"training stops after its step and writes a checkpoint)", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled after its graceful shutdown: that is a normal exit
    return 0


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
