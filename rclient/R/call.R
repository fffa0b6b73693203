# The bridge between the generated wrappers (generated-api.R) and the transport: route
# parameters into the path, query string or JSON body as the API description says, send the
# request, and shape the answer into an R value (the table .result_shapers below).

.fill_route <- function(route, params, where) {
  for (name in names(where)[where == "path"]) {
    value <- params[[name]]
    if (is.null(value)) {
      shoal_abort("invalid_parameter", sprintf("Parameter `%s` is required.", name),
                  list(problems = list(list(parameter = name, message = "required"))))
    }
    route <- sub(paste0("{", name, "}"), curl::curl_escape(as.character(value)), route, fixed = TRUE)
  }
  route
}

.shoal_call <- function(op, method, route, params, types, where, body = NULL,
                        body_kind = NULL, content_type = "application/octet-stream",
                        returns = "json", progress = getOption("shoal.progress", TRUE)) {
  call <- .user_call()
  set <- .normalize_params(params[!vapply(params, is.null, TRUE)], types)
  path <- .fill_route(route, set, where)
  loc <- where[names(set)]
  query <- set[loc == "query"]
  json <- set[loc == "body"]
  if (identical(body_kind, "shoalcol") && inherits(body, "ShoalFrame")) return(body)
  raw_body <- NULL
  file <- NULL
  if (identical(body_kind, "file")) {
    if (!is.character(body) || length(body) != 1L || !file.exists(body)) {
      shoal_abort("invalid_argument",
                  sprintf("`path` must name one existing local file; got %s.",
                          paste(format(body), collapse = ", ")), call = call)
    }
    file <- path.expand(body)
    if ("filename" %in% names(where) && is.null(query$filename)) query$filename <- basename(file)
  } else if (identical(body_kind, "shoalcol")) {
    df <- if (is.data.frame(body)) body else as.data.frame(body, stringsAsFactors = FALSE)
    raw_body <- shoalcol_write(df)
  }
  res <- shoal_request(method, path, query = query,
                       body = if (length(json) || method == "POST") json else NULL,
                       raw_body = raw_body, file = file, types = types,
                       as = returns, content_type = content_type,
                       progress = isTRUE(progress) && !is.null(file), call = call)
  shaper <- .result_shapers[[op]]
  if (is.null(shaper)) return(res)
  if ("progress" %in% names(formals(shaper))) shaper(res, set, call, progress = progress) else shaper(res, set, call)
}

# A job answer: wait for it, then hand back the frame it made.
.job_frame <- function(res, params, call, progress = TRUE) {
  job <- .wait_job(res$job, progress = progress, call = call)
  if (is.null(job$dest)) return(job)
  .shoal_frame(job$dest)
}

.frames_table <- function(res, params, call) {
  fr <- res$frames
  num <- function(f) vapply(fr, function(x) .num(x[[f]]), 0)
  data.frame(
    key = vapply(fr, function(x) as.character(x$key), ""),
    nrow = num("nrow"), ncol = num("ncol"), nchunks = num("nchunks"), bytes = num("bytes"),
    created = .ms_to_posixct(num("created_ms")),
    stringsAsFactors = FALSE
  )
}

.ms_to_posixct <- function(ms) structure(ms / 1000, class = c("POSIXct", "POSIXt"), tzone = "UTC")

# Parameter conventions shared by every operation that has the parameter (the Python client
# applies the same ones): `header` may be a logical, per-column NA strings are always lists,
# and a local path that exists here is made absolute for a node on this machine.
.param_normalizers <- list(
  header = function(v, type) if (is.logical(v)) (if (isTRUE(v)) 1L else -1L) else v,
  na_strings = function(v, type) {
    if (is.list(v) && !is.null(names(v))) lapply(v, function(e) I(as.character(e))) else v
  },
  skipped_columns = function(v, type) if (is.numeric(v)) as.integer(v) else v,
  path = function(v, type) {
    if (!startsWith(type, "list[")) return(v)
    conn <- .shoal$conn
    local <- !is.null(conn) && grepl("^https?://(127\\.0\\.0\\.1|localhost|\\[::1\\])(:|/|$)", conn$url)
    if (!local || !is.character(v)) return(v)
    v <- path.expand(v)
    rel <- !grepl("^/", v) & (file.exists(v) | grepl("[*?[]", v))
    v[rel] <- file.path(normalizePath("."), v[rel])
    v
  }
)

.normalize_params <- function(params, types) {
  for (name in intersect(names(params), names(.param_normalizers))) {
    if (!is.null(params[[name]])) {
      params[[name]] <- .param_normalizers[[name]](params[[name]], types[[name]])
    }
  }
  params
}

# One JSON scalar as R: null -> NA, "Inf"/"-Inf"/"NaN" (JSON has no infinities) -> numbers.
.json_scalar <- function(v) {
  if (is.null(v)) return(NA)
  if (is.character(v) && v %in% c("Inf", "-Inf", "NaN")) return(as.numeric(v))
  v
}

.result_shapers <- list(
  import_file = .job_frame,
  upload_file = .job_frame,
  upload_frame = function(res, params, call) .shoal_frame(res$frame$key),
  list_frames = .frames_table,
  get_frame = function(res, params, call) {
    fr <- .shoal_frame(res$frame$key)
    cache <- .subset2(fr, "cache")
    cache$info <- res$frame
    if (!isFALSE(params$rollups)) cache$summary <- res$frame
    fr
  },
  frame_rows = function(res, params, call) {
    fr <- .shoal_frame(res$key)
    .rows_to_df(res, .frame_info(fr, call = call), as.numeric(res$offset))
  },
  download_frame = function(res, params, call) {
    if (identical(params$format, "columnar")) return(shoalcol_read(res))
    text <- rawToChar(res)
    Encoding(text) <- "UTF-8"
    text
  },
  delete_frame = function(res, params, call) invisible(res$deleted),
  get_job = function(res, params, call) res$job,
  cancel_job = function(res, params, call) res$job,
  list_jobs = function(res, params, call) res$jobs,
  evaluate = function(res, params, call) {
    switch(res$kind %||% "",
      frame = .shoal_frame(res$frame$key),
      frames = lapply(res$frames, function(f) .shoal_frame(f$key)),
      scalar = .json_scalar(res$value),
      list = {
        vals <- unlist(lapply(res$values, .json_scalar))
        if (is.null(vals)) logical(0) else vals
      },
      res)
  },
  shutdown = function(res, params, call) {
    conn <- .shoal$conn
    owned <- .shoal$owned
    if (!is.null(owned) && !is.null(conn) && identical(owned$url, conn$url)) .stop_owned()
    .shoal$conn <- NULL
    invisible(TRUE)
  }
)

#' R values of the API operations
#'
#' Each `shoal_<operation>()` function returns the operation's JSON answer parsed into lists,
#' except: `shoal_import_file()` and `shoal_upload_file()` wait for the parse job (with a
#' progress bar; option `shoal.progress = FALSE` hides it) and return a [ShoalFrame];
#' `shoal_upload_frame()` and `shoal_get_frame()` return a ShoalFrame; `shoal_list_frames()`
#' a data.frame (key, nrow, ncol, nchunks, bytes, created_ms); `shoal_frame_rows()` a
#' data.frame; `shoal_download_frame()` a data.frame (`format = "columnar"`) or the CSV text;
#' `shoal_delete_frame()` the deleted key (invisibly); `shoal_get_job()` and
#' `shoal_cancel_job()` the job; `shoal_list_jobs()` the list of jobs; `shoal_shutdown()`
#' TRUE (invisibly) after the node stopped answering, and forgets the connection.
#'
#' Frame-key arguments accept a ShoalFrame as well as a key string.
#' @name shoal_results
NULL

#' List the frames on the cluster
#'
#' @return a data.frame with one row per frame: key, nrow, ncol, nchunks, bytes, created_ms.
#' @export
shoal_ls <- function() shoal_list_frames()

#' Remove frames from the cluster
#'
#' @param x a ShoalFrame, a frame key, or a list / character vector of them.
#' @return the removed keys, invisibly.
#' @export
shoal_remove <- function(x) {
  items <- if (inherits(x, "ShoalFrame")) list(x) else as.list(x)
  keys <- vapply(items, .as_key, "")
  for (k in keys) shoal_delete_frame(k)
  invisible(keys)
}
