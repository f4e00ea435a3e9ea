"""A run's generator explored beyond interpolation (issue 20): style mixing grids and attribute directions."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from dcgan.attributes import MAX_SAMPLES, Direction, class_logits, fit_direction, slide
from dcgan.latent import class_id
from dcgan.mixing import MAX_SIDE, block_shapes, style_mix
from dcgan.server import schemas
from dcgan.server.deps import DrawingTurn, RunName, Store
from dcgan.server.routes.runs import PNG, Checkpoint, Label, NOT_FOUND, class_of, fast_png, image

router = APIRouter(prefix="/api/runs", tags=["latent"])
Seeds = Annotated[list[schemas.Seed], Query(min_length=1, max_length=MAX_SIDE, description="seeds: ?rows=0&rows=1")]
DIRECTIONS = 16  # fitted directions kept (each costs `samples` images and their classification)
_directions: OrderedDict[tuple, Direction] = OrderedDict()
_lock = threading.Lock()


@router.get("/{name}/mix/blocks", response_model=schemas.MixBlocks, responses=NOT_FOUND, dependencies=[DrawingTurn])
def mix_blocks(name: RunName, store: Store, checkpoint: Checkpoint = None) -> schemas.MixBlocks:
    """The blocks of the run's G that style mixing can start at, with the size of their maps."""
    g = store.generator(name, checkpoint)
    shapes = block_shapes(g.model)
    return schemas.MixBlocks(run=name, step=g.step, blocks=[
        schemas.MixBlock(block=k, channels=c, height=h, width=w, output=k == len(shapes) - 1)
        for k, (c, h, w) in enumerate(shapes)])


@router.get("/{name}/mix.png", response_class=Response, responses=PNG, dependencies=[DrawingTurn])
def mix(name: RunName, store: Store, rows: Seeds, cols: Seeds,
        block: int = Query(ge=0, le=64, description="mix from this block on (GET .../mix/blocks lists them)"),
        label: Label = None, checkpoint: Checkpoint = None) -> Response:
    """Style mixing (docs/latent.md): B's images (cols) along the top, A's (rows) down the left, and each cell A
    with B's per-channel statistics from `block` on."""
    g = store.generator(name, checkpoint)
    # Every cell runs A and B through G side by side (B's maps are the style): twice a generation's activations.
    store.check_drawing(name, 2 * len(rows) * len(cols), advice="ask for fewer rows or columns, or start the server "
                                                                "with a larger --memory-budget")
    grid = style_mix(g, rows, cols, block, label=class_of(g, label))
    return image(fast_png(grid.grid()), "png", f"{name}-mix-block{block}", {"X-Step": str(g.step)})


@router.get("/{name}/attribute.png", response_class=Response, responses=PNG, dependencies=[DrawingTurn])
def attribute(name: RunName, store: Store,
              toward: str = Query(min_length=1, max_length=40, description="a class number or name, e.g. sneaker"),
              seeds: list[schemas.Seed] = Query([0], min_length=1, max_length=16, description="start seeds, one row each"),
              steps: int = Query(10, ge=2, le=64, description="images per row, the start included"),
              distance: float = Query(3.0, gt=0, le=20, description="how far, in standard deviations along the "
                                      "direction"),
              samples: int = Query(2000, ge=100, le=MAX_SAMPLES // 10, description="sampled z the direction is "
                                   "fitted on"),
              label: Label = None, checkpoint: Checkpoint = None) -> Response:
    """Images sliding along the direction in z that raises the domain classifier's log-odds of class `toward`
    (a linear fit over sampled z); headers X-Class, X-R2 (how linear the class is in z) and X-Probabilities (p of
    the class per image, row by row)."""
    g = store.generator(name, checkpoint)
    label = class_of(g, label)
    logits, names = class_logits(g.config.dataset)
    k = class_id(toward, names, field="toward")
    key = (g.source, g.step, k, samples, label)
    with _lock:
        direction = _directions.get(key)
    if direction is None:
        direction = fit_direction(g, logits, k, names[k], samples=samples, label=label)
        with _lock:
            _directions[key] = direction
            while len(_directions) > DIRECTIONS:
                _directions.popitem(last=False)
    result = slide(g, direction, seeds, steps=steps, distance=distance, logits=logits, label=label)
    probabilities = ",".join(f"{p:.3f}" for p in result.probabilities.flatten().tolist())
    return image(fast_png(result.grid()), "png", f"{name}-toward-{k}", {
        "X-Step": str(g.step), "X-Class": f"{k} {names[k]}", "X-R2": f"{direction.r2:.3f}",
        "X-Probabilities": probabilities})
