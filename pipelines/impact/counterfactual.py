"""What a KPI would have done without the transformation: a forecast of its counterfactual from
the periods before go-live, with an honest uncertainty.

The model (a Gaussian process, or equivalently a structural time-series model in closed form,
in the spirit of Brodersen et al., "Inferring causal impact using Bayesian structural
time-series models", 2015) says that a series (log of the KPI, or the KPI itself) is

    level + month-of-year effects + a linear trend + a trend whose slope wanders + AR(1) noise,

with the level as a fixed effect and the other parts as random effects whose sizes are unknown.
Rather than pick one model, the forecast averages every combination of sizes on a small grid
(no season to strong seasons, no trend to steep trends, a steady or a wandering slope, noise from
independent to strongly persistent) weighted by how well each explains the periods before
go-live (restricted likelihood, a prior that leans towards the simpler model). So the interval
carries what a CFO would ask about: the noise, its persistence, the season, and how uncertain a
trend becomes when it is extrapolated a year ahead. No sampling: a few batched linear solves,
about a millisecond per series.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

SEASON_SIZES = np.array([0.0, 3.0, 30.0, 1000.0])
"""Variance of the month-of-year effects, in units of the noise variance."""
TREND_SIZES = np.array([0.0, 1.0, 6.0])
"""Variance of the trend's slope per year, in units of the noise variance."""
WANDER_SIZES = np.array([0.0, 0.1, 0.5])
"""Variance of the slope's yearly random walk (an integrated random walk), in noise units."""
PERSISTENCE = np.array([0.0, 0.4, 0.7, 0.9])
"""AR(1) coefficient of the noise, per period of the model."""
SIMPLER_PRIOR = 0.5
"""Prior weight of "none" for the season, the trend and the wandering slope (the rest shared)."""
GAP_SIMPLER_PRIOR = 0.8
"""The same for a gap to control sites: parallel trends are the design's premise, so a gap
that drifts has to show it in the data before the forecast carries it."""
JITTER = 1e-9
"""Added to the before periods' correlations so that their solve never meets a singular matrix."""


@dataclass(frozen=True)
class Forecast:
    """The counterfactual forecast over the target periods.

    `path` and `path_variance` are per target period (model scale); `mean` and `variance` are
    those of the weighted mean over the target periods that the weights select, the variance
    including the noise those periods would have had. `df` is the degrees of freedom of the
    t quantile (periods before, less the level). `trend_weight` is the posterior weight of the
    models with a trend (fixed or wandering). `contrast_variance` is
    the variance of the weighted after mean less the plain before mean (the naive
    comparison), when the forecast was asked for it.
    """

    mean: float
    variance: float
    df: int
    path: np.ndarray
    path_variance: np.ndarray
    trend_weight: float
    contrast_variance: float | None = None


def _prior(sizes: np.ndarray, simpler: float) -> np.ndarray:
    return np.where(sizes == 0, simpler, (1 - simpler) / (len(sizes) - 1))


def _grid(seasons: bool, trend: bool, simpler: float) -> tuple[np.ndarray, np.ndarray]:
    """Every combination of sizes (rows: season, trend, wander, persistence) and its prior."""
    season = SEASON_SIZES if seasons else SEASON_SIZES[:1]
    slope = TREND_SIZES if trend else TREND_SIZES[:1]
    wander = WANDER_SIZES if trend else WANDER_SIZES[:1]
    sizes = np.array(np.meshgrid(season, slope, wander, PERSISTENCE, indexing="ij"))
    priors = np.array(
        np.meshgrid(
            _prior(season, simpler) if seasons else [1.0],
            _prior(slope, simpler) if trend else [1.0],
            _prior(wander, simpler) if trend else [1.0],
            np.ones(len(PERSISTENCE)),
            indexing="ij",
        )
    )
    return sizes.reshape(4, -1).T, priors.reshape(4, -1).prod(axis=0)


def forecast(
    periods: np.ndarray,
    months: np.ndarray,
    values: np.ndarray,
    n_before: int,
    weights: np.ndarray,
    periods_per_year: float,
    *,
    seasons: bool = True,
    trend: bool = True,
    simpler: float = SIMPLER_PRIOR,
    before_weights: np.ndarray | None = None,
) -> Forecast:
    """Forecast the periods after the first `n_before` from those `n_before` values.

    `periods` are the positions of every period (before ones first, in time order, then the
    targets), in periods of the model; `months` their month of year; `values` the `n_before`
    observed values before; `weights` one per target period, summing to 1 (0 for a target that
    only the path needs). Without `seasons` or `trend`, those parts are left out of the model;
    `simpler` is the prior weight of leaving each out. With `before_weights` (one per before
    value, summing to 1), the forecast also gives the variance of the after mean less the
    before mean so weighted, under the same models.
    """
    sizes, prior = _grid(seasons, trend, simpler)
    n = n_before
    covariance = _covariances(periods, months, n, periods_per_year, sizes)
    before = covariance[:, :n, :n] + JITTER * np.eye(n)
    cross = covariance[:, :n, n:]
    ahead = covariance[:, n:, n:]
    count = len(sizes)
    rhs = np.concatenate(
        [
            np.broadcast_to(values[:, None], (count, n, 1)),
            np.ones((count, n, 1)),
            cross,
        ],
        axis=2,
    )
    solved = np.linalg.solve(before, rhs)
    _, logdet = np.linalg.slogdet(before)
    a_yy = np.einsum("i,gi->g", values, solved[:, :, 0])
    a_1y = solved[:, :, 0].sum(axis=1)
    a_11 = solved[:, :, 1].sum(axis=1)
    level = a_1y / a_11
    dof = n - 1
    scale = np.maximum((a_yy - a_1y**2 / a_11) / dof, 1e-300)
    loglik = -0.5 * (dof * np.log(scale) + logdet + np.log(a_11))
    gain = solved[:, :, 2:]
    y_gain = np.einsum("i,gik->gk", values, gain)
    one_gain = gain.sum(axis=1)
    paths = level[:, None] + y_gain - level[:, None] * one_gain
    unexplained = 1 - one_gain
    # Only the weighted mean's variance and each target's own variance are needed, not the
    # targets' whole covariance: ahead - cross' gain + unexplained unexplained' / a_11.
    cross_w, gain_w = cross @ weights, gain @ weights
    unexplained_w = unexplained @ weights
    variances = (
        np.einsum("k,gkl,l->g", weights, ahead, weights)
        - np.einsum("gi,gi->g", cross_w, gain_w)
        + unexplained_w**2 / a_11
    ) * scale
    diagonals = (
        np.diagonal(ahead, axis1=1, axis2=2)
        - np.einsum("gik,gik->gk", cross, gain)
        + unexplained**2 / a_11[:, None]
    ) * scale[:, None]
    means = paths @ weights
    posterior = loglik + np.log(prior)
    posterior = np.exp(posterior - posterior.max())
    posterior /= posterior.sum()
    mean = float(posterior @ means)
    variance = float(posterior @ (variances + (means - mean) ** 2))
    path = posterior @ paths
    path_variance = posterior @ (diagonals + (paths - path) ** 2)
    contrast_variance = None
    if before_weights is not None:
        contrast = np.concatenate([-before_weights, weights])
        contrast_variance = float(
            posterior @ (np.einsum("k,gkl,l->g", contrast, covariance, contrast) * scale)
        )
    trending = (sizes[:, 1] > 0) | (sizes[:, 2] > 0)
    return Forecast(
        mean,
        max(variance, 0.0),
        dof,
        path,
        np.maximum(path_variance, 0.0),
        float(posterior[trending].sum()),
        contrast_variance,
    )


def _covariances(
    periods: np.ndarray, months: np.ndarray, n_before: int, per_year: float, sizes: np.ndarray
) -> np.ndarray:
    """The correlation structure of every grid point, in units of the noise variance (the
    grid's rows vary the persistence fastest, as `_grid` makes them)."""
    t = np.asarray(periods, dtype=float)
    years = (t - t[0]) / per_year
    same_month = (months[:, None] == months[None, :]).astype(float)
    centred = years - years[:n_before].mean()
    slope = np.outer(centred, centred)
    low = np.minimum(years[:, None], years[None, :])
    high = np.maximum(years[:, None], years[None, :])
    wander = low * low * (3 * high - low) / 6
    lags = np.abs(t[:, None] - t[None, :])
    size = len(t)
    structure = np.stack([same_month, slope, wander]).reshape(3, -1)
    # The grid is ordered structure first, persistence last (see `_grid`): the structural
    # part of each combination plus the noise of each persistence, in one array.
    levels = PERSISTENCE
    structural = (sizes[:: len(levels), :3] @ structure).reshape(-1, 1, size, size)
    with np.errstate(divide="ignore"):
        noise = np.where(lags == 0, 1.0, np.power(levels[:, None, None], lags))
    return (structural + noise[None]).reshape(len(sizes), size, size)


def t_quantile(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom."""
    return float(special.stdtrit(max(df, 1), 0.975))


def t_p_value(z: float, df: int) -> float:
    """Two-sided p-value of a t statistic."""
    return 2 * float(special.stdtr(max(df, 1), -abs(z))) if math.isfinite(z) else math.nan
