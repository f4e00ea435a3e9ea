"""Runs side by side (issue 9): their curves in one call, and their fixed-noise grids at matched steps."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import StringConstraints

from dcgan.errors import ConfigError
from dcgan.server import schemas
from dcgan.server.deps import ReadingTurn, Store

router = APIRouter(prefix="/api/compare", tags=["compare"])
NOT_FOUND = {404: {"model": schemas.ErrorResponse}, 422: {"model": schemas.ErrorResponse}}
MAX_RUNS = 16  # curves one chart can still show apart
# Points of all the runs' curves in one answer: what 16 runs at the page's 2,000 each come to, and 2 runs at a single
# run's most (its answer is ~1 KB a point: 16 runs at 20,000 points were 55 MB, built in ~300 MB of memory).
MAX_POINTS = 40_000
RunNames = list[Annotated[str, StringConstraints(pattern=schemas.RUN_NAME)]]
Runs = Query(min_length=1, max_length=MAX_RUNS, description="run names: ?runs=a&runs=b")


@router.get("/metrics", response_model=schemas.CompareMetrics, responses=NOT_FOUND, dependencies=[ReadingTurn])
def compare_metrics(store: Store, runs: RunNames = Runs,
                    max_points: int = Query(1000, ge=10, le=20000, description=f"per run; at most {MAX_POINTS:,} "
                                            f"in all")) -> schemas.CompareMetrics:
    """Each run's metrics, by step, to overlay their curves."""
    if len(runs) * max_points > MAX_POINTS:
        raise ConfigError(f"{len(runs)} runs of max_points {max_points} are more than the {MAX_POINTS:,} points one "
                          f"answer holds; ask for max_points {MAX_POINTS // len(runs)} or fewer runs",
                          field="max_points")
    return schemas.CompareMetrics(runs=[schemas.RunMetrics(run=name, metrics=store.metrics(name, max_points))
                                        for name in runs])


@router.get("/samples", response_model=schemas.CompareSamples, responses=NOT_FOUND)
def compare_samples(store: Store, runs: RunNames = Runs,
                    step: int = Query(ge=0, le=10**12, description="the step to match")) -> schemas.CompareSamples:
    """Each run's fixed-noise grid at its sample step nearest `step` (runs with the same seed share their fixed
    noise, so the grids compare image by image)."""
    samples = []
    for name in runs:
        nearest = store.nearest_sample(name, step)
        url = f"/api/runs/{name}/samples/{nearest}.png" if nearest is not None else None
        samples.append(schemas.MatchedSample(run=name, step=nearest, url=url))
    return schemas.CompareSamples(step=step, samples=samples)
