# ShoalFrame: an S3 handle on a frame that lives on the cluster.
#
# A ShoalFrame holds the frame key and a cache of the frame's metadata (an environment, so
# copies of the handle share it). Every method is one API call; values stay on the server
# until as.data.frame() downloads them through SHOALCOL.

.shoal_frame <- function(key, info = NULL) {
  cache <- new.env(parent = emptyenv())
  if (!is.null(info)) cache$info <- info
  structure(list(key = key, cache = cache), class = "ShoalFrame")
}

.key_of <- function(x) .subset2(x, "key")

# A frame key from a ShoalFrame or a string (what every frame_key parameter accepts).
.as_key <- function(x) {
  if (is.null(x)) return(NULL)
  if (inherits(x, "ShoalFrame")) return(.key_of(x))
  if (inherits(x, "ShoalModel")) return(.subset2(x, "key"))
  if (is.character(x) && length(x) == 1L) return(x)
  shoal_abort("invalid_argument",
              sprintf("Expected a ShoalFrame or a frame key (one string); got an object of class `%s`.",
                      paste(class(x), collapse = "/")))
}

.frame_path <- function(key, suffix = "") {
  paste0(.api_prefix, "/frames/", curl::curl_escape(key), suffix)
}

# Frame metadata (get_frame); the light form (no rollups) is cached, the rollups form is
# cached separately because it costs a map/reduce the first time.
.frame_info <- function(x, rollups = FALSE, refresh = FALSE, call = .user_call()) {
  cache <- .subset2(x, "cache")
  slot <- if (rollups) "summary" else "info"
  if (!refresh && !is.null(cache[[slot]])) return(cache[[slot]])
  info <- shoal_request("GET", .frame_path(.key_of(x)),
                        query = list(rollups = rollups), call = call)$frame
  cache[[slot]] <- info
  if (rollups) cache$info <- info
  info
}

.col_types <- function(info) vapply(info$columns, function(c) as.character(c$type), "")

#' ShoalFrame methods
#'
#' A `ShoalFrame` is a handle on a frame held by the cluster. `dim()`, `nrow()`, `ncol()`,
#' `names()` read cached metadata; `head()` and `tail()` fetch a few rows; `summary()`
#' returns the per-column rollups (min, max, mean, sd, missing, zeros, cardinality);
#' `as.data.frame()` downloads the exact values through the binary columnar path
#' (factors for categorical columns, `NA` for missing values).
#'
#' @param x,object a `ShoalFrame`.
#' @param n number of rows.
#' @param row.names,optional ignored (present for the generic).
#' @param ... ignored.
#' @return `dim()`: integer c(nrow, ncol); `names()`: character; `head()`, `tail()`,
#'   `as.data.frame()`: a data.frame; `summary()`: a data.frame of class `ShoalSummary`.
#' @name ShoalFrame
NULL

#' @rdname ShoalFrame
#' @export
dim.ShoalFrame <- function(x) {
  info <- .frame_info(x)
  c(as.integer(info$nrow), as.integer(info$ncol))
}

#' @rdname ShoalFrame
#' @export
length.ShoalFrame <- function(x) dim(x)[2L]

#' @rdname ShoalFrame
#' @export
names.ShoalFrame <- function(x) {
  vapply(.frame_info(x)$columns, function(c) enc2native(as.character(c$name)), "")
}

#' @rdname ShoalFrame
#' @export
dimnames.ShoalFrame <- function(x) list(NULL, names(x))

# JSON rows (frame_rows) into a data.frame typed like as.data.frame() would type it.
.rows_to_df <- function(res, info, first_row) {
  rows <- res$rows
  nms <- vapply(res$names, as.character, "")
  types <- vapply(res$types, as.character, "")
  n <- length(rows)
  domains <- lapply(info$columns, function(c) c$domain)
  cols <- lapply(seq_along(nms), function(j) {
    v <- lapply(rows, function(r) r[[j]])
    miss <- vapply(v, is.null, TRUE)
    v[miss] <- NA
    .convert_json_values(v, types[j], domains[[j]], .domain_complete(info$columns[[j]]))
  })
  names(cols) <- enc2native(nms)
  df <- .new_df(cols, n)
  if (n) attr(df, "row.names") <- as.integer(first_row + seq_len(n))
  df
}

.domain_complete <- function(col) {
  is.null(col$domain_size) || length(col$domain) >= as.numeric(col$domain_size)
}

.json_number <- function(v) {
  vapply(v, function(e) {
    if (is.character(e)) {
      switch(e, "Inf" = Inf, "-Inf" = -Inf, "NaN" = NaN, as.numeric(e))
    } else {
      as.numeric(e)
    }
  }, 0)
}

.convert_json_values <- function(v, type, domain = NULL, complete = TRUE) {
  switch(type,
    real = .json_number(v),
    int = {
      x <- .json_number(v)
      if (all(is.na(x) | abs(x) <= .Machine$integer.max)) as.integer(x) else x
    },
    bool = as.logical(unlist(v)),
    enum = {
      s <- vapply(v, function(e) if (is.na(e[1])) NA_character_ else as.character(e), "")
      # the domain in server order; levels it does not list (a truncated domain) follow, sorted
      lv <- if (is.null(domain)) character(0) else vapply(domain, as.character, "")
      seen <- unique(s[!is.na(s)])
      if (!complete || !all(seen %in% lv)) lv <- c(lv, sort(setdiff(seen, lv)))
      factor(s, levels = lv)
    },
    string = vapply(v, function(e) if (is.na(e[1])) NA_character_ else as.character(e), ""),
    time = structure(.json_number(v) / 1000, class = c("POSIXct", "POSIXt"), tzone = "UTC"),
    unlist(v)
  )
}

.frame_rows <- function(x, offset, limit, call) {
  shoal_request("GET", .frame_path(.key_of(x), "/rows"),
                query = list(offset = as.integer(offset), limit = as.integer(limit)),
                call = call)
}

#' @rdname ShoalFrame
#' @export
head.ShoalFrame <- function(x, n = 6L, ...) {
  call <- .user_call()
  nr <- nrow(x)
  n <- if (n < 0) max(nr + n, 0) else min(n, nr)
  res <- .frame_rows(x, 0L, n, call)
  .rows_to_df(res, .frame_info(x), 0)
}

#' @rdname ShoalFrame
#' @export
tail.ShoalFrame <- function(x, n = 6L, ...) {
  call <- .user_call()
  nr <- nrow(x)
  n <- if (n < 0) max(nr + n, 0) else min(n, nr)
  res <- .frame_rows(x, nr - n, n, call)
  .rows_to_df(res, .frame_info(x), as.numeric(res$offset))
}

#' @rdname ShoalFrame
#' @export
as.data.frame.ShoalFrame <- function(x, row.names = NULL, optional = FALSE, ...) {
  body <- shoal_request("GET", .frame_path(.key_of(x), "/data"),
                        query = list(format = "columnar"), as = "raw")
  shoalcol_read(body)
}

# One rollup field of every column, by its documented name (older names as fallbacks).
.rollup <- function(cols, fields) {
  vapply(cols, function(c) {
    for (f in fields) if (!is.null(c[[f]])) return(.num(c[[f]]))
    NA_real_
  }, 0)
}

.summary_table <- function(info) {
  cols <- info$columns
  data.frame(
    column = vapply(cols, function(c) as.character(c$name), ""),
    type = .col_types(info),
    min = .rollup(cols, "min"), max = .rollup(cols, "max"), mean = .rollup(cols, "mean"),
    sd = .rollup(cols, "sd"),
    missing = .rollup(cols, c("missing_count", "missing")),
    zeros = .rollup(cols, c("zero_count", "zeros")),
    pinf = .rollup(cols, c("pinf_count", "pinf")),
    ninf = .rollup(cols, c("ninf_count", "ninf")),
    cardinality = .rollup(cols, "cardinality"),
    stringsAsFactors = FALSE
  )
}

#' @rdname ShoalFrame
#' @export
summary.ShoalFrame <- function(object, ...) {
  info <- .frame_info(object, rollups = TRUE)
  out <- .summary_table(info)
  attr(out, "frame") <- .key_of(object)
  attr(out, "dim_frame") <- c(as.numeric(info$nrow), as.numeric(info$ncol))
  class(out) <- c("ShoalSummary", "data.frame")
  out
}

#' @export
print.ShoalSummary <- function(x, ...) {
  d <- attr(x, "dim_frame")
  cat(sprintf("ShoalFrame '%s': %.0f rows x %.0f columns\n", attr(x, "frame"), d[1], d[2]))
  y <- x
  class(y) <- "data.frame"
  attr(y, "frame") <- NULL
  attr(y, "dim_frame") <- NULL
  print(y, row.names = FALSE, digits = 6)
  invisible(x)
}

#' @rdname ShoalFrame
#' @export
print.ShoalFrame <- function(x, n = 10L, ...) {
  d <- dim(x)
  cat(sprintf("ShoalFrame '%s': %d rows x %d columns\n", .key_of(x), d[1], d[2]))
  if (d[2] > 0L && d[1] > 0L) {
    shown <- head(x, n)
    print(shown)
    if (d[1] > nrow(shown)) cat(sprintf("... %d more rows\n", d[1] - nrow(shown)))
  }
  types <- .col_types(.frame_info(x))
  cat("Types:", paste(sprintf("%s <%s>", names(x), types), collapse = ", "), "\n")
  invisible(x)
}

#' @rdname ShoalFrame
#' @export
str.ShoalFrame <- function(object, ...) {
  d <- dim(object)
  cat(sprintf("ShoalFrame '%s': %d obs. of %d variables\n", .key_of(object), d[1], d[2]))
  invisible(NULL)
}

#' Upload an R object as a Shoal frame
#'
#' A data.frame travels in the SHOALCOL binary format: factor becomes `enum`, character
#' `string`, integer `int`, double `real`, logical `bool`, POSIXct and Date `time`.
#'
#' @param x a data.frame (or anything `as.data.frame()` accepts), or a ShoalFrame
#'   (returned unchanged).
#' @param destination_frame key of the new frame; the server chooses one when NULL.
#' @param ... passed to methods.
#' @return a ShoalFrame.
#' @export
as_shoal <- function(x, destination_frame = NULL, ...) UseMethod("as_shoal")

#' @rdname as_shoal
#' @export
as_shoal.ShoalFrame <- function(x, destination_frame = NULL, ...) x

#' @rdname as_shoal
#' @export
as_shoal.data.frame <- function(x, destination_frame = NULL, ...) {
  shoal_upload_frame(x, destination_frame = destination_frame)
}

#' @rdname as_shoal
#' @export
as_shoal.default <- function(x, destination_frame = NULL, ...) {
  as_shoal.data.frame(as.data.frame(x, stringsAsFactors = FALSE), destination_frame, ...)
}

#' Describe a frame
#'
#' Prints rows, columns, per-column type and rollups (min, max, mean, sd, missing,
#' cardinality), the chunk encodings and the compressed against the raw size.
#'
#' @param fr a ShoalFrame or a frame key.
#' @param chunk_summary also list every chunk (its rows, node, size and codecs).
#' @return the frame description (a list, as the API returns it), invisibly.
#' @export
shoal_describe <- function(fr, chunk_summary = FALSE) {
  key <- .as_key(fr)
  info <- shoal_request("GET", .frame_path(key),
                        query = list(rollups = TRUE, chunk_summary = chunk_summary))$frame
  cat(sprintf("Frame '%s': %.0f rows x %.0f columns, %.0f chunks\n", key,
              .num(info$nrow), .num(info$ncol), .num(info$nchunks)))
  cat(sprintf("Size: %s compressed, %s raw (ratio %.2f)\n", .fmt_bytes(.num(info$bytes)),
              .fmt_bytes(.num(info$raw_bytes)), .num(info$compression_ratio)))
  enc <- .encodings_table(info$encodings)
  if (nrow(enc)) {
    cat("Encodings:", paste(sprintf("%s (%s chunks, %s)", enc$codec, enc$chunks,
                                    vapply(enc$bytes, .fmt_bytes, "")), collapse = ", "), "\n")
  }
  print(.summary_table(info), row.names = FALSE, digits = 6)
  cs <- info$chunk_summary
  if (isTRUE(chunk_summary) && length(cs)) {
    nodes <- cs$nodes
    if (length(nodes)) {
      cat("Chunks per node:\n")
      print(data.frame(
        node = vapply(nodes, function(n) as.character(n$node %||% ""), ""),
        chunks = vapply(nodes, function(n) .num(n$chunks), 0),
        rows = vapply(nodes, function(n) .num(n$rows), 0),
        bytes = vapply(nodes, function(n) .num(n$bytes), 0),
        stringsAsFactors = FALSE
      ), row.names = FALSE)
    }
  }
  invisible(info)
}

# encodings: [{codec, chunks, bytes}] (or an older {codec: chunks} object)
.encodings_table <- function(enc) {
  if (!length(enc)) return(data.frame(codec = character(0), chunks = numeric(0), bytes = numeric(0)))
  if (!is.null(names(enc))) {
    return(data.frame(codec = names(enc), chunks = vapply(enc, .num, 0), bytes = NA_real_,
                      stringsAsFactors = FALSE, row.names = NULL))
  }
  data.frame(codec = vapply(enc, function(e) as.character(e$codec), ""),
             chunks = vapply(enc, function(e) .num(e$chunks), 0),
             bytes = vapply(enc, function(e) .num(e$bytes), 0), stringsAsFactors = FALSE)
}

`%||%` <- function(a, b) if (is.null(a)) b else a

.fmt_bytes <- function(b) {
  if (is.na(b)) return("?")
  units <- c("B", "KB", "MB", "GB", "TB")
  i <- if (b <= 0) 1 else min(length(units), floor(log(b, 1024)) + 1)
  sprintf("%.1f %s", b / 1024^(i - 1), units[i])
}
