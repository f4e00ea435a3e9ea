"""The training-health monitor's landmarks (dcgan.metrics.health), published so the page draws them without
copying constants."""

from __future__ import annotations

from fastapi import APIRouter

from dcgan.metrics import health
from dcgan.server import schemas
from dcgan.vocabulary import LOSS_RATIO

router = APIRouter(prefix="/api/health", tags=["health"])


@router.get("/bands", response_model=schemas.HealthBands)
def bands() -> schemas.HealthBands:
    """The G/D loss ratio's bands (equilibrium, contest, D overpowers) and the overpower thresholds."""
    return schemas.HealthBands(
        ratio_metric=LOSS_RATIO, ratio_losses=list(health.RATIO_LOSSES),
        ratio_bands=[schemas.RatioBand(**band) for band in health.LOSS_RATIO_BANDS],
        overpower_d_real=health.OVERPOWER_REAL, overpower_d_fake=health.OVERPOWER_FAKE,
        overpower_window=health.OVERPOWER_WINDOW)
