"""The GLM builder: validation, the design pass, the fit (IRLSM / L-BFGS, lambda search),
cross-validation, metrics and the model output (H2O-3's names and tables)."""
from __future__ import annotations

import math
import time

import numpy as np

from ...errors import InvalidParameter
from ..common import cv as cvmod
from ..common.design import DesignSpec, bind, bound_columns, build_spec, compute_stats, select_predictors
from ..common.early_stopping import stop_early
from ..common.model import Model, models_of, now_ms
from ..common.params import Problems, validate
from ..common.scoring import model_metrics, payload_of
from ..common.tables import cv_summary, scoring_history_table, table, varimp_table
from . import kernels
from .model import normalized_coefficients, raw_coefficients, transform_matrix
from .params import DEFAULT_LINK, GLM_PARAMS, glm_checks
from .solver import Problem, irlsm, lbfgs, p_values
from .tasks import cached_binomial_metrics, drop_inputs, new_session_id

__all__ = ["train_glm"]

_CLASSIFICATION = ("binomial", "quasibinomial", "multinomial")


def _resolve_family(p: dict, ycol, problems: Problems) -> tuple[str, list | None]:
    fam = p["family"]
    t = ycol.type.value
    if fam == "AUTO":
        if t == "enum":
            fam = "binomial" if len(ycol.domain or ()) <= 2 else "multinomial"
        else:
            fam = "gaussian"
    domain = None
    if fam in ("binomial", "quasibinomial"):
        if t == "enum":
            if len(ycol.domain or ()) > 2:
                problems.add("family", f"Family `{fam}` needs a response with 2 classes; `{ycol.name}` has "
                                       f"{len(ycol.domain)}. Use family multinomial.")
            domain = list(ycol.domain or ())
            while len(domain) < 2:
                domain.append(f"level{len(domain)}")
        elif t in ("string",):
            problems.add("y", f"The response `{ycol.name}` is a string column; convert it to categorical.")
        else:
            domain = ["0", "1"]
    elif fam == "multinomial":
        if t != "enum":
            problems.add("family", f"Family multinomial needs a categorical (enum) response; `{ycol.name}` is "
                                   f"{t}.")
        else:
            domain = list(ycol.domain or ())
    else:
        if t in ("enum", "string"):
            problems.add("family", f"Family `{fam}` needs a numeric response; `{ycol.name}` is {t}. Use family "
                                   f"binomial or multinomial for a categorical response.")
    return fam, domain


def _interaction_pairs(p: dict, header, problems: Problems) -> list[tuple[str, str]]:
    """All pairs of the ``interactions`` columns, the categorical one first."""
    names = list(dict.fromkeys(p.get("interactions") or []))
    special = {p["y"], p.get("weights_column"), p.get("offset_column"), p.get("fold_column")}
    ok = []
    for n in names:
        if n not in header:
            problems.add("interactions", f"Parameter `interactions`: column `{n}` is not in frame `{header.key}`.")
        elif n in special or header.column(n).type.value == "string":
            problems.add("interactions", f"Parameter `interactions`: column `{n}` cannot be a predictor (it is the "
                                         f"response, weights, offset or fold column, or a string column).")
        else:
            ok.append(n)
    pairs = []
    for i in range(len(ok)):
        for j in range(i + 1, len(ok)):
            a, b = ok[i], ok[j]
            ca, cb = header.column(a).type.value == "enum", header.column(b).type.value == "enum"
            if ca and cb:
                problems.add("interactions", f"Parameter `interactions`: `{a}` and `{b}` are both categorical; "
                                             f"interactions of two categorical columns are not available.")
                continue
            pairs.append((b, a) if cb else (a, b))
    return pairs


def _bounds(p: dict, spec: DesignSpec, problems: Problems) -> tuple[np.ndarray, np.ndarray]:
    m = spec.ncoef + 1
    lb = np.full(m, -np.inf)
    ub = np.full(m, np.inf)
    if p["non_negative"]:
        lb[1:] = 0.0
    bc = p.get("beta_constraints") or {}
    if bc:
        names = spec.coef_names()
        _sub, mul = spec.scales()
        index = {n: j for j, n in enumerate(names)}
        for name, b in bc.items():
            j = index.get(name)
            if j is None:
                problems.add("beta_constraints", f"Parameter `beta_constraints` names `{name}`, which is not a "
                                                 f"coefficient (coefficients: {', '.join(names[:30])}).")
                continue
            # raw = std * mul  =>  std bound = raw bound / mul (mul > 0)
            lo = float(b.get("lower_bound", -math.inf))
            hi = float(b.get("upper_bound", math.inf))
            lb[j + 1] = max(lb[j + 1], lo / mul[j])
            ub[j + 1] = min(ub[j + 1], hi / mul[j])
    return lb, ub


def train_glm(node, params: dict, job=None, model_key: str | None = None) -> Model:
    """Train a GLM; returns the model (the caller registers it)."""
    cache = {"session": new_session_id(), "members": None}
    try:
        return _train_glm(node, params, job, model_key, cache)
    finally:
        _drop_cache(node, cache)    # on failure or cancel too (normally already dropped before the metrics)


def _drop_cache(node, cache: dict) -> None:
    if cache["members"] is not None:
        members, cache["members"] = cache["members"], None
        drop_inputs(node, cache["session"], members)


def _train_glm(node, params: dict, job, model_key: str | None, cache: dict) -> Model:
    t0 = time.time()
    p = validate("glm", GLM_PARAMS, params, [glm_checks])
    problems = Problems("glm")
    header = node.catalog.get(p["training_frame"])
    valid_header = node.catalog.get(p["validation_frame"]) if p["validation_frame"] else None
    predictors = select_predictors(header, p, problems)
    if p["y"] not in header:
        problems.raise_if_any()
    ycol = header.column(p["y"])
    family, domain = _resolve_family(p, ycol, problems)
    if p["weights_column"] and p["weights_column"] in header and \
            header.column(p["weights_column"]).type.value in ("enum", "string"):
        problems.add("weights_column", f"Parameter `weights_column`: `{p['weights_column']}` must be numeric.")
    if p["offset_column"] and p["offset_column"] in header and \
            header.column(p["offset_column"]).type.value in ("enum", "string"):
        problems.add("offset_column", f"Parameter `offset_column`: `{p['offset_column']}` must be numeric.")
    if family == "multinomial" and p["offset_column"]:
        problems.add("offset_column", "Parameter `offset_column` is not available for family multinomial.")
    pairs = _interaction_pairs(p, header, problems)
    problems.raise_if_any()
    link = p["link"]
    if link == "family_default":
        link = DEFAULT_LINK[family]
    if family == "multinomial":
        link = "multinomial"
    if job is not None:
        job.update(0.02, "Computing column statistics")
    response_type = "enum" if ycol.type.value == "enum" else "numeric"
    stats = compute_stats(node, header, p["y"], predictors, p["weights_column"],
                          domain if response_type == "enum" else None, job=job, interactions=pairs)
    if stats["nobs"] == 0:
        raise InvalidParameter(f"Frame `{header.key}` has no rows with a response and a positive weight.",
                               {"frame": header.key})
    spec, dropped_const = build_spec(header, p["y"], response_type, domain, predictors, stats, p["standardize"],
                                     p["use_all_factor_levels"], p["missing_values_handling"], p["weights_column"],
                                     p["offset_column"], p["ignore_const_cols"], interactions=pairs)
    lb, ub = _bounds(p, spec, problems)
    problems.raise_if_any()
    if family == "multinomial":
        lb, ub = np.tile(lb, len(domain)), np.tile(ub, len(domain))
    solver = p["solver"]
    if solver == "AUTO":
        l1 = (p["alpha"] or 0) > 0 and (p["lambda_value"] is None or p["lambda_value"] > 0 or p["lambda_search"])
        bounded = bool(p["non_negative"] or p["beta_constraints"])
        solver = "L_BFGS" if spec.ncoef > 500 and not l1 and not bounded else "IRLSM"
    alpha = p["alpha"] if p["alpha"] is not None else (0.0 if solver == "L_BFGS" else 0.5)
    binding = bind(spec, header, need_response=True)
    folds = cvmod.fold_spec(p, header, _seed(p))
    cols = bound_columns(binding)
    if folds is not None and folds["kind"] == "Column":
        cols = sorted(set(cols) | {folds["col"]})
        if folds["nfolds"] is None:
            from ...store.rollups import compute_rollups
            r = compute_rollups(node, header.key)[folds["col"]]
            folds["nfolds"] = int(r.get("max") or 0) + 1
        if folds["nfolds"] < 2:
            raise InvalidParameter(f"Parameter `fold_column`: `{p['fold_column']}` must hold at least 2 folds.", {})
    vp = float(p["tweedie_variance_power"])
    lp = float(p["tweedie_link_power"])
    if link == "log" and family == "tweedie":
        link, lp = "tweedie", 0.0
    base = {"spec": spec.to_dict(), "binding": binding, "fam": kernels.FAMILIES.get(family, 1),
            "link": kernels.LINKS.get(link, 1), "vp": vp, "lp": lp, "theta": float(p["theta"]), "folds": folds,
            "starts": [int(s) for s in header.starts], "nclasses": 1,
            "session": cache["session"]}    # the training frame's decoded chunks stay cached until the fits end
    cache["members"] = list(header.members or ())
    obj_eps = p["objective_epsilon"]
    max_it = p["max_iterations"] if p["max_iterations"] > 0 else (
        500 if solver == "L_BFGS" else 300 if family == "multinomial" else 50)
    K = len(domain) if family == "multinomial" else 1
    prob = Problem(node=node, frame_key=header.key, columns=cols, base=base, p=spec.ncoef,
                   coef_names=spec.coef_names(), family=family, fam=base["fam"], link=base["link"], alpha=alpha,
                   lb=lb, ub=ub, intercept=bool(p["intercept"]), beta_epsilon=float(p["beta_epsilon"]),
                   objective_epsilon=-1.0, max_iterations=max_it, remove_collinear=bool(p["remove_collinear_columns"]),
                   nclasses=K, job=job,
                   deadline=(t0 + float(p["max_runtime_secs"])) if p["max_runtime_secs"] > 0 else 0.0,
                   final_gram=bool(p["compute_p_values"] or p["lambda_search"]))
    key = model_key or p["model_id"]
    registry = models_of(node)
    t_start = now_ms()

    def snapshot(pr: Problem) -> None:
        if key is not None:
            registry.building(key, {"model_id": key, "algo": "glm", "status": "RUNNING",
                                    "scoring_history": scoring_history_table(pr.history, t_start)})
        if job is not None:
            job.update(min(0.6, 0.05 + 0.01 * len(pr.history)), f"Iteration {len(pr.history)}")

    prob.on_iteration = snapshot

    # ---------------------------------------------------------------- null model and lambda_max
    y_mean = float(stats["y"]["mean"])
    beta0 = _start(family, base, y_mean, spec.ncoef, K, bool(p["intercept"]))
    null_fit, lambda_max = _null_model(prob, beta0, family, K)
    lam_ratio = p["lambda_min_ratio"]
    if lam_ratio < 0:
        lam_ratio = 1e-4 if stats["nobs"] > 25 * max(spec.ncoef, 1) else 1e-2
    lam_ratio = max(lam_ratio, 1e-12)
    fitter = _fitter(prob, solver, family, p)

    def set_eps(lam_value):
        prob.objective_epsilon = obj_eps if obj_eps > 0 else -1.0

    valid_frame = None
    if valid_header is not None:
        vbind = bind(spec, valid_header, need_response=True)
        valid_frame = (valid_header.key, bound_columns(vbind), {"binding": vbind, "folds": None, "fold_mode": None,
                                                                 "starts": [int(s) for s in valid_header.starts],
                                                                 "session": None})

    # ---------------------------------------------------------------- the fit (path or one lambda)
    if p["lambda_search"]:
        nl = p["nlambdas"] if p["nlambdas"] > 0 else 100
        lambdas = lambda_max * lam_ratio ** (np.arange(nl) / max(nl - 1, 1))
        if p["lambda_value"] is not None and p["lambda_value"] > 0:
            lambdas = lambdas[lambdas >= p["lambda_value"]]
    else:
        lv = p["lambda_value"]
        lambdas = np.array([lambda_max * lam_ratio if lv is None else float(lv)])
    set_eps(lambdas[0])
    path = _run_path(prob, fitter, null_fit.beta, lambdas, p, valid_frame, family, K)
    best = _select(path, p, valid_frame is not None)

    # ---------------------------------------------------------------- cross-validation
    cv_fits = []
    if folds is not None:
        nf = int(folds["nfolds"])
        cv_dev = np.zeros(len(path))
        for k in range(nf):
            if job is not None:
                job.update(0.6 + 0.2 * k / nf, f"Cross-validation model {k + 1} of {nf}")
            fprob = _copy_problem(prob, fold_mode="train", fold=k)
            fnull, _lm = _null_model(fprob, beta0, family, K)
            fpath = _run_path(fprob, _fitter(fprob, solver, family, p), fnull.beta, lambdas[:len(path)], p,
                              None, family, K, holdout=(k, True))
            for i, e in enumerate(fpath):
                cv_dev[i] += e.get("deviance_holdout", 0.0)
            cv_fits.append(fpath)
        if p["lambda_search"] and valid_frame is None:
            best = int(np.argmin(cv_dev[:len(path)]))
        cv_fits = [f[min(best, len(f) - 1)] for f in cv_fits]
    chosen = path[best]
    fit = chosen["fit"]

    # ---------------------------------------------------------------- output
    model = _assemble(node, key, p, spec, family, link, lp, vp, fit, chosen, path, null_fit, prob, dropped_const,
                      stats, solver, alpha, lambda_max, t0, t_start, domain)
    if job is not None:
        job.update(0.85, "Scoring the training frame")
    dist = _distribution(family, vp)
    model.output["training_metrics"] = _glm_metrics(_training_metrics(node, model, header.key, cache, job, dist),
                                                    fit, null_fit, model, spec)
    _drop_cache(node, cache)
    if model.category == "Binomial":
        model.output["default_threshold"] = model.output["training_metrics"].get("default_threshold") or 0.5
    if valid_header is not None:
        model.output["validation_metrics"] = model_metrics(node, model, valid_header.key, job=job, distribution=dist)
    if folds is not None:
        _cross_validate(node, model, header, folds, cv_fits, p, dist, job)
    model.output["run_time_ms"] = int((time.time() - t0) * 1000)
    return model


def _training_metrics(node, model: Model, frame_key: str, cache: dict, job, dist: dict) -> dict:
    """``model_metrics`` on the training frame; a binomial model's from the session's cached
    decoded rows while they are held (the same bits, without decoding the frame again)."""
    if model.category == "Binomial" and model.spec.get("cats") and cache["session"] is not None \
            and cache["members"] is not None:
        return cached_binomial_metrics(node, model, frame_key, cache["session"], job=job)
    return model_metrics(node, model, frame_key, job=job, distribution=dist)


def _seed(p: dict) -> int:
    s = int(p["seed"])
    if s == -1:
        s = int(np.random.SeedSequence().entropy % (2 ** 62))
        p["seed"] = s
    return s


def _start(family: str, base: dict, y_mean: float, ncoef: int, K: int, intercept: bool):
    if family == "multinomial":
        return np.zeros(K * (ncoef + 1))
    beta = np.zeros(ncoef + 1)
    if intercept:
        mu = y_mean
        if family in ("binomial", "quasibinomial"):
            mu = min(max(mu, 1e-6), 1 - 1e-6)
        elif base["fam"] >= 3 or base["link"] in (2, 3, 4):
            mu = max(mu, 1e-6)
        beta[0] = kernels.link_fn(base["link"], base["lp"], mu)
    return beta


def _null_model(prob: Problem, beta0, family: str, K: int):
    """The intercept-only fit and lambda_max (from the gradient at it)."""
    saved = set(prob.dropped)
    saved_hist = list(prob.history)
    saved_cb = prob.on_iteration
    saved_fg = prob.final_gram
    prob.on_iteration = None
    prob.final_gram = True          # its last pass is the first pass of the fit (cached with its Gram)
    prob.dropped = set(int(j) for j in np.nonzero(prob.pen_mask)[0])
    try:
        fit = _null_at_start(prob, beta0) if (prob.intercept and K == 1) else None
        if fit is None and prob.intercept:
            fit = irlsm(prob, beta0, 0.0, 50)     # its first pass at beta0 is the one just run (cached)
        elif fit is None:
            fit = irlsm(prob, np.zeros_like(beta0), 0.0, 1)
    finally:
        prob.dropped = saved
        prob.history = saved_hist
        prob.on_iteration = saved_cb
        prob.final_gram = saved_fg
    if prob.p == 0:
        return fit, 0.0
    g = float(np.max(np.abs(fit.grad[prob.pen_mask]))) / fit.weight_sum
    return fit, g / max(prob.alpha, 1e-3)


def _null_at_start(prob: Problem, beta0):
    """The intercept-only fit when the starting intercept (the link of the response mean) already
    solves it: one pass at ``beta0`` whose intercept-only IRLS step moves it by less than 1e-10
    (relatively), instead of that pass, the step and a second pass at the moved intercept. The fit
    that starts from the null model then reuses this pass (``Problem.run_pass`` caches it). None
    when the step moves (an offset, fold weights, ...): then ``irlsm`` runs as usual."""
    r = prob.run_pass(beta0)
    st = r["stats"]
    wsum = float(st[0])
    if not (wsum > 0) or st[4] > 0 or "G" not in r:
        return None
    g00, q0 = float(r["G"][0, 0]) / wsum, float(r["q"][0]) / wsum
    if not (g00 > 0):
        return None
    b0 = float(beta0[0])
    if abs(q0 / g00 - b0) > 1e-10 * max(1.0, abs(b0)):
        return None
    from .solver import Fit
    return Fit(beta=np.array(beta0, dtype=np.float64), deviance=float(st[1]), weight_sum=wsum, nobs=int(st[3]),
               pearson=float(st[2]), loglik=float(st[5]), gram=r.get("G"), iterations=0,
               objective=float(st[1]) / (2 * wsum), converged=True, grad=r["grad"])


def _fitter(prob: Problem, solver: str, family: str, p: dict):
    if solver == "L_BFGS":
        geps = p["gradient_epsilon"] if p["gradient_epsilon"] > 0 else 1e-6
        return lambda b, lam: lbfgs(prob, b, lam, geps, prob.max_iterations)
    return lambda b, lam: irlsm(prob, b, lam)


def _copy_problem(prob: Problem, fold_mode: str, fold: int) -> Problem:
    import dataclasses
    return dataclasses.replace(prob, fold_mode=fold_mode, fold=fold, history=[], on_iteration=None,
                               dropped=set(prob.dropped), passes=0, _last_pass=None)


def _eval_deviance(prob: Problem, beta, K: int, frame=None, holdout: int | None = None) -> float:
    kw = {}
    if holdout is not None:
        kw = {"fold_mode": "holdout", "fold": holdout}
    r = prob.run_pass(beta, want_gram=False, frame=frame, **kw)
    return float(r["stats"][1])


def _run_path(prob: Problem, fitter, start, lambdas, p: dict, valid_frame, family: str, K: int,
              holdout: tuple | None = None) -> list:
    path = []
    beta = np.array(start)
    dev_hist = []
    for i, lam in enumerate(lambdas):
        fit = fitter(beta, float(lam))
        beta = fit.beta
        entry = {"lambda": float(lam), "fit": fit, "deviance_train": fit.deviance, "iterations": fit.iterations,
                 "time": time.time()}
        if valid_frame is not None:
            entry["deviance_valid"] = _eval_deviance(prob, beta, K, frame=valid_frame)
        if holdout is not None:
            entry["deviance_holdout"] = _eval_deviance(prob, beta, K, holdout=holdout[0])
        path.append(entry)
        if prob.out_of_time():
            break
        if p["lambda_search"] and p["stopping_rounds"] > 0:
            dev_hist.append(entry.get("deviance_valid", entry.get("deviance_holdout", fit.deviance)))
            if stop_early(dev_hist, p["stopping_rounds"], p["stopping_tolerance"], False):
                break
    return path


def _select(path: list, p: dict, has_valid: bool) -> int:
    if not p["lambda_search"]:
        return len(path) - 1
    if has_valid:
        return int(np.argmin([e["deviance_valid"] for e in path]))
    return len(path) - 1


def _distribution(family: str, vp: float) -> dict:
    if family in ("gaussian", "poisson", "gamma"):
        return {"distribution": family}
    if family == "tweedie":
        if vp == 0:
            return {"distribution": "gaussian"}
        if vp == 1:
            return {"distribution": "poisson"}
        if vp == 2:
            return {"distribution": "gamma"}
        return {"distribution": "tweedie", "tweedie_power": vp}
    return {"distribution": "gaussian"}


def _aic(family: str, fit, rank: int) -> float | None:
    if family == "gaussian":
        n = fit.weight_sum
        return float(n * (math.log(2 * math.pi * fit.deviance / n) + 1) + 2 + 2 * rank) if fit.deviance > 0 else None
    if family in ("binomial", "poisson", "negativebinomial", "multinomial"):
        return float(-2 * fit.loglik + 2 * rank)
    return None


def _glm_metrics(m: dict, fit, null_fit, model: Model, spec: DesignSpec) -> dict:
    out = model.output
    m["null_deviance"] = out["null_deviance"]
    m["residual_deviance"] = out["residual_deviance"]
    m["null_degrees_of_freedom"] = out["null_degrees_of_freedom"]
    m["residual_degrees_of_freedom"] = out["residual_degrees_of_freedom"]
    m["AIC"] = out["aic"]
    if model.category == "Regression" and m.get("weight_sum"):
        m["mean_residual_deviance"] = out["residual_deviance"] / m["weight_sum"]
    return m


def _assemble(node, key, p, spec: DesignSpec, family, link, lp, vp, fit, chosen, path, null_fit, prob, dropped_const,
              stats, solver, alpha, lambda_max, t0, t_start, domain) -> Model:
    names = ["Intercept"] + spec.coef_names()
    multinomial = family == "multinomial"
    # quasibinomial responses are proportions in [0, 1]: the model predicts the mean (a regression)
    output: dict = {"model_category": ("Multinomial" if multinomial else
                                       "Binomial" if family == "binomial" else "Regression"),
                    "family": family, "link": link, "tweedie_variance_power": vp, "tweedie_link_power": lp,
                    "solver": solver, "alpha": alpha, "lambda_value": chosen["lambda"], "lambda_max": lambda_max,
                    "names": [c["name"] for c in spec.cats] + [n["name"] for n in spec.nums],
                    "coefficient_names": names, "response": spec.response, "domain": domain,
                    "dropped_constant_columns": dropped_const, "iterations": fit.iterations,
                    "converged": bool(fit.converged), "nobs": int(fit.nobs)}
    arrays = {"beta_std": _shaped(fit.beta, domain if multinomial else None)}
    if multinomial:
        B = arrays["beta_std"]
        rank = int(np.count_nonzero(B))
        raws = np.array([raw_coefficients(spec, b) for b in B])
        norms = np.array([normalized_coefficients(spec, r) for r in raws])
        arrays["beta"] = raws
        cols = ["names"] + [f"coefs_class_{k}" for k in range(len(domain))] + \
               [f"std_coefs_class_{k}" for k in range(len(domain))]
        rows = [[names[j]] + [raws[k, j] for k in range(len(domain))] + [norms[k, j] for k in range(len(domain))]
                for j in range(len(names))]
        output["coefficients_table"] = table("Coefficients", cols, ["string"] + ["double"] * (2 * len(domain)), rows,
                                             "glm multinomial coefficients")
        output["coefficients"] = {domain[k]: dict(zip(names, raws[k].tolist())) for k in range(len(domain))}
        output["standardized_coefficients"] = {domain[k]: dict(zip(names, norms[k].tolist()))
                                               for k in range(len(domain))}
        vi = np.abs(norms[:, 1:]).sum(axis=0)
    else:
        rank = int(np.count_nonzero(fit.beta))
        raw = raw_coefficients(spec, fit.beta)
        norm = normalized_coefficients(spec, raw)
        arrays["beta"] = raw
        cols = ["names", "coefficients"]
        types = ["string", "double"]
        pv = None
        if p["compute_p_values"]:
            dispersion_known = family in ("binomial", "poisson", "negativebinomial")
            dof = fit.nobs - rank
            dispersion = 1.0 if dispersion_known else fit.pearson / max(dof, 1)
            pv = p_values(fit, transform_matrix(spec), dispersion, None if dispersion_known else float(dof),
                          prob.dropped)
            output["dispersion"] = dispersion
            cols += ["std_error", "z_value", "p_value"]
            types += ["double"] * 3
            for k in ("std_error", "z_value", "p_value"):
                arrays[k] = pv[k]
        cols.append("standardized_coefficients")
        types.append("double")
        rows = []
        for j, nm in enumerate(names):
            row = [nm, raw[j]]
            if pv is not None:
                row += [pv["std_error"][j], pv["z_value"][j], pv["p_value"][j]]
            row.append(norm[j])
            rows.append(row)
        output["coefficients_table"] = table("Coefficients", cols, types, rows, "glm coefficients")
        output["coefficients"] = dict(zip(names, raw.tolist()))
        output["standardized_coefficients"] = dict(zip(names, norm.tolist()))
        vi = np.abs(norm[1:])
    output["dropped_collinear_columns"] = [names[j] for j in sorted(prob.dropped)]
    output["variable_importances"] = varimp_table(names[1:], vi)
    nobs = int(fit.nobs)
    output["null_deviance"] = float(null_fit.deviance)
    output["residual_deviance"] = float(fit.deviance)
    output["null_degrees_of_freedom"] = nobs - (1 if p["intercept"] else 0)
    output["residual_degrees_of_freedom"] = nobs - rank
    output["rank"] = rank
    output["aic"] = _aic(family, fit, rank)
    output["scoring_history"] = scoring_history_table(prob.history, t_start)
    if p["lambda_search"]:
        rows = []
        for e in path:
            b = _shaped(e["fit"].beta, domain if multinomial else None)
            nz = int(np.count_nonzero(b[..., 1:]))
            rows.append([e["lambda"], alpha, nz, e["deviance_train"] / max(null_fit.deviance, 1e-300),
                         1 - e["deviance_train"] / null_fit.deviance if null_fit.deviance > 0 else None,
                         e.get("deviance_valid")])
        output["regularization_path"] = table(
            "Regularization Path", ["lambda", "alpha", "predictors", "deviance_ratio_train",
                                    "explained_deviance_train", "deviance_valid"],
            ["double", "double", "int", "double", "double", "double"], rows, "lambda search")
        output["lambda_path"] = {"lambdas": [e["lambda"] for e in path],
                                 "coefficients": [raw_coefficients(spec, e["fit"].beta).tolist() if not multinomial
                                                  else [raw_coefficients(spec, bb).tolist()
                                                        for bb in _shaped(e["fit"].beta, domain)]
                                                  for e in path]}
    output["model_summary"] = table(
        "GLM Model", ["family", "link", "regularization", "lambda_search", "number_of_predictors_total",
                      "number_of_active_predictors", "number_of_iterations", "training_frame"],
        ["string", "string", "string", "string", "int", "int", "int", "string"],
        [[family, link, _reg_text(alpha, chosen["lambda"]), _search_text(p, path, lambda_max), len(names) - 1,
          rank - (1 if p["intercept"] else 0), fit.iterations, p["training_frame"]]])
    params_out = dict(p)
    params_out["alpha"] = alpha
    params_out["lambda_value"] = chosen["lambda"]
    params_out["solver"] = solver
    return Model(key=key, algo="glm", params=params_out, spec=spec.to_dict(), output=output, arrays=arrays,
                 created_ms=now_ms())


def _shaped(beta, domain) -> np.ndarray:
    """Flat fitted coefficients as stored: (p+1,) or, for multinomial, (K, p+1)."""
    b = np.asarray(beta, np.float64)
    return b.reshape(len(domain), -1) if domain is not None else b


def _reg_text(alpha: float, lam: float) -> str:
    if lam == 0:
        return "None"
    return f"Elastic Net (alpha = {alpha:g}, lambda = {lam:.4g} )"


def _search_text(p: dict, path: list, lmax: float) -> str:
    if not p["lambda_search"]:
        return "None"
    return f"nlambda = {len(path)}, lambda.max = {lmax:.4g}, lambda.min = {path[-1]['lambda']:.4g}"


def _cross_validate(node, model: Model, header, folds: dict, cv_fits: list, p: dict, dist: dict, job) -> None:
    """CV metrics from the combined holdout predictions, and the per-fold summary table."""
    base = payload_of(model)
    payloads = []
    for e in cv_fits:
        pl = dict(base)
        pl["beta"] = _shaped(e["fit"].beta, model.domain if model.output["family"] == "multinomial" else None)
        payloads.append(pl)
    keep = f"cv_holdout_prediction_{model.key}" if p["keep_cross_validation_predictions"] else None
    if job is not None:
        job.update(0.9, "Cross-validation metrics")
    model.output["cross_validation_metrics"] = model_metrics(node, model, header.key, job=job, payloads=payloads,
                                                             folds=folds, keep_as=keep, distribution=dist)
    if keep is not None:
        model.output["cross_validation_holdout_predictions_frame_id"] = keep
    per_fold = []
    for k in range(len(payloads)):
        only = [pl if j == k else None for j, pl in enumerate(payloads)]
        per_fold.append(model_metrics(node, model, header.key, job=job, payloads=only, folds=folds,
                                      distribution=dist))
    model.output["cross_validation_metrics_summary"] = cv_summary(per_fold, model.category)
    if model.output["family"] != "multinomial":
        spec = DesignSpec.from_dict(model.spec)
        model.output["cross_validation_models"] = [
            {"fold": k, "coefficients": dict(zip(model.output["coefficient_names"],
                                                 raw_coefficients(spec, pl["beta"]).tolist()))}
            for k, pl in enumerate(payloads)]
