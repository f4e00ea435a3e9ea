"""Runs side by side (issue 9): their curves in one call, and their fixed-noise grids at matched steps."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import StringConstraints

from dcgan.server import schemas
from dcgan.server.deps import Store

router = APIRouter(prefix="/api/compare", tags=["compare"])
NOT_FOUND = {404: {"model": schemas.ErrorResponse}, 422: {"model": schemas.ErrorResponse}}
MAX_RUNS = 16  # curves one chart can still show apart
RunNames = list[Annotated[str, StringConstraints(pattern=schemas.RUN_NAME)]]
Runs = Query(min_length=1, max_length=MAX_RUNS, description="run names: ?runs=a&runs=b")


@router.get("/metrics", response_model=schemas.CompareMetrics, responses=NOT_FOUND)
def compare_metrics(store: Store, runs: RunNames = Runs,
                    max_points: int = Query(1000, ge=10, le=20000, description="per run")) -> schemas.CompareMetrics:
    """Each run's metrics, by step, to overlay their curves."""
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
