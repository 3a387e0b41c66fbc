"""Buy-till-you-die models: BG/NBD for purchase counts, Gamma-Gamma for spend (scipy only).

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive,
a customer buys at a Poisson rate ``lambda ~ Gamma(r, alpha)``; after each purchase they
drop out with probability ``p ~ Beta(a, b)``. From a customer's summary (``x`` repeat
purchases, ``t_x`` the time of the last one and ``T`` the time since the first, all
measured from the first purchase), the model gives the probability of being alive, the
expected number of purchases in the next ``t`` and the probability of at least one:

* ``P(alive) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))``;
* ``P(no purchase in t | alive) = ((alpha + T) / (alpha + T + t))^(r + x)`` (the rate's
  posterior given alive is ``Gamma(r + x, alpha + T)``, and no dropout can happen
  without a purchase), so ``P(buy) = P(alive) (1 - that)``;
* ``E[X(t)]`` from the paper's equation (10), with the Gauss hypergeometric function.

Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"): a customer's purchase values
have mean ``p / nu`` with ``nu ~ Gamma(q, v)``; the expected value of their next purchase
is ``p (v + n m) / (p n + q - 1)`` for ``n`` purchases of mean value ``m``.

Time is in days throughout (fits are done in weeks internally for stable optimisation).
Purchases are purchase *days*: several orders on one day are one purchase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

WEEK = 7.0


@dataclass(frozen=True)
class BGNBD:
    r: float
    alpha: float  # in weeks
    a: float
    b: float

    @staticmethod
    def fit(x, t_x, T, *, penalizer: float = 0.0) -> BGNBD:
        """Maximum likelihood on customers' ``x`` (repeat purchases), ``t_x`` and ``T``
        (days since the first purchase)."""
        summaries = np.column_stack(
            [np.asarray(x, dtype=float), np.asarray(t_x, dtype=float), np.asarray(T, dtype=float)]
        )
        # customers with the same (x, t_x, T) have the same likelihood: each distinct
        # summary is evaluated once and weighted by its customers (whole days make them
        # few: a few thousand for 30,000 customers, ten times fewer evaluations)
        summaries, customers = np.unique(summaries, axis=0, return_counts=True)
        weight = customers / customers.sum()
        x = summaries[:, 0]
        t_x = summaries[:, 1] / WEEK
        T = summaries[:, 2] / WEEK

        def nll(logp: np.ndarray) -> float:
            r, alpha, a, b = np.exp(logp)
            ll = _bgnbd_ll(r, alpha, a, b, x, t_x, T)
            return -float(weight @ ll) + penalizer * float((np.exp(logp) ** 2).sum())

        best = None
        for start in ([0.0, 0.0, 0.0, 0.0], [-1.0, 1.0, -0.5, 0.5]):
            res = minimize(nll, np.array(start), method="L-BFGS-B", bounds=[(-10, 10)] * 4)
            if best is None or res.fun < best.fun:
                best = res
        r, alpha, a, b = np.exp(best.x)
        return BGNBD(float(r), float(alpha), float(a), float(b))

    def _args(self, x, t_x, T):
        return (
            np.asarray(x, dtype=float),
            np.asarray(t_x, dtype=float) / WEEK,
            np.asarray(T, dtype=float) / WEEK,
        )

    def p_alive(self, x, t_x, T) -> np.ndarray:
        x, t_x, T = self._args(x, t_x, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
            odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * np.exp(log_ratio), 0.0)
        return 1.0 / (1.0 + odds)

    def p_buy(self, t: float, x, t_x, T) -> np.ndarray:
        """Probability of at least one purchase in the next ``t`` days."""
        alive = self.p_alive(x, t_x, T)
        x, _, T = self._args(x, t_x, T)
        w = t / WEEK
        none = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + T + w)))
        return alive * (1.0 - none)

    def expected(self, t: float, x, t_x, T) -> np.ndarray:
        """Expected purchases in the next ``t`` days (equation 10)."""
        x, t_x, T = self._args(x, t_x, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        w = t / WEEK
        z = w / (alpha + T + w)
        h = hyp2f1(r + x, b + x, a + b + x - 1, z)
        first = (a + b + x - 1) / (a - 1) if abs(a - 1) > 1e-9 else np.full_like(x, np.nan)
        inner = 1.0 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + w))) * h
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = np.where(
                x > 0,
                a
                / np.maximum(b + x - 1, 1e-12)
                * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x))),
                0.0,
            )
        out = first * inner / (1.0 + odds)
        if not np.isfinite(out).all():  # a = 1 or an overflowing 2F1: P(buy) x rate bound
            fallback = self.p_buy(t, x, t_x * WEEK, T * WEEK) * np.maximum(
                1.0, (r + x) / (alpha + T) * w
            )
            out = np.where(np.isfinite(out), out, fallback)
        return np.clip(out, 0.0, None)


def _bgnbd_ll(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float

    @staticmethod
    def fit(n, m) -> GammaGamma:
        """Maximum likelihood on customers with ``n`` >= 1 purchases of mean value ``m`` > 0."""
        n = np.asarray(n, dtype=float)
        m = np.asarray(m, dtype=float)
        keep = (n >= 1) & (m > 0) & np.isfinite(m)
        n, m = n[keep], m[keep]

        def nll(logp: np.ndarray) -> float:
            p, q, v = np.exp(logp)
            ll = (
                gammaln(p * n + q)
                - gammaln(p * n)
                - gammaln(q)
                + q * np.log(v)
                + (p * n - 1) * np.log(m)
                + p * n * np.log(n)
                - (p * n + q) * np.log(n * m + v)
            )
            return -ll.mean()

        start = np.log([1.0, 3.0, max(float(np.median(m)), 1e-3)])
        res = minimize(nll, start, method="L-BFGS-B", bounds=[(-10, 12)] * 3)
        p, q, v = np.exp(res.x)
        return GammaGamma(float(p), float(q), float(v))

    def expected_value(self, n, m) -> np.ndarray:
        """Expected value of a customer's next purchase; the population mean without one."""
        n = np.asarray(n, dtype=float)
        m = np.nan_to_num(np.asarray(m, dtype=float))
        p, q, v = self.p, self.q, self.v
        population = p * v / (q - 1) if q > 1 else float("nan")
        with np.errstate(divide="ignore", invalid="ignore"):
            personal = p * (v + n * m) / (p * n + q - 1)
        return np.where(n >= 1, personal, population)


def summary_from_purchase_days(
    customers: np.ndarray, days: np.ndarray, values: np.ndarray, cutoff_day: float
) -> dict[str, np.ndarray]:
    """Per customer (sorted ids): x (repeat purchase days), t_x, T (days since the first
    purchase day to its last and to the cutoff), n (purchase days), m (mean value per
    purchase day). ``days``: day numbers of purchase days strictly before ``cutoff_day``."""
    order = np.lexsort((days, customers))
    c, d, v = customers[order], days[order], values[order]
    ids, start, counts = np.unique(c, return_index=True, return_counts=True)
    first = d[start]
    last = d[start + counts - 1]
    total = np.add.reduceat(v, start) if len(v) else np.zeros(0)
    return {
        "customer_id": ids,
        "x": (counts - 1).astype(float),
        "t_x": (last - first).astype(float),
        "T": (cutoff_day - first).astype(float),
        "n": counts.astype(float),
        "m": total / counts,
    }
