"""The server's settings, in one pydantic class: where runs live, who may connect, and the bounds it enforces."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dcgan.budget import default_budget
from dcgan.server.dataroots import default_data_roots
from dcgan.server.security import parse_origin


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # create_app(max_client=...) is a mistake to report, not to ignore

    runs_dir: Path = Field(Path("runs"), description="the folder of run folders the server lists and trains into")
    token: str | None = Field(None, description="access token; when set, every API call and WebSocket needs it")
    # Host names a browser may use to reach the server; None accepts any. On loopback only loopback names are
    # accepted, so a web page on another site cannot reach the server through DNS rebinding.
    allowed_hosts: list[str] | None = None
    allowed_origins: list[str] = Field([], description="origins (scheme://host[:port]) of other web pages that may "
                                       "call the API and open the live feeds, with CORS; none by default")
    max_body_bytes: int = Field(64 * 1024, description="largest request body accepted (413 above it)")
    history_points: int = Field(2000, description="most points of a curve sent to a client at once")
    log_lines: int = Field(500, description="log lines kept for clients that connect later")
    client_queue: int = Field(256, description="messages queued for one WebSocket client before it is resynced")
    send_timeout_s: float = Field(30.0, description="a client that takes longer to accept one message is dropped")
    heartbeat_s: float = Field(5.0, description="seconds between heartbeats on the WebSocket")
    max_drawing: int = Field(1, description="requests drawing images with a generator at once (each is held to the "
                             "memory budget); the others wait their turn")
    max_reading: int = Field(2, description="requests reading runs' metric histories at once (each costs its files' "
                             "length in CPU time and its answer in memory); the others wait their turn")
    max_clients: int = Field(64, description="WebSocket clients fed at once (/api/live and /ws together): each costs "
                             "a queue and a share of every message's fan-out; one more is closed with code 1013")
    # Resources (issue 18): what one piece of work may take, checked before anything is built.
    disk_budget: int | None = Field(None, description="bytes one run may write into its folder (checkpoints, grids, "
                                    "metrics; estimated beforehand, 422 above it); None: what the runs folder's disk "
                                    "has free beyond disk_reserve")
    disk_reserve: int = Field(2 * 2**30, description="bytes left free on the runs folder's disk: one run after "
                              "another may use what is free beyond them, never these")
    memory_budget: int = Field(default_factory=default_budget, description="bytes of memory a training, a "
                               "generator or an architecture preview may need (estimated beforehand; 422 above it)")
    max_processes: int | None = Field(None, description="most training processes of one run; None: this machine's "
                                      "CPU cores, or GPUs on CUDA")
    data_roots: list[Path] = Field(default_factory=default_data_roots, description="the folders datasets and "
                                   "data_dir may lead into")
    allow_downloads: bool = Field(False, description="let a training download a named dataset that is missing")

    @field_validator("allowed_origins")
    @classmethod
    def canonical_origins(cls, origins: list[str]) -> list[str]:
        return list(dict.fromkeys(parse_origin(o) for o in origins))  # as browsers write them, each once

