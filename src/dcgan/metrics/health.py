"""The training-health monitor: reads the metrics the trainer already logs and says when a run is in trouble.

Three signals (Goodfellow 2016, "NIPS 2016 Tutorial", sections 5.1-5.2, and the DCGAN folklore around them):
- D overpowers G: D(x) near 1 and D(G(z)) near 0 for a sustained window. G's gradients then carry little
  information (with the saturating loss they vanish), and samples stop improving. One noisy logged step means
  nothing; a window of them does. The hinge objective's own measure of it: D's loss exactly 0, every real score
  above +1 and every fake below -1 (Lim & Ye 2017), so D gets no gradient at all.
- Divergence: a loss or a weight is NaN or infinite. Nothing after it can recover, and a checkpoint of it would
  overwrite good weights: the trainer stops and keeps its last good checkpoint.
- Mode collapse: the periodic evaluation's class coverage (or, without classes, its recall or diversity) falls
  well below the best the run has reached: G has stopped covering parts of the data.

The monitor only returns findings; the trainer turns them into Log events (level "warning", text starting with
"health:"), which the console, log.txt and the dashboard all show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dcgan.losses import LOSSES
from dcgan.vocabulary import D_FAKE, D_REAL, LOSS_D, LOSS_G

# D overpowers: D(x) above this and D(G(z)) below the other, at every logged step over a window of steps.
OVERPOWER_REAL = 0.99
OVERPOWER_FAKE = 0.01
OVERPOWER_WINDOW = 200  # steps
# Collapse: coverage two classes below its best, or recall/diversity below half of their best.
COVERAGE_DROP = 2
RELATIVE_DROP = 0.5

# The balance of the losses, loss_G / loss_D, for the non-saturating objective (the default) when G's loss is its
# own (not feature matching). Seed 003's rule of thumb asks for 1-2; the game itself says where the landmarks are:
# at its equilibrium D(x) = D(G(z)) = 1/2, so loss_D = 2 ln 2 and loss_G = ln 2, a ratio of 1/2; where the monitor's
# overpower warning starts (D(x) = 0.99, D(G(z)) = 0.01), loss_D = 2 * 0.01005 and loss_G = 4.6, a ratio of ~229.
# Healthy DCGAN training keeps D somewhat ahead, between the two (measured at the defaults on Fashion-MNIST: a median
# of about 2 in the first epoch, rising to about 5 in the fifth).
RATIO_LOSSES = ("nonsaturating",)


def ratio_at(d_real: float, d_fake: float) -> float:
    """loss_G / loss_D of the non-saturating objective when D(x) = d_real and D(G(z)) = d_fake for every sample."""
    return -math.log(d_fake) / (-math.log(d_real) - math.log(1 - d_fake))


EQUILIBRIUM_RATIO = ratio_at(0.5, 0.5)
OVERPOWER_RATIO = ratio_at(OVERPOWER_REAL, OVERPOWER_FAKE)
LOSS_RATIO_BANDS = (
    {"name": "G ahead", "low": 0.0, "high": EQUILIBRIUM_RATIO,
     "meaning": "D is fooled more often than at the game's equilibrium (D(x) = D(G(z)) = 1/2): D needs to learn"},
    {"name": "contest", "low": EQUILIBRIUM_RATIO, "high": OVERPOWER_RATIO,
     "meaning": "between the equilibrium and the overpower warning: where healthy training runs, D usually ahead"},
    {"name": "D overpowers", "low": OVERPOWER_RATIO, "high": None,
     "meaning": f"D(x) > {OVERPOWER_REAL} and D(G(z)) < {OVERPOWER_FAKE}: G gets little gradient; the monitor "
                f"warns after {OVERPOWER_WINDOW} steps here"},
)


def loss_ratio(loss: str, feature_matching: bool, metrics: dict[str, float]) -> float | None:
    """loss_G / loss_D where the bands above apply (the non-saturating objective, G's own loss), else None."""
    if loss not in RATIO_LOSSES or feature_matching or LOSS_G not in metrics or LOSS_D not in metrics:
        return None
    return metrics[LOSS_G] / metrics[LOSS_D] if metrics[LOSS_D] > 0 else math.inf


def d_overpowers(loss: str, metrics: dict[str, float]) -> bool | None:
    """Whether D wins outright at one logged step, by the objective's own measure; None where it has none (other
    objectives' scores have no fixed scale) or the step did not log it."""
    if LOSSES[loss].probabilities:  # D's outputs are logits of P(real): judge D(x) and D(G(z))
        if D_REAL not in metrics or D_FAKE not in metrics:
            return None
        return metrics[D_REAL] > OVERPOWER_REAL and metrics[D_FAKE] < OVERPOWER_FAKE
    if loss == "hinge" and LOSS_D in metrics:  # max(0, 1 - D(x)) + max(0, 1 + D(G(z))) is 0 only past both margins
        return metrics[LOSS_D] == 0.0
    return None


def non_finite(metrics: dict[str, float]) -> list[str]:
    """The names of the values that are NaN or infinite."""
    return sorted(k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v))


@dataclass
class HealthMonitor:
    loss: str = "nonsaturating"
    window: int = OVERPOWER_WINDOW
    _overpower_since: int | None = None
    _overpower_warned: bool = False
    _best: dict[str, float] = field(default_factory=dict)
    _collapse_warned: set[str] = field(default_factory=set)

    def observe_step(self, step: int, metrics: dict[str, float]) -> list[str]:
        """Warnings from one logged step's metrics (D/real, D/fake; loss/D for the hinge objective)."""
        overpowers = d_overpowers(self.loss, metrics)
        if overpowers is None:
            return []
        if overpowers:
            if self._overpower_since is None:
                self._overpower_since = step
            if not self._overpower_warned and step - self._overpower_since >= self.window:
                self._overpower_warned = True
                why = ("D(x) > {} and D(G(z)) < {}".format(OVERPOWER_REAL, OVERPOWER_FAKE)
                       if LOSSES[self.loss].probabilities else
                       "its hinge loss is 0 (every real score above +1, every fake below -1)")
                return [f"health: the discriminator overpowers the generator: {why} since step "
                        f"{self._overpower_since} (now {step}). G gets little gradient; try --label-smoothing 0.1, "
                        f"--instance-noise 0.1, --spectral-norm, a lower D learning rate (--lr-d) or --diffaugment "
                        f"translation,cutout"]
        else:
            self._overpower_since = None
            self._overpower_warned = False  # re-armed: a later episode warns again
        return []

    def observe_eval(self, step: int, metrics: dict[str, float]) -> list[str]:
        """Warnings from one periodic evaluation (eval/ metrics without the prefix: classes_covered, recall,
        diversity)."""
        out = []
        checks = [("classes_covered", lambda best, now: now <= best - COVERAGE_DROP, "classes covered"),
                  ("recall", lambda best, now: now < RELATIVE_DROP * best, "recall"),
                  ("diversity", lambda best, now: now < RELATIVE_DROP * best, "diversity")]
        for key, dropped, label in checks:
            now = metrics.get(key)
            if now is None or not math.isfinite(now):
                continue
            best = self._best.get(key)
            if best is not None and dropped(best, now):
                if key not in self._collapse_warned:
                    self._collapse_warned.add(key)
                    out.append(f"health: possible mode collapse at step {step}: {label} fell to {now:.3g} from "
                               f"a best of {best:.3g}. Look at the sample grid for repeated images; try "
                               f"--diffaugment, --spectral-norm, --r1 1 or resume from an earlier checkpoint")
            else:
                self._collapse_warned.discard(key)
            self._best[key] = now if best is None else max(best, now)
        return out
