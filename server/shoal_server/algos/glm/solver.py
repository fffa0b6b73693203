"""GLM solvers: IRLSM (Gram by map/reduce + elastic-net coordinate descent; for multinomial the
full Newton step over all classes, the Hessian's K x K blocks reduced the same way), L-BFGS for
wide data, and p-values.

Objective (H2O-3's, glmnet's): ``deviance / (2 Σw) + lambda * (alpha * |b|_1 + (1 - alpha) / 2 * |b|_2^2)``
on the standardized coefficients, the intercept not penalized. For gaussian it is scikit-learn's
``ElasticNet`` objective with ``alpha_sklearn = lambda`` and ``l1_ratio = alpha``; for binomial it
is ``LogisticRegression``'s with ``C = 1 / (lambda * n)`` (ridge part ``(1 - alpha)``).

Each IRLS iteration is one map/reduce pass (``glm.gram``) that also returns the deviance at the
current coefficients, so the last pass of a fit is always at the final coefficients (its Gram
gives the p-values). A pass that is likely the last one runs without the Gram (then, if the fit goes
on from it after all, once more with it). A step that increases the objective is halved (up to 20
times).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ...errors import InvalidParameter
from . import kernels
from .tasks import GramTask

__all__ = ["Problem", "irlsm", "lbfgs", "p_values", "penalty"]

_CD_TOL = 1e-13
_CD_MAX = 20000


@dataclass
class Problem:
    """Everything a fit needs; ``run_pass`` is one map/reduce pass over the training frame."""

    node: object
    frame_key: str
    columns: list
    base: dict                      # task params without beta / fold choice
    p: int                          # expanded predictor columns
    coef_names: list
    family: str
    fam: int
    link: int
    alpha: float
    lb: np.ndarray                  # bounds (p+1), standardized scale
    ub: np.ndarray
    intercept: bool
    beta_epsilon: float
    objective_epsilon: float
    max_iterations: int
    remove_collinear: bool
    nclasses: int = 1
    job: object = None
    fold_mode: str | None = None
    fold: int = -1
    history: list = field(default_factory=list)
    on_iteration: object = None
    passes: int = 0
    started: float = field(default_factory=time.time)
    dropped: set = field(default_factory=set)
    deadline: float = 0.0           # time.time() after which fits stop early (max_runtime_secs)
    final_gram: bool = True         # False: the pass at converged coefficients skips the Gram (no p-values)
    _last_pass: tuple | None = field(default=None, repr=False)

    @property
    def m(self) -> int:
        return self.p + 1

    @property
    def pen_mask(self) -> np.ndarray:
        """True for penalized coefficients (every one but the intercepts)."""
        return (np.arange(self.nclasses * self.m) % self.m) != 0

    def out_of_time(self) -> bool:
        return self.deadline > 0 and time.time() > self.deadline

    def run_pass(self, beta, want_gram=True, frame=None, fold_mode=None, fold=None):
        """One ``glm.gram`` pass at ``beta``. A pass over the training frame at the very coefficients
        of the previous one (the null model's last pass is the first pass of the fit that starts from
        it) is not run again: its result is deterministic, so the cached one has the same bits."""
        beta = np.ascontiguousarray(beta, dtype=np.float64)
        memo_key = None
        if frame is None:
            memo_key = (beta.tobytes(), self.fold_mode if fold_mode is None else fold_mode,
                        self.fold if fold is None else fold, self.nclasses)
            last = self._last_pass
            if last is not None and last[0] == memo_key and (last[1] or not want_gram):
                return last[2]
        r = self._run_pass(beta, want_gram, frame, fold_mode, fold)
        if memo_key is not None:
            self._last_pass = (memo_key, bool(want_gram), r)
        return r

    def _run_pass(self, beta, want_gram, frame, fold_mode, fold):
        params = dict(self.base)
        if frame is not None:
            key, cols, extra = frame
            params.update(extra)
        else:
            key, cols = self.frame_key, self.columns
            params["fold_mode"] = self.fold_mode if fold_mode is None else fold_mode
            params["fold"] = self.fold if fold is None else fold
        params["want_gram"] = bool(want_gram)
        params["beta"] = np.ascontiguousarray(beta, dtype=np.float64)
        params["nclasses"] = self.nclasses
        self.passes += 1
        r = self.node.runtime.run(GramTask.name, key, cols, params, job=self.job)
        if r is None:
            raise InvalidParameter(f"Frame `{key}` has no rows to train on.", {"frame": key})
        if self.nclasses > 1 and "G" in r:
            # the Newton quadratic model: ½ b'Hb - (Hb₀ + g)'b
            r = dict(r, q=r["G"] @ np.asarray(beta, np.float64) + r["grad"])
        if self.job is not None:
            self.job.check()
        return r

    @property
    def bounded(self) -> bool:
        mask = self.pen_mask
        return bool(np.any(np.isfinite(self.lb[mask])) or np.any(np.isfinite(self.ub[mask])))


def penalty(beta: np.ndarray, lam: float, alpha: float, mask: np.ndarray | None = None) -> float:
    b = np.ravel(beta)
    b = b[1:] if mask is None else b[mask]
    return float(lam * (alpha * np.abs(b).sum() + 0.5 * (1 - alpha) * (b * b).sum()))


def _active(prob: Problem) -> np.ndarray:
    act = np.ones(prob.nclasses * prob.m, dtype=bool)
    act[~prob.pen_mask] = prob.intercept
    for j in prob.dropped:
        act[j] = False
    return act


def solve_quadratic(prob: Problem, G: np.ndarray, q: np.ndarray, beta: np.ndarray, lam: float) -> np.ndarray:
    """Minimise ½ b'Gb - q'b + penalty(b) (within bounds), warm-started at ``beta``."""
    act = _active(prob)
    if lam == 0 and not prob.bounded and prob.nclasses > 1:
        # softmax coefficients are identified only up to a shift: take the minimum-norm Newton step
        idx = np.nonzero(act)[0]
        out = np.zeros_like(beta)
        if idx.size:
            out[idx] = np.linalg.lstsq(G[np.ix_(idx, idx)], q[idx], rcond=1e-12)[0]
        return out
    if lam == 0 and not prob.bounded:
        keep = act & (np.diag(G) > 0) | (act & (np.arange(len(act)) == 0))
        keep = keep.copy()
        out = np.zeros_like(beta)
        dropped = kernels.cholesky_collinear_solve(np.ascontiguousarray(G), 1e-10, keep, np.ascontiguousarray(q),
                                                   out)
        if dropped:
            newly = [j for j in range(1, prob.p + 1) if act[j] and not keep[j]]
            if not prob.remove_collinear:
                names = [prob.coef_names[j - 1] for j in newly]
                raise InvalidParameter(
                    f"The predictors are collinear: {', '.join(names[:20])} "
                    f"{'is a linear combination' if len(names) == 1 else 'are linear combinations'} of earlier "
                    f"columns. Set remove_collinear_columns=True, or regularize (lambda_value > 0).",
                    {"columns": names[:100]})
            prob.dropped.update(newly)
            if not keep[0] and prob.intercept:
                raise InvalidParameter("The intercept is collinear with the predictors; set intercept=False or "
                                       "use_all_factor_levels=False.", {})
        return out     # the Cholesky solve of the kept columns (the dropped ones are 0)
    mask = prob.pen_mask
    l1 = np.where(mask, lam * prob.alpha, 0.0)
    l2 = np.where(mask, lam * (1 - prob.alpha), 0.0)
    b = np.where(act, beta, 0.0).copy()
    b = np.minimum(np.maximum(b, prob.lb), prob.ub)
    kernels.cd_solve(np.ascontiguousarray(G), np.ascontiguousarray(q), b, l1, l2, prob.lb, prob.ub, act, _CD_TOL,
                     _CD_MAX)
    return b


@dataclass
class Fit:
    beta: np.ndarray
    deviance: float
    weight_sum: float
    nobs: int
    pearson: float
    loglik: float
    gram: np.ndarray | None
    iterations: int
    objective: float
    converged: bool
    grad: np.ndarray | None = None


def _exact_in_one_step(prob: Problem) -> bool:
    return prob.fam == 0 and prob.link == 0


def irlsm(prob: Problem, beta0: np.ndarray, lam: float, max_iterations: int | None = None) -> Fit:
    """Iteratively reweighted least squares with the elastic-net inner solve."""
    beta = np.array(beta0, dtype=np.float64)
    max_it = max_iterations or prob.max_iterations
    prev_beta, prev_obj = None, math.inf
    prev_rel = math.inf             # the relative objective change of the last accepted step
    halvings = 0
    done = False
    it = 0
    r = None
    while True:
        # The Gram of a pass is used only when the fit goes on from it (or for p-values). The pass at
        # coefficients whose step already met beta_epsilon, or after the last iteration, only
        # confirms the objective; near the optimum (Newton's steps converge quadratically: the next
        # relative change is about the square of the last) the pass is likely the last one too. Those
        # passes run without the Gram (their deviance and score are the same bits); a pass the fit
        # goes on from after all is run again with it.
        likely_last = (done or it >= max_it or
                       (prob.objective_epsilon > 0 and prev_rel * prev_rel <= 10 * prob.objective_epsilon))
        r = prob.run_pass(beta, want_gram=prob.final_gram or not likely_last)
        st = r["stats"]
        wsum = float(st[0])
        if wsum <= 0:
            raise InvalidParameter("No rows to train on: every row has a missing response, a zero weight or "
                                   "(with missing_values_handling=Skip) a missing predictor.", {})
        invalid = st[4] > 0
        obj = float(st[1]) / (2 * wsum) + penalty(beta, lam, prob.alpha, prob.pen_mask)
        if prev_beta is not None and (invalid or obj > prev_obj * (1 + 1e-12) + 1e-300) and halvings < 20:
            beta = 0.5 * (prev_beta + beta)
            halvings += 1
            done = False
            continue
        if invalid:
            raise InvalidParameter(f"The fitted means left the range of family `{prob.family}` (e.g. a negative "
                                   f"mean with an identity link); try the family's default link.", {})
        halvings = 0
        prob.history.append({"iteration": it, "lambda": lam, "deviance": float(st[1]), "objective": obj,
                             "time": time.time()})
        if prob.on_iteration is not None:
            prob.on_iteration(prob)
        converged_obj = (prob.objective_epsilon > 0 and math.isfinite(prev_obj)
                         and abs(prev_obj - obj) <= prob.objective_epsilon * max(abs(obj), 1e-300))
        if done or converged_obj or it >= max_it or prob.out_of_time():
            break
        if "G" not in r:
            r = prob.run_pass(beta, want_gram=True)
        G = r["G"] / wsum
        q = r["q"] / wsum
        new = solve_quadratic(prob, G, q, beta, lam)
        delta = float(np.max(np.abs(new - beta))) if new.size else 0.0
        if math.isfinite(prev_obj):
            prev_rel = abs(prev_obj - obj) / max(abs(obj), 1e-300)
        prev_beta, prev_obj = beta, obj
        beta = new
        it += 1
        if delta < prob.beta_epsilon or _exact_in_one_step(prob):
            done = True
    st = r["stats"]
    return Fit(beta=beta, deviance=float(st[1]), weight_sum=float(st[0]), nobs=int(st[3]), pearson=float(st[2]),
               loglik=float(st[5]), gram=r.get("G"), iterations=it, objective=obj, converged=done or converged_obj,
               grad=r["grad"])


def lbfgs(prob: Problem, beta0: np.ndarray, lam: float, gradient_epsilon: float, max_iterations: int,
          memory: int = 10) -> Fit:
    """L-BFGS on the ridge objective; each evaluation is one Gram-free map/reduce pass."""
    act = _active(prob).astype(np.float64)
    l2 = lam * (1 - prob.alpha)

    def evaluate(b):
        r = prob.run_pass(b, want_gram=False)
        st = r["stats"]
        wsum = float(st[0])
        if wsum <= 0:
            raise InvalidParameter("No rows to train on.", {})
        mask = prob.pen_mask
        f = float(st[1]) / (2 * wsum) + 0.5 * l2 * float((b[mask] ** 2).sum())
        g = -r["grad"] / wsum
        g[mask] += l2 * b[mask]
        return f, g * act, r

    x = np.array(beta0, dtype=np.float64) * act
    f, g, r = evaluate(x)
    S, Y = [], []
    it = 0
    converged = False
    while it < max_iterations:
        if float(np.max(np.abs(g))) < gradient_epsilon:
            converged = True
            break
        qv = g.copy()
        alphas = []
        for s, yv in reversed(list(zip(S, Y))):
            rho = 1.0 / float(yv @ s)
            a = rho * float(s @ qv)
            alphas.append((a, rho, s, yv))
            qv -= a * yv
        if S:
            gamma = float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1])
            qv *= gamma
        else:
            qv *= 1.0 / max(float(np.max(np.abs(g))), 1.0)
        for a, rho, s, yv in reversed(alphas):
            bcoef = rho * float(yv @ qv)
            qv += s * (a - bcoef)
        d = -qv
        if float(d @ g) >= 0:
            d = -g
            S.clear()
            Y.clear()
        step = 1.0
        for _ in range(40):
            xn = x + step * d
            fn, gn, rn = evaluate(xn)
            if fn <= f + 1e-4 * step * float(d @ g):
                break
            step *= 0.5
        else:
            break
        s, yv = xn - x, gn - g
        if float(s @ yv) > 1e-300:
            S.append(s)
            Y.append(yv)
            if len(S) > memory:
                S.pop(0)
                Y.pop(0)
        rel = abs(f - fn) / max(abs(fn), 1e-300)
        x, f, g, r = xn, fn, gn, rn
        it += 1
        prob.history.append({"iteration": it, "lambda": lam, "deviance": float(r["stats"][1]), "objective": f,
                             "time": time.time()})
        if prob.on_iteration is not None:
            prob.on_iteration(prob)
        if prob.objective_epsilon > 0 and rel < prob.objective_epsilon:
            converged = True
            break
        if prob.out_of_time():
            break
    st = r["stats"]
    return Fit(beta=x, deviance=float(st[1]), weight_sum=float(st[0]), nobs=int(st[3]), pearson=float(st[2]),
               loglik=float(st[5]), gram=None, iterations=it, objective=f, converged=converged)


# ------------------------------------------------------------------------------------------- p-values
def _betacf(a, b, x):
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            de = d * c
            h *= de
        if abs(de - 1.0) < 1e-16:
            break
    return h


def _betainc(a, b, x):
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def two_sided_p(z: float, df: float | None) -> float:
    """Two-sided p value of ``z``: normal when ``df`` is None, else Student t with ``df``."""
    if not math.isfinite(z):
        return math.nan
    if df is None:
        return math.erfc(abs(z) / math.sqrt(2.0))
    return _betainc(df / 2.0, 0.5, df / (df + z * z))


def p_values(fit: Fit, T: np.ndarray, dispersion: float, df: float | None, dropped: set) -> dict:
    """Standard errors, z and p of the raw coefficients (``T`` maps standardized to raw)."""
    m = fit.beta.shape[0]
    keep = np.array([j not in dropped for j in range(m)])
    G = fit.gram
    cov = np.full((m, m), np.nan)
    idx = np.nonzero(keep & (np.diag(G) > 0))[0]
    cov_k = np.linalg.inv(G[np.ix_(idx, idx)]) * dispersion
    full = np.zeros((m, m))
    full[np.ix_(idx, idx)] = cov_k
    cov = T @ full @ T.T
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    raw = T @ fit.beta
    se = np.where(keep, se, np.nan)
    z = raw / se
    p = np.array([two_sided_p(float(zz), df) for zz in z])
    return {"std_error": se, "z_value": z, "p_value": p}
