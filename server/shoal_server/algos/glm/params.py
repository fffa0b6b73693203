"""GLM parameters, declared once as data (published in the API description), and their checks."""
from __future__ import annotations

from ..common.params import COMMON_PARAMS, ParamSpec, Problems

__all__ = ["GLM_PARAMS", "glm_checks", "FAMILY_LINKS", "DEFAULT_LINK"]

FAMILIES = ("AUTO", "gaussian", "binomial", "quasibinomial", "multinomial", "poisson", "gamma", "tweedie",
            "negativebinomial")
LINK_VALUES = ("family_default", "identity", "logit", "log", "inverse", "tweedie", "probit", "cloglog")

#: links each family accepts (the first is the canonical / default one, as in H2O-3)
FAMILY_LINKS = {
    "gaussian": ("identity", "log", "inverse"),
    "binomial": ("logit", "probit", "cloglog"),
    "quasibinomial": ("logit",),
    "multinomial": ("family_default",),
    "poisson": ("log", "identity"),
    "gamma": ("inverse", "log", "identity"),
    "tweedie": ("tweedie", "log"),
    "negativebinomial": ("log", "identity"),
}
DEFAULT_LINK = {f: links[0] for f, links in FAMILY_LINKS.items()}

GLM_PARAMS: tuple[ParamSpec, ...] = COMMON_PARAMS + (
    ParamSpec("family", "string", "Distribution of the response. AUTO: binomial for a 2-level categorical "
              "response, multinomial for more levels, gaussian for a numeric one.", default="AUTO",
              values=FAMILIES, gridable=False),
    ParamSpec("link", "string", "Link function (family_default: the family's canonical link; tweedie: "
              "mu^tweedie_link_power).", default="family_default", values=LINK_VALUES, level="advanced"),
    ParamSpec("solver", "string", "IRLSM (Gram matrix by map/reduce, elastic-net inner solve by coordinate "
              "descent) or L_BFGS (gradient by map/reduce; for wide data; ridge only). AUTO picks IRLSM "
              "up to 500 expanded columns, else L_BFGS.", default="AUTO", values=("AUTO", "IRLSM", "L_BFGS"),
              level="advanced"),
    ParamSpec("alpha", "float", "Elastic-net mixing: 1 is lasso, 0 ridge. Default 0.5 (0 for L_BFGS).",
              min=0.0, max=1.0, gridable=True),
    ParamSpec("lambda_value", "float", "Regularization strength (the API name of H2O's `lambda`). Default: "
              "lambda_max * lambda_min_ratio without lambda_search.", min=0.0, gridable=True),
    ParamSpec("lambda_search", "bool", "Fit the regularization path from lambda_max down to "
              "lambda_max * lambda_min_ratio.", default=False),
    ParamSpec("nlambdas", "int", "Number of lambdas on the path (-1: 100).", default=-1, min=-1, max=10000,
              level="advanced"),
    ParamSpec("lambda_min_ratio", "float", "Smallest lambda of the path relative to lambda_max (-1: 1e-4 when "
              "rows > 25 * columns, else 1e-2).", default=-1.0, min=-1.0, max=1.0, level="advanced"),
    ParamSpec("standardize", "bool", "Standardize numeric columns (coefficients are reported on the "
              "original scale too).", default=True),
    ParamSpec("use_all_factor_levels", "bool", "Give every categorical level a coefficient (no reference "
              "level).", default=False, level="advanced"),
    ParamSpec("missing_values_handling", "string", "Missing predictors: MeanImputation (numeric: mean, "
              "categorical: most frequent level) or Skip (drop the row).", default="MeanImputation",
              values=("MeanImputation", "Skip"), level="advanced"),
    ParamSpec("compute_p_values", "bool", "Standard errors, z values and p values of the coefficients "
              "(only without regularization: lambda_value=0).", default=False),
    ParamSpec("remove_collinear_columns", "bool", "Drop columns that are linear combinations of earlier "
              "ones (without regularization).", default=False, level="advanced"),
    ParamSpec("non_negative", "bool", "Constrain coefficients to be >= 0.", default=False, level="advanced"),
    ParamSpec("beta_constraints", "dict", "Bounds on coefficients: {name: {lower_bound, upper_bound}} "
              "(names as in the coefficients table: `col` or `col.level`).", level="expert"),
    ParamSpec("interactions", "list[string]", "Columns whose pairwise interactions are added as predictors "
              "(numeric x numeric: the product; categorical x numeric: one column per level). Interactions "
              "of two categorical columns are not available.", level="advanced"),
    ParamSpec("intercept", "bool", "Fit an intercept.", default=True, level="advanced"),
    ParamSpec("max_iterations", "int", "Maximum IRLSM / L-BFGS iterations (-1: 50 for IRLSM, 300 for "
              "multinomial, 500 for L_BFGS).", default=-1, min=-1, max=100000, level="advanced"),
    ParamSpec("beta_epsilon", "float", "Converged when no standardized coefficient changes by more than "
              "this.", default=1e-4, min=0.0, level="expert"),
    ParamSpec("objective_epsilon", "float", "Also converged when the objective improves by less than this, "
              "relatively (-1: off; convergence is decided by beta_epsilon).", default=-1.0, min=-1.0,
              level="expert"),
    ParamSpec("gradient_epsilon", "float", "L-BFGS: converged when the gradient's max norm is below this "
              "(-1: 1e-6).", default=-1.0, min=-1.0, level="expert"),
    ParamSpec("tweedie_variance_power", "float", "Tweedie variance power p (variance mu^p): 0, or >= 1.",
              default=0.0, min=0.0, level="advanced", gridable=True),
    ParamSpec("tweedie_link_power", "float", "Tweedie link power (0: log).", default=1.0, level="advanced",
              gridable=True),
    ParamSpec("theta", "float", "Negative binomial dispersion theta (variance mu + theta mu^2), fixed.",
              default=1e-10, min=0.0, min_exclusive=True, level="advanced", gridable=True),
)


def glm_checks(p: dict, problems: Problems) -> None:
    """Cross-parameter rules of GLM (appended to the same problem list)."""
    fam = p["family"]
    link = p["link"]
    if fam != "AUTO" and link != "family_default" and link not in FAMILY_LINKS.get(fam, ()):
        problems.add("link", f"Parameter `link` must be one of {', '.join(FAMILY_LINKS[fam])} (or family_default) "
                             f"for family `{fam}`; got {link!r}.")
    if fam == "AUTO" and link not in ("family_default",):
        problems.add("link", "Parameter `link` needs an explicit `family`; got family AUTO.")
    vp = p["tweedie_variance_power"]
    if fam == "tweedie" and 0 < vp < 1:
        problems.add("tweedie_variance_power", f"Parameter `tweedie_variance_power` must be 0 or >= 1; got {vp}.")
    if p["compute_p_values"] and (p["lambda_value"] is None or p["lambda_value"] > 0 or p["lambda_search"]):
        problems.add("compute_p_values", "Parameter `compute_p_values` needs lambda_value=0 (no regularization) "
                                         "and lambda_search=False.")
    if p["compute_p_values"] and fam == "multinomial":
        problems.add("compute_p_values", "Parameter `compute_p_values` is not available for family multinomial.")
    if p["nfolds"] == 1:
        problems.add("nfolds", "Parameter `nfolds` must be 0 (no cross-validation) or at least 2; got 1.")
    if p["fold_column"] and p["nfolds"]:
        problems.add("fold_column", "Give either `fold_column` or `nfolds`, not both.")
    if p["fold_assignment"] != "AUTO" and not p["nfolds"]:
        problems.add("fold_assignment", "Parameter `fold_assignment` needs nfolds >= 2.")
    if p["solver"] == "L_BFGS" and (p["alpha"] or 0) > 0 and (p["lambda_value"] is None or p["lambda_value"] > 0):
        problems.add("alpha", "Solver L_BFGS supports ridge (alpha=0) only; use solver IRLSM for alpha > 0.")
    if p["solver"] == "L_BFGS" and (p["non_negative"] or p["beta_constraints"]):
        problems.add("solver", "Coefficient bounds (non_negative, beta_constraints) need solver IRLSM.")
    if fam == "multinomial" and p["offset_column"]:
        problems.add("offset_column", "Parameter `offset_column` is not available for family multinomial.")
    if p["stopping_rounds"] > 0 and p["stopping_metric"] not in ("AUTO", "deviance"):
        problems.add("stopping_metric", f"GLM stops its lambda search on the deviance; parameter `stopping_metric` "
                                        f"must be AUTO or deviance; got {p['stopping_metric']!r}.")
    bc = p["beta_constraints"]
    if bc:
        for name, b in bc.items():
            if not isinstance(b, dict) or not set(b) <= {"lower_bound", "upper_bound"}:
                problems.add("beta_constraints", f"Parameter `beta_constraints`: the entry for `{name}` must be an "
                                                 f"object with lower_bound and/or upper_bound; got {b!r}.")
                continue
            lo, hi = b.get("lower_bound", float("-inf")), b.get("upper_bound", float("inf"))
            if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)) or lo > hi:
                problems.add("beta_constraints", f"Parameter `beta_constraints`: bounds of `{name}` must be numbers "
                                                 f"with lower_bound <= upper_bound; got {b!r}.")
