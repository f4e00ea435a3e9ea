"""Fuzzing the real server (issue 18): schemathesis generates requests from the OpenAPI schema for every
operation and sends them to the running server. None may answer with a server error (5xx); the operations that
start or change a training get invalid data only, and must reject all of it. The operations on a run are sent to
a real (conditional) run, so generation, interpolation and arithmetic see every parameter the schema allows.
Bounded and repeatable: a fixed number of examples per operation, derandomized, with no time limits (a slower
machine only takes longer)."""

from __future__ import annotations

import re
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from dcgan.server import create_app

from .conftest import finish

EXAMPLES = 25  # per operation
# Operations that start or change a training: fuzzed with invalid data only, which must all be rejected.
STARTS_WORK = re.compile(r"^(POST|PATCH) /api/training/")
# The schema the server publishes at /openapi.json, read from the app itself so the tests are known when collected.
SCHEMA = schemathesis.openapi.from_dict(create_app(tempfile.gettempdir()).openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture(scope="module")
def run(server) -> str:
    with server.client() as client:
        return finish(client, steps=4, name="fuzzed", conditional=True, checkpoint_every=2)


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_operation_answers_with_a_server_error(operation, server, run):
    starts_work = bool(STARTS_WORK.match(operation.label))
    mode = GenerationMode.NEGATIVE if starts_work else GenerationMode.POSITIVE
    on_run = {"name": run} if "{name}" in operation.path and not starts_work else None
    answers: dict[int, int] = {}

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=on_run))
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    def request(case):
        response = case.call(base_url=server.url, timeout=120)
        sent = f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:300]}"
        answers[response.status_code] = answers.get(response.status_code, 0) + 1
        assert response.status_code < 500, f"{sent} -> {response.status_code} {response.text[:500]}"
        if starts_work:
            assert 400 <= response.status_code < 500, f"{sent} was accepted: {response.text[:300]}"
            assert not server.manager.busy, f"{sent} started a training"

    request()
    assert answers  # the operation was called
