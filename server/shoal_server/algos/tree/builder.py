"""Training of GBM and DRF on the shared engine: validation, binning, the boosting / forest loop,
scoring history with early stopping, checkpoints, and the assembled model."""
from __future__ import annotations

import math
import time

import numpy as np

from ...errors import InvalidParameter
from ..common.cv import fold_spec
from ..common.design import response_mapping, select_predictors
from ..common.early_stopping import MORE_IS_BETTER, stop_early
from ..common.model import Model, models_of, now_ms
from ..common.params import Problems, validate
from ..common.tables import table, varimp_table
from . import engine as E
from .losses import init_raw
from .model import code_space, make_spec, tree_payload, trees_to_arrays, varimp

__all__ = ["train_tree_model"]

#: Fold a tree's ``tree.update`` into the next tree's ``tree.grad`` when no scoring pass reads the
#: predictions in between (the same model bits either way; off only to compare the two paths).
FUSED_PASSES = True
#: grow one-tree-per-iteration GBMs with the row partition (``EngineParams.partition``); the
#: tests switch it off to compare the two paths bit for bit
PARTITION = True
#: classes × rows above which a multinomial GBM keeps the level-by-level routing (memory)
PARTITION_MAX_CLASS_ROWS = 50_000_000


def _seed(p: dict) -> int:
    s = int(p.get("seed", -1))
    if s < 0:
        s = int(np.random.SeedSequence().entropy % (2 ** 62))
    return s


def _resolve(algo: str, p: dict, header, problems: Problems):
    y = p["y"]
    if y not in header:
        return None, None, None
    col = header.column(y)
    is_enum = col.type.value == "enum"
    domain = list(col.domain or ()) if is_enum else None
    if algo == "gbm":
        d = p["distribution"]
        if d == "AUTO":
            d = ("bernoulli" if len(domain) <= 2 else "multinomial") if is_enum else "gaussian"
        if d in ("bernoulli", "multinomial") and not is_enum:
            problems.add("distribution", f"Distribution `{d}` needs a categorical response; column `{y}` is "
                                         f"{col.type.value}. Convert it with asfactor first.")
        if is_enum and d not in ("bernoulli", "multinomial"):
            problems.add("distribution", f"Distribution `{d}` needs a numeric response; column `{y}` is categorical.")
        if d in ("bernoulli", "multinomial") and not is_enum:
            return d, "Regression", None
        if d == "bernoulli" and len(domain) > 2:
            problems.add("distribution", f"Distribution `bernoulli` needs 2 classes; column `{y}` has {len(domain)}.")
        category = ("Binomial" if d == "bernoulli" else "Multinomial" if d == "multinomial" else "Regression")
        if category == "Binomial" and len(domain) < 2:
            domain = domain + [f"level{i}" for i in range(len(domain), 2)]
        return d, category, domain
    if is_enum:
        if len(domain) < 2:
            domain = domain + [f"level{i}" for i in range(len(domain), 2)]
        return "drf", "Binomial" if len(domain) == 2 else "Multinomial", domain
    return "drf", "Regression", None


def _dist_dict(d: str, p: dict, category: str) -> dict:
    out = {"distribution": d, "tweedie_power": float(p.get("tweedie_power", 1.5) or 1.5),
           "quantile_alpha": float(p.get("quantile_alpha", 0.5) if p.get("quantile_alpha") is not None else 0.5),
           "huber_delta": 1.0}
    if d == "drf":
        out["classification"] = category != "Regression"
    return out


def _metric_dist(dist: dict) -> dict:
    d = dist["distribution"]
    if d in ("drf", "bernoulli", "multinomial"):
        d = "gaussian"
    return {"distribution": d, "tweedie_power": dist["tweedie_power"], "quantile_alpha": dist["quantile_alpha"],
            "huber_delta": dist["huber_delta"]}


def _call_params(fn, *args, nrow: int):
    # the metrics builders' parameter helper gained a row-count argument (for auc_type AUTO)
    try:
        return fn(*args, nrow)
    except TypeError:
        return fn(*args)


def _session_metrics(node, frame_key: str, session: str, cols: list[int], category: str, domain, dist: dict,
                     drf: bool, ntrees: int, oob: bool, weighted: bool) -> dict:
    from ...metrics import binomial as mb, multinomial as mm, regression as mr
    nrow = node.catalog.get(frame_key).nrow
    base = {"session": session, "category": category, "dist": dist, "drf": drf, "ntrees": ntrees, "oob": oob}
    if category == "Binomial":
        mp = _call_params(mb._params, weighted or oob, domain, "exact", 400, 400, nrow=nrow)
        r = node.runtime.run(E.TreeMetrics.name, frame_key, cols, dict(base, mparams=mp))
        return mb.finish(r["p"], mp)
    if category == "Multinomial":
        mp = _call_params(mm._params, len(domain), weighted or oob, domain, "exact", nrow=nrow)
        r = node.runtime.run(E.TreeMetrics.name, frame_key, cols, dict(base, mparams=mp))
        return mm.finish(r["p"], mp)
    dm = mr.normalize_distribution(**_metric_dist(dist))
    main = node.runtime.run(E.TreeMetrics.name, frame_key, cols, dict(base, dist_m=dm))["p"]
    center = None
    if main["nobs"]:
        center = node.runtime.run(E.TreeMetrics.name, frame_key, cols,
                                  dict(base, dist_m=dm, ybar=mr.mean_of(main)))["p"]
    return mr.finish(main, center, dm)


_HIST_KEYS = {"Regression": ("rmse", "mae", "mean_residual_deviance"),
              "Binomial": ("rmse", "logloss", "auc", "aucpr", "err"),
              "Multinomial": ("rmse", "logloss", "err")}


def _stopping_value(m: dict, metric: str, category: str):
    if metric == "AUTO":
        metric = "logloss" if category != "Regression" else "deviance"
    key = {"deviance": "mean_residual_deviance", "logloss": "logloss", "MSE": "mse", "RMSE": "rmse", "MAE": "mae",
           "AUC": "auc", "AUCPR": "aucpr", "misclassification": "err",
           "mean_per_class_error": "mean_per_class_error"}[metric]
    return m.get(key), MORE_IS_BETTER.get(metric, False)


def _interval(p: dict, t: int, ntrees: int) -> bool:
    sti = int(p.get("score_tree_interval") or 0)
    if t == ntrees:
        return True
    if sti > 0:
        return t % sti == 0
    return t <= 5 or t % 5 == 0


def train_tree_model(node, algo: str, specs, p_in: dict, job=None, model_key: str | None = None) -> Model:
    """Validate ``p_in`` against ``specs``, train a GBM (``algo="gbm"``) or DRF, return the model.

    With ``nfolds`` / ``fold_column`` the fold models are trained first (each on the rows outside
    its fold, as a weight mask), then the main model on every row; the cross-validation metrics
    score each training row with the model that did not see it.
    """
    p = validate(algo, specs, p_in)
    header = node.catalog.get(p["training_frame"])
    if job is not None and float(p.get("max_runtime_secs") or 0.0) > 0:
        job = _KeepTreesJob(job)
    folds = None
    if p.get("nfolds") or p.get("fold_column"):
        pr = Problems(algo)
        if p.get("nfolds") and p.get("fold_column"):
            pr.add("nfolds", f"Parameters `nfolds` and `fold_column` of `{algo}` exclude each other; set one.")
        if p.get("nfolds") == 1:
            pr.add("nfolds", f"Parameter `nfolds` of `{algo}` must be 0 or at least 2; got 1.")
        pr.raise_if_any()
        p["seed"] = _seed(p)
        folds = fold_spec(p, header, p["seed"])
        if folds is not None and folds.get("nfolds") is None:
            folds["nfolds"] = _fold_count(node, header, folds)
    if folds is None:
        return _train(node, algo, p, header, job, model_key)
    cv_models = []
    k_folds = int(folds["nfolds"])
    for k in range(k_folds):
        if job is not None:
            job.update(progress=0.8 * k / (k_folds + 1), message=f"Cross-validation model {k + 1} of {k_folds}")
        fp = dict(p, validation_frame=None, stopping_rounds=0)
        cv_models.append(_train(node, algo, fp, header, job, None, fold=(folds, k)))
    model = _train(node, algo, p, header, job, model_key)
    from ..common.scoring import model_metrics
    from ..common.tables import cv_summary
    payloads = [tree_payload(m) for m in cv_models]
    dist = _framework_distribution(model)
    keep = f"cv_holdout_prediction_{model_key}" if p.get("keep_cross_validation_predictions") and model_key else None
    model.output["cross_validation_metrics"] = model_metrics(node, model, header.key, job=job, payloads=payloads,
                                                             folds=folds, keep_as=keep, distribution=dist)
    if keep is not None:
        model.output["cross_validation_holdout_predictions_frame_id"] = keep
    per_fold = [model_metrics(node, model, header.key, job=job, payloads=[pl if j == k else None
                                                                          for j, pl in enumerate(payloads)],
                              folds=folds, distribution=dist) for k in range(k_folds)]
    model.output["cross_validation_metrics_summary"] = cv_summary(per_fold, model.category)
    model.output["cross_validation_models"] = [{"fold": k, "ntrees": m.output["ntrees"]}
                                               for k, m in enumerate(cv_models)]
    return model


class _KeepTreesJob:
    """A job whose time limit does not abort training: the builder stops after the tree that passes
    ``max_runtime_secs`` and keeps the trees built so far (H2O-3's behaviour). Cancellation still
    raises."""

    def __init__(self, job):
        self._job = job

    def check(self) -> None:
        if self._job.cancel_requested:
            self._job.check()

    def __getattr__(self, name):
        return getattr(self._job, name)


def _framework_distribution(model) -> dict:
    d = model.output["dist"]
    name = model.output["distribution"]
    if name in ("bernoulli", "multinomial", "drf"):
        name = "gaussian"
    return {"distribution": name, "tweedie_power": d.get("tweedie_power"), "quantile_alpha": d.get("quantile_alpha"),
            "huber_delta": d.get("huber_delta")}


def _fold_count(node, header, folds) -> int:
    from ...store import codecs as _c
    mx = -1
    for i in range(header.nchunks):
        home = header.members[i % len(header.members)] if header.members else node.self_id
        if home != node.self_id:
            continue
        v = _c.decode_float64(node.chunks.get(header.key, folds["col"], i))
        v = v[np.isfinite(v)]
        if v.size:
            mx = max(mx, int(v.max()))
    return max(mx + 1, 2)


def _train(node, algo: str, p: dict, header, job, model_key, fold=None) -> Model:
    t_start = now_ms()
    problems = Problems(algo)
    dist_name, category, domain = _resolve(algo, p, header, problems)
    predictors = select_predictors(header, p, problems)
    vheader = node.catalog.get(p["validation_frame"]) if p.get("validation_frame") else None
    mono = p.get("monotone_constraints") or {}
    for name, v in mono.items():
        if name not in predictors:
            problems.add("monotone_constraints", f"Parameter `monotone_constraints`: `{name}` is not a predictor.")
        elif v not in (-1, 0, 1):
            problems.add("monotone_constraints", f"Parameter `monotone_constraints`: `{name}` must be -1, 0 or 1; "
                                                 f"got {v!r}.")
        elif header.column(name).type.value == "enum" and v != 0:
            problems.add("monotone_constraints", f"Parameter `monotone_constraints`: `{name}` is categorical.")
    if algo == "gbm" and mono and dist_name == "multinomial":
        problems.add("monotone_constraints", "Monotone constraints are not available for the multinomial distribution.")
    prev = None
    if p.get("checkpoint"):
        prev = models_of(node).find(p["checkpoint"])
        if prev is None or prev.algo != algo:
            problems.add("checkpoint", f"Parameter `checkpoint`: `{p['checkpoint']}` is not a {algo} model.")
        elif int(prev.output["ntrees"]) >= int(p["ntrees"]):
            problems.add("checkpoint", f"Parameter `ntrees` ({p['ntrees']}) must exceed the checkpoint model's "
                                       f"{prev.output['ntrees']} trees.")
    problems.raise_if_any()
    seed = _seed(p)
    drf = algo == "drf"

    # predictors: categoricals first, then numerics (the design spec order)
    cats = [n for n in predictors if header.column(n).type.value == "enum"]
    nums = [n for n in predictors if header.column(n).type.value != "enum"]
    if prev is not None:
        cats = [c["name"] for c in prev.spec["cats"]]
        nums = [c["name"] for c in prev.spec["nums"]]
    names = cats + nums
    kinds = ["cat"] * len(cats) + ["num"] * len(nums)
    cat_domains = {n: list(header.column(n).domain or ()) for n in cats}
    if prev is not None:
        cat_domains = {c["name"]: list(c["domain"]) for c in prev.spec["cats"]}
        domain = prev.spec["response_domain"]

    def frame_params(h):
        cols = [h.col_index(n) for n in names]
        level_maps = []
        for n in names:
            if n in cat_domains:
                idx = {lv: i for i, lv in enumerate(cat_domains[n])}
                level_maps.append([idx.get(lv, -1) for lv in (h.column(n).domain or ())])
            else:
                level_maps.append([])
        yi = h.col_index(p["y"]) if p["y"] in h else None
        wi = h.col_index(p["weights_column"]) if p.get("weights_column") else None
        oi = h.col_index(p["offset_column"]) if p.get("offset_column") else None
        fc = None
        if fold is not None and fold[0].get("kind") == "Column" and h is header:
            fc = fold[0]["col"]
        needed = sorted(set(cols + [c for c in (yi, wi, oi, fc) if c is not None]))
        return {"cols": cols, "kinds": kinds, "level_maps": level_maps, "cards": [len(cat_domains.get(n, ())) for n in names],
                "y": yi, "y_type": "enum" if domain is not None else "numeric",
                "y_map": response_mapping(h, p["y"], domain) if domain is not None and yi is not None else None,
                "w": wi, "offset": oi, "needed": needed, "starts": [int(s) for s in h.starts]}

    fp = frame_params(header)
    if fold is not None:
        fp["folds"], fp["fold"] = fold[0], int(fold[1])
    K = 1
    if category == "Multinomial" or (drf and category == "Binomial" and p.get("binomial_double_trees")):
        K = len(domain)
    fp["K"] = K
    htype = p["histogram_type"]
    if htype == "AUTO":
        htype = "UniformAdaptive"
    if prev is not None:
        bins = [E.ColumnBins(**b) for b in _bins_from_output(prev)]
        _b2, stats = E.compute_bins(node, header, names, kinds, fp, htype, p["nbins"], p["nbins_top_level"],
                                    p["nbins_cats"], job=job)
    else:
        bins, stats = E.compute_bins(node, header, names, kinds, fp, htype, p["nbins"], p["nbins_top_level"],
                                     p["nbins_cats"], job=job)
    dist = _dist_dict(dist_name, p, category)
    _check_response(algo, dist_name, p["y"], stats)
    qdist = dist_name in ("laplace", "quantile", "huber")
    if drf:
        init_f = np.zeros(K)
    elif prev is not None:
        init_f = np.asarray(prev.output["init_f"], np.float64)
        if qdist:
            dist = dict(prev.output["dist"])
    elif qdist:
        init_f = np.zeros(1)  # set after the session exists (a quantile of the response)
    else:
        init_f = init_raw(dist, stats["sums"], K)
    spec = make_spec(p["y"], "enum" if domain is not None else "numeric", domain, bins, cat_domains,
                     p.get("weights_column"), p.get("offset_column"), stats["nrows"], stats["sums"][0])
    arrays = None
    start_tree = 0
    history: list[dict] = []
    if prev is not None:
        arrays = {k: np.asarray(v) for k, v in prev.arrays.items()}
        start_tree = int(prev.output["ntrees"])
        history = list(prev.output.get("scoring_history_rows") or [])
    ck_payload = tree_payload(prev) if prev is not None else None
    mono_arr = np.array([int(mono.get(n, 0)) for n in names], np.int64) if mono else None
    if drf:
        mtries = int(p["mtries"])
        pp = len(names)
        if mtries == -1:
            mtries = max(1, int(math.sqrt(pp)) if category != "Regression" else pp // 3 or 1)
        elif mtries == -2 or mtries == 0:
            mtries = pp
        mtries = min(mtries, pp)
    else:
        mtries = 0
    ep = E.EngineParams(max_depth=int(p["max_depth"]), min_rows=float(p["min_rows"]),
                        min_split_improvement=float(p["min_split_improvement"]), nbins=int(p["nbins"]),
                        nbins_top_level=int(p["nbins_top_level"]), histogram_type=htype, seed=seed,
                        col_sample_rate=float(p.get("col_sample_rate", 1.0)),
                        col_sample_rate_per_tree=float(p["col_sample_rate_per_tree"]), mtries=mtries,
                        monotone=mono_arr,
                        max_abs_leafnode_pred=float(p.get("max_abs_leafnode_pred", math.inf)),
                        # GBMs whose rows' leaves are read only by tree.update (no leaf refitted
                        # from its rows); a class's groups take 40-56 bytes a row
                        partition=PARTITION and not drf and not qdist
                        and K * int(stats["nrows"]) <= PARTITION_MAX_CLASS_ROWS)
    lr0 = float(p.get("learn_rate", 1.0))
    anneal = float(p.get("learn_rate_annealing", 1.0))
    ntrees = int(p["ntrees"])

    sess = E.new_session_id()
    vsess = E.new_session_id() if vheader is not None else None
    setup = {"session": sess, "level_bin": [b.level_bin if b.kind == "cat" else [] for b in bins],
             "edges": [b.edges if b.kind == "num" else [] for b in bins], "init_f": list(init_f), "drf": drf,
             "checkpoint": ck_payload}
    vfp = None
    try:
        node.runtime.run(E.TreeSetup.name, header.key, fp["needed"], dict(fp, **setup), job=job)
        if vheader is not None:
            vfp = frame_params(vheader)
            vfp["K"] = K
            node.runtime.run(E.TreeSetup.name, vheader.key, vfp["needed"], {**vfp, **setup, "session": vsess, "drf": False},
                             job=job)
        cols0 = [fp["needed"][0]]
        if qdist and prev is None:
            from .quantiles import session_quantiles, shift_predictions
            wscale = E.quant_scale(stats["maxw"], max(stats["nrows"], 1))
            alpha = dist["quantile_alpha"] if dist_name == "quantile" else 0.5
            med = float(session_quantiles(node, header.key, sess, cols0, alpha, "init", 1, wscale)[0])
            med = med if math.isfinite(med) else 0.0
            if dist_name == "huber":
                dq = session_quantiles(node, header.key, sess, cols0, float(p["huber_alpha"]), "init", 1, wscale,
                                       absdev=med)[0]
                dist["huber_delta"] = float(max(dq, 1e-10)) if math.isfinite(dq) else 1.0
            init_f = np.array([med])
            shift_predictions(node, header.key, sess, cols0, init_f)
            if vsess is not None:
                shift_predictions(node, vheader.key, vsess, [vfp["needed"][0]], init_f)
        weighted = bool(p.get("weights_column"))
        stopped_early = False
        stopped_by_runtime = False
        mrs = float(p.get("max_runtime_secs") or 0.0)
        deadline = time.monotonic() - (now_ms() - t_start) / 1000.0 + mrs if mrs > 0 else 0.0
        train_m = valid_m = None
        t = start_tree
        classes = list(range(K))
        # the last tree's prediction update, when nothing reads the predictions before the next
        # tree: the next tree.grad applies it in its own pass (one pass over the rows instead of two)
        deferred = None
        fuse = FUSED_PASSES
        grown: list = []
        for t in range(start_tree + 1, ntrees + 1):
            if job is not None:
                job.check()
            lr = 1.0 if drf else lr0 * anneal ** (t - 1)
            gp = {"session": sess, "dist": dist, "tree": t, "seed": seed, "sample_rate": p["sample_rate"]}
            if deferred is not None:
                gp["update"], deferred = deferred, None
            g = node.runtime.run(E.TreeGrad.name, header.key, cols0, gp)
            if g["bad"]:
                raise InvalidParameter(f"Training of `{algo}` diverged at tree {t} (non-finite gradients); lower "
                                       f"`learn_rate` or check the response.", {"tree": t})
            n_act = max(int(g["n"]), 1)
            scales = E.tree_scales(g, n_act)
            cap = ep.max_abs_leafnode_pred

            def leaf_value(v, lr=lr, cap=cap):
                # elementwise on arrays too (the builder turns a whole level's sums into values at once)
                return np.minimum(np.maximum(v, -cap), cap) * lr

            trees = E.grow_trees(node, header.key, sess, bins, ep, t, classes, scales, leaf_value, job=job,
                                 cols_needed=cols0)
            if dist_name in ("laplace", "quantile", "huber"):
                from .quantiles import refit_leaves
                refit_leaves(node, header.key, sess, trees, dist, leaf_value, cols0, scales["sw"])
            scoring = _interval(p, t, ntrees)
            route = code_space(trees) if ep.partition else None
            if scoring or t == ntrees or not fuse:
                E.update_predictions(node, header.key, sess, trees, K, drf, cols_needed=cols0, route=route)
            else:
                deferred = E.update_params(sess, trees, K, drf, route)
            if vsess is not None:
                node.runtime.run(E.TreeScoreCodes.name, vheader.key, [vfp["needed"][0]],
                                 {"session": vsess, "trees": route or code_space(trees)})
            grown.extend(trees)   # turned into model arrays once, after the loop
            if job is not None:
                job.update(progress=0.05 + 0.9 * (t - start_tree) / max(ntrees - start_tree, 1),
                           message=f"Tree {t} of {ntrees}")
            if scoring:
                train_m = _session_metrics(node, header.key, sess, cols0, category, domain, dist, drf, t, drf,
                                           weighted)
                row = {"number_of_trees": t, "time": time.time(), "training": _pick(train_m, category)}
                if vsess is not None:
                    valid_m = _session_metrics(node, vheader.key, vsess, [vfp["needed"][0]], category, domain, dist,
                                               False, t, False, weighted)
                    row["validation"] = _pick(valid_m, category)
                history.append(row)
                if model_key:
                    models_of(node).building(model_key, {"scoring_history": _history_table(history, category),
                                                         "ntrees": t})
                k = int(p.get("stopping_rounds") or 0)
                if k > 0:
                    src = valid_m if valid_m is not None else train_m
                    vals = []
                    more = False
                    for h in history:
                        part = h.get("validation") if valid_m is not None else h.get("training")
                        v, more = _stopping_value(part or {}, p["stopping_metric"], category)
                        vals.append(v)
                    if src is not None and stop_early(vals, k, float(p["stopping_tolerance"]), more):
                        stopped_early = True
                        break
            if deadline and t < ntrees and time.monotonic() >= deadline:
                stopped_by_runtime = True  # H2O-3: the trees built so far make the model
                break
        if deferred is not None:  # stopped by the time limit after an unscored tree
            node.runtime.run(E.TreeUpdate.name, header.key, cols0, deferred)
            deferred = None
        if train_m is None or (history and history[-1]["number_of_trees"] != t):
            train_m = _session_metrics(node, header.key, sess, cols0, category, domain, dist, drf, t, drf, weighted)
            if vsess is not None:
                valid_m = _session_metrics(node, vheader.key, vsess, [vfp["needed"][0]], category, domain, dist,
                                           False, t, False, weighted)
    finally:
        try:
            E.drop_session(node, sess, header.members)
        finally:  # the validation session is dropped even when dropping the training one raised
            if vsess is not None:
                E.drop_session(node, vsess, vheader.members)
    if grown:
        arrays = trees_to_arrays(grown, bins, arrays)
    if arrays is None:
        from .model import empty_arrays
        arrays = empty_arrays()
    arrays = {k: v for k, v in arrays.items() if not k.startswith("bin_")}
    arrays.update(_bins_arrays(bins))
    ntrees_built = int(len(arrays["tree_class"]) // K)
    imp = varimp(arrays, names)
    output = {
        "model_category": category, "domain": domain, "names": names, "response": p["y"],
        "distribution": dist_name if not drf else ("multinomial" if category == "Multinomial" else
                                                   "bernoulli" if category == "Binomial" else "gaussian"),
        "dist": dist, "init_f": [float(x) for x in init_f], "ntrees": ntrees_built, "ntrees_per_iteration": K,
        "seed": seed, "histogram_type": htype, "stopped_early": stopped_early,
        "stopped_by_runtime": stopped_by_runtime,
        "bins": [_bins_json(b) for b in bins],
        "training_metrics": train_m, "validation_metrics": valid_m,
        "variable_importances": varimp_table(names, imp),
        "scoring_history": _history_table(history, category), "scoring_history_rows": history,
        "model_summary": table("Model Summary", ["number_of_trees", "number_of_internal_trees", "min_depth",
                                                  "max_depth", "mean_leaves"],
                               ["int", "int", "int", "int", "double"], [_summary(arrays, ntrees_built)], ""),
        "run_time_ms": now_ms() - t_start,
    }
    if category == "Binomial" and train_m:
        output["default_threshold"] = _max_f1_threshold(valid_m or train_m)
    return Model(key=model_key or "", algo=algo, params=p, spec=spec.to_dict(), output=output, arrays=arrays,
                 created_ms=now_ms())


def _pick(m: dict, category: str) -> dict:
    return {k: m.get(k) for k in _HIST_KEYS[category] + ("mse", "mean_per_class_error", "auc", "aucpr")
            if k in m}


def _history_table(history: list[dict], category: str) -> dict:
    keys = _HIST_KEYS[category]
    cols = ["timestamp", "number_of_trees"] + [f"training_{k}" for k in keys]
    has_v = any("validation" in h for h in history)
    if has_v:
        cols += [f"validation_{k}" for k in keys]
    rows = []
    for h in history:
        r = [time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(h["time"])), h["number_of_trees"]]
        r += [h["training"].get(k) for k in keys]
        if has_v:
            r += [(h.get("validation") or {}).get(k) for k in keys]
        rows.append(r)
    return table("Scoring History", cols, ["string", "int"] + ["double"] * (len(cols) - 2), rows, "")


def _summary(arrays: dict, ntrees: int) -> list:
    from .model import tree_depths
    offs = np.asarray(arrays["tree_off"])
    col = np.asarray(arrays["col"])
    leaves = [int((col[offs[t]:offs[t + 1]] < 0).sum()) for t in range(len(offs) - 1)]
    depths = tree_depths(arrays)
    return [ntrees, len(offs) - 1, min(depths, default=0), max(depths, default=0),
            float(np.mean(leaves)) if leaves else 0.0]


def _check_response(algo: str, dist: str, y: str, stats: dict) -> None:
    lo = stats["ymin"]
    rule = {"poisson": (lo >= 0, ">= 0"), "tweedie": (lo >= 0, ">= 0"), "gamma": (lo > 0, "> 0")}.get(dist)
    if rule is not None and not rule[0]:
        raise InvalidParameter(f"Distribution `{dist}` of `{algo}` needs response values {rule[1]}; column `{y}` "
                               f"has {lo:g}.", {"algo": algo, "problems": [
                                   {"parameter": "distribution", "message": f"response must be {rule[1]}"}]})


def _max_f1_threshold(m: dict) -> float:
    mc = m.get("max_criteria_and_metric_scores")
    try:
        for row in mc["data"] if isinstance(mc, dict) and "data" in mc else mc["rows"]:
            if row[0] in ("max f1", "f1"):
                return float(row[1])
    except (TypeError, KeyError, IndexError):
        pass
    return 0.5


def _bins_json(b: E.ColumnBins) -> dict:
    return {"name": b.name, "kind": b.kind, "nfine": int(b.nfine), "card": int(b.card)}


def _bins_arrays(bins: list) -> dict:
    """Edges and level bins of every predictor as flat arrays (kept with the model's arrays)."""
    edges = [np.asarray(b.edges if b.edges is not None else [], np.float64) for b in bins]
    levels = [np.asarray(b.level_bin if b.level_bin is not None else [], np.int32) for b in bins]
    return {"bin_edges": np.concatenate(edges) if edges else np.zeros(0),
            "bin_edges_off": np.cumsum([0] + [e.size for e in edges]).astype(np.int64),
            "bin_levels": np.concatenate(levels) if levels else np.zeros(0, np.int32),
            "bin_levels_off": np.cumsum([0] + [v.size for v in levels]).astype(np.int64)}


def _bins_from_output(m: Model) -> list[dict]:
    a = m.arrays
    out = []
    for j, b in enumerate(m.output["bins"]):
        e0, e1 = int(a["bin_edges_off"][j]), int(a["bin_edges_off"][j + 1])
        l0, l1 = int(a["bin_levels_off"][j]), int(a["bin_levels_off"][j + 1])
        out.append({"name": b["name"], "kind": b["kind"], "nfine": int(b["nfine"]),
                    "edges": np.asarray(a["bin_edges"][e0:e1], np.float64) if b["kind"] == "num" else None,
                    "level_bin": np.asarray(a["bin_levels"][l0:l1], np.int32) if b["kind"] == "cat" else None,
                    "card": int(b["card"])})
    return out
