# Models: the ShoalModel handle (key + a cache of the model's JSON), the result shapers of the
# model operations, and the S3 methods base R has generics for (predict, print, summary).
# The estimators shoal_glm(), shoal_gbm(), shoal_randomForest() are generated (generated-api.R).

.shoal_model <- function(key, json = NULL) {
  cache <- new.env(parent = emptyenv())
  cache$json <- json
  structure(list(key = key, cache = cache), class = "ShoalModel")
}

.model_key <- function(x) {
  if (inherits(x, "ShoalModel")) return(.subset2(x, "key"))
  if (is.character(x) && length(x) == 1L) return(x)
  shoal_abort("invalid_argument",
              sprintf("Expected a ShoalModel or a model key (one string); got an object of class `%s`.",
                      paste(class(x), collapse = "/")))
}

.model_json <- function(model, refresh = FALSE) {
  cache <- .subset2(model, "cache")
  if (refresh || is.null(cache$json) || !identical(cache$json$status, "DONE")) {
    key <- .subset2(model, "key")
    cache$json <- shoal_request("GET", paste0(.api_prefix, "/models/", curl::curl_escape(key)))$model
  }
  cache$json
}

# An H2O-style table {name, columns, types, data} as a data.frame (numbers as doubles, NA for null).
.table_df <- function(tab) {
  if (!is.list(tab) || is.null(tab$columns)) return(NULL)
  cols <- unlist(tab$columns)
  types <- unlist(tab$types)
  rows <- tab$data
  out <- lapply(seq_along(cols), function(j) {
    vals <- lapply(rows, function(r) .json_scalar(r[[j]]))
    if (!is.null(types) && types[j] %in% c("double", "float", "int", "long")) {
      vapply(vals, function(v) if (is.null(v) || (length(v) == 1L && is.na(v))) NA_real_ else as.numeric(v), 0)
    } else {
      vapply(vals, function(v) if (is.null(v) || (length(v) == 1L && is.na(v))) NA_character_ else as.character(v), "")
    }
  })
  names(out) <- cols
  as.data.frame(out, stringsAsFactors = FALSE, optional = TRUE)
}

.job_model <- function(res, params, call, progress = TRUE) {
  job <- .wait_job(res$job, progress = progress, call = call)
  .shoal_model(job$dest)
}

.models_table <- function(res, params, call) {
  ms <- res$models
  chr <- function(f) vapply(ms, function(x) if (is.null(x[[f]])) NA_character_ else as.character(x[[f]]), "")
  data.frame(model_id = chr("model_id"), algo = chr("algo"), model_category = chr("model_category"),
             response = chr("response"), training_frame = chr("training_frame"),
             created_ms = vapply(ms, function(x) .num(x$created_ms), 0), stringsAsFactors = FALSE)
}

.result_shapers <- c(.result_shapers, list(
  train_glm = .job_model,
  train_gbm = .job_model,
  train_drf = .job_model,
  list_models = .models_table,
  get_model = function(res, params, call) .shoal_model(res$model$model_id, res$model),
  delete_model = function(res, params, call) invisible(res$deleted),
  predict = .job_frame,
  model_contributions = .job_frame,
  model_leaf_node_assignment = .job_frame,
  model_performance = function(res, params, call) structure(res$metrics, class = "ShoalMetrics"),
  save_model = function(res, params, call) res$path,
  load_model = function(res, params, call) .shoal_model(res$model$model_id),
  download_scorer = function(res, params, call) {
    text <- rawToChar(res)
    Encoding(text) <- "UTF-8"
    text
  }
))

.metrics_of <- function(model, train = FALSE, valid = FALSE, xval = FALSE) {
  out <- .model_json(model)$output
  which <- if (isTRUE(valid)) "validation_metrics" else if (isTRUE(xval)) "cross_validation_metrics" else
    "training_metrics"
  m <- out[[which]]
  if (is.null(m)) {
    shoal_abort("invalid_argument", sprintf("Model `%s` has no %s.", .subset2(model, "key"),
                                            gsub("_", " ", which)))
  }
  structure(m, class = "ShoalMetrics")
}

#' Model performance
#'
#' Metrics of a model on a frame that holds the response (API operation `model_performance`),
#' or, without `newdata`, the metrics stored in the model (training by default; `valid = TRUE`
#' the validation frame's, `xval = TRUE` cross-validation's).
#'
#' @param model a ShoalModel (or a model key).
#' @param newdata a ShoalFrame or frame key; `NULL` for the stored metrics.
#' @param train,valid,xval which stored metrics (without `newdata`).
#' @return a `ShoalMetrics` list (auc, logloss, rmse, mse, r2, confusion_matrix, ...).
#' @export
shoal_performance <- function(model, newdata = NULL, train = FALSE, valid = FALSE, xval = FALSE) {
  if (!is.null(newdata)) return(shoal_model_performance(.model_key(model), frame = newdata))
  if (!inherits(model, "ShoalModel")) model <- .shoal_model(.model_key(model))
  .metrics_of(model, train = train, valid = valid, xval = xval)
}

#' Predict with a Shoal model
#'
#' @param object a ShoalModel.
#' @param newdata a ShoalFrame or frame key to score.
#' @param destination_frame key of the prediction frame (default: a new key).
#' @param progress show a progress bar while the prediction job runs.
#' @param ... unused.
#' @return a ShoalFrame of predictions (and per-class probabilities).
#' @export
predict.ShoalModel <- function(object, newdata, destination_frame = NULL,
                               progress = getOption("shoal.progress", TRUE), ...) {
  shoal_predict(.subset2(object, "key"), frame = newdata, destination_frame = destination_frame,
                progress = progress)
}

#' TreeSHAP contributions of a tree model
#'
#' Per-row feature contributions of a GBM or DRF model (API operation `model_contributions`),
#' as in h2o.predict_contributions(). One column per predictor (categoricals first, then
#' numerics) plus `BiasTerm`; each row sums to the raw prediction (regression: the prediction;
#' bernoulli: the log-odds; poisson, gamma, tweedie: the log; no offset; DRF: the tree average).
#' Multinomial models (refused by H2O-3) give one block per class in the order of the response
#' levels, columns `<predictor>.<class>` and `BiasTerm.<class>`; each block sums to that class's
#' raw score. A GLM model is refused with `shoal_error_invalid_parameter`.
#'
#' @param model a ShoalModel (GBM or DRF) or a model key.
#' @param newdata a ShoalFrame or frame key.
#' @param destination_frame key of the result frame (default: a new key).
#' @param progress show a progress bar while the job runs.
#' @return a ShoalFrame of contributions.
#' @export
shoal_predict_contributions <- function(model, newdata, destination_frame = NULL,
                                        progress = getOption("shoal.progress", TRUE)) {
  shoal_model_contributions(.model_key(model), frame = newdata, destination_frame = destination_frame,
                            progress = progress)
}

#' Leaf node assignment of a tree model
#'
#' The leaf each row reaches in each tree of a GBM or DRF model (API operation
#' `model_leaf_node_assignment`), as in h2o.predict_leaf_node_assignment(). Columns `T1`, `T2`,
#' ... (multinomial: `T1.C1`, `T1.C2`, ...). `type = "Path"`: factors of the leaf's path from the
#' root (`L`/`R` per split, e.g. `"LRRL"`); `type = "Node_ID"`: integers, the leaf's node index
#' within its tree.
#'
#' @param model a ShoalModel (GBM or DRF) or a model key.
#' @param newdata a ShoalFrame or frame key.
#' @param type `"Path"` (default) or `"Node_ID"`.
#' @param destination_frame key of the result frame (default: a new key).
#' @param progress show a progress bar while the job runs.
#' @return a ShoalFrame with one column per tree.
#' @export
shoal_predict_leaf_node_assignment <- function(model, newdata, type = c("Path", "Node_ID"), destination_frame = NULL,
                                               progress = getOption("shoal.progress", TRUE)) {
  if (missing(type)) type <- "Path"
  shoal_model_leaf_node_assignment(.model_key(model), frame = newdata, type = type,
                                   destination_frame = destination_frame, progress = progress)
}

.scalar_metrics <- function(m) {
  keep <- vapply(m, function(v) (is.numeric(v) || (is.character(v) && v %in% c("Inf", "-Inf", "NaN"))) &&
    length(v) == 1L, TRUE)
  vapply(m[keep], function(v) as.numeric(v), 0)
}

#' @export
print.ShoalMetrics <- function(x, ...) {
  cat(sprintf("ShoalMetrics (%s)\n", x$model_category %||% ""))
  v <- .scalar_metrics(unclass(x))
  for (n in names(v)) cat(sprintf("  %s: %s\n", n, format(v[[n]], digits = 7)))
  invisible(x)
}

#' @export
print.ShoalModel <- function(x, ...) {
  doc <- .model_json(x)
  cat(sprintf("ShoalModel %s: %s (%s)\n", toupper(doc$algo %||% ""), .subset2(x, "key"), doc$status %||% ""))
  out <- doc$output
  s <- .table_df(out$model_summary)
  if (!is.null(s)) {
    cat("\nModel summary:\n")
    print(s, row.names = FALSE)
  }
  for (w in c("training_metrics", "validation_metrics", "cross_validation_metrics")) {
    m <- out[[w]]
    if (!is.null(m)) {
      cat(sprintf("\n%s:\n", gsub("_", " ", w)))
      v <- .scalar_metrics(m)
      for (n in names(v)) cat(sprintf("  %s: %s\n", n, format(v[[n]], digits = 7)))
    }
  }
  if (!is.null(out$coefficients)) {
    cat("\nCoefficients:\n")
    print(vapply(out$coefficients, function(v) as.numeric(.json_scalar(v)), 0))
  }
  invisible(x)
}

#' @export
summary.ShoalModel <- function(object, ...) {
  doc <- .model_json(object)
  out <- doc$output
  structure(list(model_id = .subset2(object, "key"), algo = doc$algo, status = doc$status,
                 model_summary = .table_df(out$model_summary),
                 coefficients = .table_df(out$coefficients_table),
                 variable_importances = .table_df(out$variable_importances),
                 scoring_history = .table_df(out$scoring_history),
                 training_metrics = if (!is.null(out$training_metrics)) .scalar_metrics(out$training_metrics),
                 validation_metrics = if (!is.null(out$validation_metrics)) .scalar_metrics(out$validation_metrics),
                 cross_validation_metrics = if (!is.null(out$cross_validation_metrics))
                   .scalar_metrics(out$cross_validation_metrics)),
            class = "ShoalModelSummary")
}

#' @export
print.ShoalModelSummary <- function(x, ...) {
  cat(sprintf("ShoalModel %s: %s (%s)\n", toupper(x$algo %||% ""), x$model_id, x$status %||% ""))
  for (n in c("model_summary", "coefficients", "variable_importances")) {
    if (!is.null(x[[n]])) {
      cat(sprintf("\n%s:\n", gsub("_", " ", n)))
      print(x[[n]], row.names = FALSE)
    }
  }
  invisible(x)
}
