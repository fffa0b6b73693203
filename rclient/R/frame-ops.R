# Munging on ShoalFrame, H2O-R style: `$`, `[`, Ops, Math, Summary, merge, quantile, group_by...
#
# Every call builds one expression tree (the builders of generated-expr.R) and evaluates it at
# once with the `evaluate` operation: the result is a new frame on the cluster (a *temporary*:
# a server-chosen key, deleted once no R handle refers to it any more), or an R value for the
# reducers. Frames the user named or imported are never deleted by the client.
#
# Deleting on garbage collection: the finalizer of a temporary's cache environment only queues
# the key (a finalizer may run in the middle of another HTTP call); the queue is flushed by the
# next munging call, or by shoal_gc().

# -------------------------------------------------------------------------------- expressions
.is_expr <- function(x) is.list(x) && !inherits(x, "ShoalFrame") && is.character(x$op) && length(x$op) == 1L

# One operand as JSON: a ShoalFrame becomes its frame leaf, an expression stays, NA is null.
.expr_arg <- function(v) {
  if (inherits(v, "ShoalFrame")) return(list(op = "frame", key = .key_of(v)))
  if (.is_expr(v)) return(v)
  if (is.factor(v)) v <- as.character(v)
  if (inherits(v, "POSIXct")) v <- as.numeric(v) * 1000
  if (is.atomic(v) && length(v) == 1L) return(if (is.na(v) && !is.nan(v)) NA else unname(v))
  shoal_abort("invalid_argument",
              sprintf(paste("An expression operand is a ShoalFrame, an expression (shoal_expr_*()) or one",
                            "number, string or logical; got %s of length %d."),
                      paste(class(v), collapse = "/"), length(v)))
}

# A parameter: a ShoalFrame (as for col's `frame`) is sent as its key.
.expr_param <- function(v) if (inherits(v, "ShoalFrame")) .key_of(v) else v

# The node of one op (called by every generated builder): arity checked against the
# description, NULL operands at the end and NULL parameters dropped.
.shoal_expr <- function(op, args, params) {
  spec <- .shoal_expr_ops[[op]]
  while (length(args) && is.null(args[[length(args)]])) args[[length(args)]] <- NULL
  if (!is.null(spec)) {
    hi <- spec$max_args
    if (length(args) < spec$min_args || (!is.na(hi) && length(args) > hi)) {
      shoal_abort("invalid_argument",
                  sprintf("Expression op `%s` takes %s operands; got %d.", op,
                          if (is.na(hi)) sprintf("at least %d", spec$min_args) else
                            if (hi == spec$min_args) hi else sprintf("%d to %d", spec$min_args, hi),
                          length(args)))
    }
  }
  node <- list(op = op)
  if (length(args)) node$args <- lapply(args, .expr_arg)
  params <- params[!vapply(params, is.null, TRUE)]
  for (p in names(params)) node[[p]] <- .expr_param(params[[p]])
  node
}

# -------------------------------------------------------------------------------- temporaries
.temp_queue <- new.env(parent = emptyenv())
.temp_queue$keys <- character(0)

.mark_temp <- function(fr) {
  cache <- .subset2(fr, "cache")
  cache$temp <- TRUE
  reg.finalizer(cache, .queue_delete(.key_of(fr), .shoal$conn$url %||% ""), onexit = FALSE)
  fr
}

# The finalizer: its environment holds only the key and the node's URL, never the handle.
.queue_delete <- function(key, url) {
  force(key)
  force(url)
  function(e) {
    .temp_queue$keys <- c(.temp_queue$keys, stats::setNames(key, url))
  }
}

#' Delete the temporary frames R no longer refers to
#'
#' Frames made by munging calls (`fr$x + 1`, `fr[mask, ]`, ...) are temporaries: when R garbage
#' collects the last handle on one, its key is queued and deleted on the cluster by the next
#' munging call. `shoal_gc()` runs R's garbage collector and deletes the queued frames now.
#' Frames you named (`destination_frame`, `dest`) or imported are never deleted this way.
#'
#' @return the deleted keys, invisibly.
#' @export
shoal_gc <- function() {
  gc(verbose = FALSE)
  invisible(.flush_temps())
}

.flush_temps <- function() {
  keys <- .temp_queue$keys
  if (!length(keys)) return(character(0))
  .temp_queue$keys <- character(0)
  url <- .shoal$conn$url %||% ""
  mine <- keys[names(keys) == url]
  for (k in mine) tryCatch(shoal_delete_frame(k), error = function(e) NULL)
  unname(mine)
}

# Evaluate a tree now; frames that come back are temporaries unless `dest` names them.
.ev <- function(tree, dest = NULL) {
  .flush_temps()
  res <- shoal_evaluate(tree, dest = dest)
  if (!is.null(dest)) return(res)
  if (inherits(res, "ShoalFrame")) return(.mark_temp(res))
  if (is.list(res) && length(res) && all(vapply(res, inherits, TRUE, "ShoalFrame"))) {
    return(lapply(res, .mark_temp))
  }
  res
}

.need_frame <- function(x, what = "x") {
  if (!inherits(x, "ShoalFrame")) {
    shoal_abort("invalid_argument", sprintf("`%s` must be a ShoalFrame; got an object of class `%s`.",
                                            what, paste(class(x), collapse = "/")))
  }
  x
}

# An R vector as a one-column temporary frame (for `fr$c <- v`, `fr[i, ] ` with R indices).
.vector_frame <- function(v, name = "x") {
  df <- data.frame(v, stringsAsFactors = FALSE)
  names(df) <- name
  .mark_temp(shoal_upload_frame(df))
}

# A ShoalFrame as is; a data.frame (or what as.data.frame() takes) uploaded as a temporary.
.as_frame <- function(v) if (inherits(v, "ShoalFrame")) v else .mark_temp(as_shoal(v))

.operand <- function(v, nrows) {
  if (inherits(v, "ShoalFrame") || .is_expr(v) || (is.atomic(v) && length(v) == 1L)) return(v)
  if (is.atomic(v) && length(v) == nrows) return(.vector_frame(v))
  shoal_abort("invalid_argument",
              sprintf("A value must be a ShoalFrame, one value, or a vector of nrow (%d) values; got length %d.",
                      nrows, length(v)))
}

#' Munging on ShoalFrame (H2O-R style)
#'
#' Frame operations run on the cluster. Each call evaluates at once and returns a new
#' (temporary) `ShoalFrame`, or an R value for reductions. Temporaries are deleted when R
#' garbage collects their last handle (see [shoal_gc()]); frames you named are kept.
#'
#' * Columns: `fr$x`, `fr[["x"]]`, `fr[[2]]`, `fr[, c("a", "b")]`, `fr[, 2:3]`, `fr[, -1]`.
#' * Rows: `fr[1:10, ]` (1-based; negative indices drop), `fr[c(TRUE, FALSE, ...), ]`,
#'   `fr[fr$x > 1, ]` (a one-column logical ShoalFrame mask: NA rows are dropped).
#' * Assignment: `fr$c <- fr$a * 2`, `fr[["c"]] <- 0`, `fr[, "c"] <- v`, `fr[mask, "c"] <- v`
#'   (`v` a one-column frame, one value, or an R vector of `nrow(fr)` values); `names(fr) <- ...`.
#' * `Ops`: `+ - * / ^ %% %/%`, `== != < <= > >=`, `& | !` (Kleene logic), unary `-`.
#' * `Math`: `abs sign sqrt floor ceiling trunc round signif exp expm1 log log1p log2 log10`,
#'   `cos sin tan acos asin atan cosh sinh tanh cumsum cumprod cummax cummin` (`log(x, base)` too).
#' * `Summary`: `sum min max prod all any range` return R values over all columns;
#'   `mean()`, `median()`, [shoal_sd()], [shoal_var()] one value per column.
#' * `is.na()`, `unique()`, `levels()`, `cut()`, `scale()`, `relevel()`, `quantile()`, `merge()`,
#'   `cbind()`, `rbind()`.
#'
#' @param x,e1,e2,data,fr a `ShoalFrame`.
#' @param i,j rows and columns (see above).
#' @param name,value a column name and the value to assign.
#' @param na.rm skip missing values (default `FALSE`: any missing value gives `NA`).
#' @param ... further arguments (see each function).
#' @name shoal_munging
NULL

# -------------------------------------------------------------------------------- columns
.col_index <- function(x, j) {
  if (is.character(j)) {
    miss <- setdiff(j, names(x))
    if (length(miss)) {
      shoal_abort("invalid_argument", sprintf("No column %s in frame '%s'; columns: %s.",
                                              paste0("`", miss, "`", collapse = ", "), .key_of(x),
                                              paste(names(x), collapse = ", ")))
    }
    return(j)
  }
  if (is.logical(j)) j <- which(rep_len(j, ncol(x)))
  j <- as.integer(j)
  nc <- ncol(x)
  if (any(is.na(j)) || any(abs(j) > nc) || any(j == 0L) || (any(j < 0L) && any(j > 0L))) {
    shoal_abort("invalid_argument", sprintf(paste("Column indices are 1-based, all positive or all negative,",
                                                  "within 1..%d; got %s."), nc, paste(j, collapse = ", ")))
  }
  if (all(j < 0L)) j <- setdiff(seq_len(nc), -j)
  j - 1L
}

.select_cols <- function(x, j) {
  sel <- .col_index(x, j)
  if (length(sel) == 1L) {
    return(if (is.character(sel)) shoal_expr_col(x, name = sel) else shoal_expr_col(x, index = sel))
  }
  shoal_expr_cols(x, select = I(sel))
}

#' @rdname shoal_munging
#' @export
`$.ShoalFrame` <- function(x, name) .ev(.select_cols(x, name))

#' @rdname shoal_munging
#' @export
`[[.ShoalFrame` <- function(x, i, ...) {
  if (length(i) != 1L) shoal_abort("invalid_argument", "`[[` selects exactly one column; use `[` for several.")
  .ev(.select_cols(x, i))
}

.row_select <- function(x, tree, i) {
  if (inherits(i, "ShoalFrame")) return(shoal_expr_rows(tree, i))
  if (is.logical(i)) {
    nr <- nrow(x)
    if (length(i) != nr && nr %% length(i) != 0L) {
      shoal_abort("invalid_argument", sprintf("A logical row index has %d values for %d rows.", length(i), nr))
    }
    i <- which(rep_len(i, nr))
  }
  i <- as.numeric(i)
  if (any(is.na(i)) || any(i == 0)) shoal_abort("invalid_argument", "Row indices are 1-based and not NA.")
  if (length(i) && all(i < 0)) i <- setdiff(seq_len(nrow(x)), -i)
  if (any(i < 0)) shoal_abort("invalid_argument", "Row indices are all positive or all negative.")
  shoal_expr_rows(tree, select = I(as.numeric(i) - 1))
}

#' @rdname shoal_munging
#' @param drop ignored (a ShoalFrame stays a frame).
#' @export
`[.ShoalFrame` <- function(x, i, j, ..., drop = FALSE) {
  n_idx <- nargs() - !missing(drop)
  if (n_idx == 2L) {  # fr[j] (columns) or fr[mask]
    if (missing(i)) return(x)
    if (inherits(i, "ShoalFrame")) return(.ev(shoal_expr_rows(x, i)))
    return(.ev(.select_cols(x, i)))
  }
  tree <- if (missing(j)) .expr_arg(x) else {
    sel <- .col_index(x, j)
    shoal_expr_cols(x, select = I(sel))
  }
  if (!missing(i)) tree <- .row_select(x, tree, i)
  if (identical(tree, .expr_arg(x))) return(x)
  .ev(tree)
}

.assign_col <- function(x, name, value, mask = NULL) {
  .need_frame(x)
  if (is.numeric(name)) name <- names(x)[.col_index(x, name) + 1L]
  if (length(name) != 1L) shoal_abort("invalid_argument", "Assign one column at a time.")
  nr <- nrow(x)
  value <- .operand(value, nr)
  if (!is.null(mask)) {
    old <- if (name %in% names(x)) shoal_expr_col(x, name = name) else NA
    value <- shoal_expr_ifelse(mask, value, old)
  }
  .ev(shoal_expr_assign(x, value, name = name))
}

#' @rdname shoal_munging
#' @export
`$<-.ShoalFrame` <- function(x, name, value) .assign_col(x, name, value)

#' @rdname shoal_munging
#' @export
`[[<-.ShoalFrame` <- function(x, i, value) .assign_col(x, i, value)

#' @rdname shoal_munging
#' @export
`[<-.ShoalFrame` <- function(x, i, j, value) {
  if (nargs() == 3L) {  # fr["c"] <- v
    j <- i
    i <- NULL
  } else if (missing(j)) {
    shoal_abort("invalid_argument", "Name the column to assign: fr[rows, \"c\"] <- value.")
  } else if (missing(i)) {
    i <- NULL
  }
  mask <- NULL
  if (!is.null(i)) {
    if (inherits(i, "ShoalFrame")) {
      mask <- i
    } else {
      nr <- nrow(x)
      keep <- if (is.logical(i)) rep_len(i, nr) else seq_len(nr) %in% as.integer(i)
      mask <- .vector_frame(keep & !is.na(keep), "mask")
    }
  }
  if (is.numeric(j)) j <- names(x)[.col_index(x, j) + 1L]
  out <- x
  for (name in j) out <- .assign_col(out, name, value, mask)
  out
}

#' @rdname shoal_munging
#' @export
`names<-.ShoalFrame` <- function(x, value) .ev(shoal_expr_rename(x, names = I(as.character(value))))

# -------------------------------------------------------------------------------- Ops, Math
.ops_map <- c("+" = "add", "-" = "sub", "*" = "mul", "/" = "div", "^" = "pow", "%%" = "mod",
              "%/%" = "floordiv", "==" = "eq", "!=" = "ne", "<" = "lt", "<=" = "le", ">" = "gt",
              ">=" = "ge", "&" = "and", "|" = "or")

#' @rdname shoal_munging
#' @export
Ops.ShoalFrame <- function(e1, e2) {
  if (missing(e2)) {
    tree <- switch(.Generic, "-" = shoal_expr_neg(e1), "!" = shoal_expr_not(e1), "+" = return(e1),
                   shoal_abort("invalid_argument", sprintf("Unary `%s` is not defined for a ShoalFrame.", .Generic)))
    return(.ev(tree))
  }
  op <- .ops_map[[.Generic]]
  .ev(.shoal_expr(op, list(.operand(e1, .nrow_of(e2, e1)), .operand(e2, .nrow_of(e1, e2))), list()))
}

.nrow_of <- function(a, b) if (inherits(a, "ShoalFrame")) nrow(a) else nrow(b)

.math_map <- c(abs = "abs", sign = "sign", sqrt = "sqrt", floor = "floor", ceiling = "ceil",
               trunc = "trunc", exp = "exp", expm1 = "expm1", log1p = "log1p", log2 = "log2",
               log10 = "log10", cos = "cos", sin = "sin", tan = "tan", acos = "acos", asin = "asin",
               atan = "atan", cosh = "cosh", sinh = "sinh", tanh = "tanh", cumsum = "cumsum",
               cumprod = "cumprod", cummax = "cummax", cummin = "cummin")

#' @rdname shoal_munging
#' @export
Math.ShoalFrame <- function(x, ...) {
  dots <- list(...)
  first <- function(name, default) {
    if (!is.null(dots[[name]])) return(dots[[name]])
    if (length(dots)) dots[[1L]] else default
  }
  tree <- switch(.Generic,
    round = shoal_expr_round(x, digits = as.integer(first("digits", 0L))),
    signif = shoal_expr_signif(x, digits = as.integer(first("digits", 6L))),
    log = {
      base <- first("base", NULL)
      if (is.null(base) || identical(base, exp(1))) shoal_expr_log(x) else
        shoal_expr_div(shoal_expr_log(x), log(base))
    },
    {
      op <- .math_map[.Generic]
      if (is.na(op)) {
        shoal_abort("invalid_argument",
                    sprintf("`%s` is not available on a ShoalFrame; available: %s.", .Generic,
                            paste(c(names(.math_map), "round", "signif", "log"), collapse = ", ")))
      }
      .shoal_expr(unname(op), list(x), list())
    })
  .ev(tree)
}

# Per-column values of a reducer (a vector named by column, or one value).
.reduce <- function(op, x, na.rm = FALSE) {
  .need_frame(x)
  v <- .ev(.shoal_expr(op, list(x), list(na_rm = isTRUE(na.rm))))
  if (length(v) > 1L || ncol(x) > 1L) names(v) <- names(x)
  v
}

#' @rdname shoal_munging
#' @export
Summary.ShoalFrame <- function(..., na.rm = FALSE) {
  fn <- get(.Generic, envir = baseenv(), mode = "function")
  ops <- c(sum = "sum", min = "min", max = "max", prod = "prod", all = "all", any = "any")
  vals <- lapply(list(...), function(a) {
    if (!inherits(a, "ShoalFrame")) return(a)
    if (.Generic == "range") return(c(.reduce("min", a, na.rm), .reduce("max", a, na.rm)))
    unname(.reduce(ops[[.Generic]], a, na.rm))
  })
  do.call(fn, c(vals, list(na.rm = na.rm)))
}

#' @rdname shoal_munging
#' @export
mean.ShoalFrame <- function(x, na.rm = FALSE, ...) .reduce("mean", x, na.rm)

#' @rdname shoal_munging
#' @export
median.ShoalFrame <- function(x, na.rm = FALSE, ...) .reduce("median", x, na.rm)

#' Standard deviation and variance of a ShoalFrame
#'
#' Sample statistics (denominator n - 1), one value per column.
#' @param x a ShoalFrame.
#' @param na.rm skip missing values (default `FALSE`: any missing value gives `NA`).
#' @return a number, or a vector named by column.
#' @export
shoal_sd <- function(x, na.rm = FALSE) .reduce("sd", x, na.rm)

#' @rdname shoal_sd
#' @export
shoal_var <- function(x, na.rm = FALSE) .reduce("var", x, na.rm)

#' @rdname shoal_munging
#' @export
is.na.ShoalFrame <- function(x) .ev(shoal_expr_isna(x))

#' @rdname shoal_munging
#' @export
unique.ShoalFrame <- function(x, incomparables = FALSE, ...) .ev(shoal_expr_unique(x))

#' @rdname shoal_munging
#' @export
levels.ShoalFrame <- function(x) {
  .flush_temps()
  if (ncol(x) > 1L) return(stats::setNames(lapply(seq_len(ncol(x)), function(j) levels(x[[j]])), names(x)))
  v <- shoal_evaluate(shoal_expr_levels(x))
  if (length(v) == 1L && is.na(v)) NULL else as.character(v)
}

#' @rdname shoal_munging
#' @param breaks,labels,include.lowest,right,dig.lab,ordered_result as in [base::cut()]
#'   (`breaks`: the edges).
#' @export
cut.ShoalFrame <- function(x, breaks, labels = NULL, include.lowest = FALSE, right = TRUE, dig.lab = 3,
                           ordered_result = FALSE, ...) {
  .ev(shoal_expr_cut(x, breaks = I(as.numeric(breaks)), labels = if (is.null(labels)) NULL else I(as.character(labels)),
                     right = isTRUE(right), include_lowest = isTRUE(include.lowest)))
}

#' @rdname shoal_munging
#' @param center,scale as in [base::scale()] (logicals).
#' @export
scale.ShoalFrame <- function(x, center = TRUE, scale = TRUE) {
  .ev(shoal_expr_scale(x, center = isTRUE(center), scale = isTRUE(scale)))
}

#' @rdname shoal_munging
#' @param ref the level to move first.
#' @export
relevel.ShoalFrame <- function(x, ref, ...) .ev(shoal_expr_relevel(x, y = ref))

# -------------------------------------------------------------------------------- shoal_* helpers
#' Elementwise, text, date and type helpers
#'
#' Each returns a new (temporary) ShoalFrame computed on the cluster.
#' `shoal_ifelse(test, yes, no)`: `yes` where `test` is true, else `no` (NA test gives NA).
#' Types: `shoal_asfactor`, `shoal_asnumeric` (enum → its 0-based codes, as H2O),
#' `shoal_ascharacter`, `shoal_as_date(x, format)`. Text (string columns): `shoal_tolower`,
#' `shoal_toupper`, `shoal_trim`, `shoal_nchar`, `shoal_substring(x, start, end)` (0-based, end
#' exclusive). Dates (UTC): `shoal_year`, `shoal_month`, `shoal_week` (ISO 8601), `shoal_day`,
#' `shoal_dayOfWeek`, `shoal_hour`, `shoal_minute`, `shoal_second`. Regular expressions (RE2
#' syntax, linear time), as H2O's: `shoal_sub` / `shoal_gsub` replace the first / every match
#' (`\\1` inserts a group), `shoal_strsplit` gives string columns `C1..Cn`, `shoal_grep` the
#' 0-based indices of the matching rows (as H2O) or, with `output.logical = TRUE`, a logical
#' column; a missing value never matches.
#'
#' @param x a ShoalFrame.
#' @param test,yes,no a logical one-column frame, and frames or single values.
#' @param format strptime format (default ISO 8601).
#' @param start,end character positions.
#' @param pattern,replacement,split a regular expression and its replacement.
#' @param ignore.case,invert,output.logical as in H2O's `h2o.grep()`.
#' @return a ShoalFrame.
#' @name shoal_elementwise
NULL

#' @rdname shoal_elementwise
#' @export
shoal_ifelse <- function(test, yes, no) {
  nr <- if (inherits(test, "ShoalFrame")) nrow(test) else 1L
  .ev(shoal_expr_ifelse(test, .operand(yes, nr), .operand(no, nr)))
}

#' @rdname shoal_elementwise
#' @export
shoal_asfactor <- function(x) .ev(shoal_expr_asfactor(x))
#' @rdname shoal_elementwise
#' @export
shoal_asnumeric <- function(x) .ev(shoal_expr_asnumeric(x))
#' @rdname shoal_elementwise
#' @export
shoal_ascharacter <- function(x) .ev(shoal_expr_ascharacter(x))
#' @rdname shoal_elementwise
#' @export
shoal_as_date <- function(x, format = NULL) .ev(shoal_expr_as_date(x, format = format))
#' @rdname shoal_elementwise
#' @export
shoal_tolower <- function(x) .ev(shoal_expr_tolower(x))
#' @rdname shoal_elementwise
#' @export
shoal_toupper <- function(x) .ev(shoal_expr_toupper(x))
#' @rdname shoal_elementwise
#' @export
shoal_trim <- function(x) .ev(shoal_expr_trim(x))
#' @rdname shoal_elementwise
#' @export
shoal_nchar <- function(x) .ev(shoal_expr_nchar(x))
#' @rdname shoal_elementwise
#' @export
shoal_substring <- function(x, start, end = NULL) {
  .ev(shoal_expr_substring(x, start = as.integer(start), end = if (is.null(end)) NULL else as.integer(end)))
}
#' @rdname shoal_elementwise
#' @export
shoal_year <- function(x) .ev(shoal_expr_year(x))
#' @rdname shoal_elementwise
#' @export
shoal_month <- function(x) .ev(shoal_expr_month(x))
#' @rdname shoal_elementwise
#' @export
shoal_week <- function(x) .ev(shoal_expr_week(x))
#' @rdname shoal_elementwise
#' @export
shoal_day <- function(x) .ev(shoal_expr_day(x))
#' @rdname shoal_elementwise
#' @export
shoal_dayOfWeek <- function(x) .ev(shoal_expr_dayOfWeek(x))
#' @rdname shoal_elementwise
#' @export
shoal_hour <- function(x) .ev(shoal_expr_hour(x))
#' @rdname shoal_elementwise
#' @export
shoal_minute <- function(x) .ev(shoal_expr_minute(x))
#' @rdname shoal_elementwise
#' @export
shoal_second <- function(x) .ev(shoal_expr_second(x))

#' @rdname shoal_elementwise
#' @export
shoal_sub <- function(pattern, replacement, x, ignore.case = FALSE) {
  .ev(shoal_expr_replacefirst(x, pattern = pattern, replacement = replacement, ignore_case = isTRUE(ignore.case)))
}
#' @rdname shoal_elementwise
#' @export
shoal_gsub <- function(pattern, replacement, x, ignore.case = FALSE) {
  .ev(shoal_expr_replaceall(x, pattern = pattern, replacement = replacement, ignore_case = isTRUE(ignore.case)))
}
#' @rdname shoal_elementwise
#' @export
shoal_strsplit <- function(x, split) .ev(shoal_expr_strsplit(x, pattern = split))
#' @rdname shoal_elementwise
#' @export
shoal_grep <- function(pattern, x, ignore.case = FALSE, invert = FALSE, output.logical = FALSE) {
  .ev(shoal_expr_grep(x, pattern = pattern, ignore_case = isTRUE(ignore.case), invert = isTRUE(invert),
                      output_logical = isTRUE(output.logical)))
}

# -------------------------------------------------------------------------------- reorganisations
#' Quantiles of a ShoalFrame
#'
#' @param x a ShoalFrame (numeric columns).
#' @param probs probabilities; default H2O-R's `h2o.quantile()` probabilities.
#' @param combine_method `"interpolate"` (R's type 7, `numpy.quantile` linear), `"average"`,
#'   `"low"` or `"high"`.
#' @param weights_column a column of row weights, or NULL.
#' @param ... ignored.
#' @return one column: a vector named `"1%"`, ...; several: a matrix, one row per probability.
#' @export
quantile.ShoalFrame <- function(x, probs = c(0.001, 0.01, 0.1, 0.25, 0.333, 0.5, 0.667, 0.75, 0.9, 0.99, 0.999),
                                combine_method = c("interpolate", "average", "low", "high"),
                                weights_column = NULL, ...) {
  combine_method <- match.arg(combine_method)
  q <- .ev(shoal_expr_quantile(x, probs = I(as.numeric(probs)), combine_method = combine_method,
                               weights = weights_column))
  df <- as.data.frame(q)
  nm <- paste0(formatC(100 * probs, format = "fg", width = 1, digits = 7), "%")
  vals <- as.matrix(df[, -1L, drop = FALSE])
  if (ncol(vals) == 1L) return(stats::setNames(as.numeric(vals[, 1L]), nm))
  dimnames(vals) <- list(nm, sub("Quantiles$", "", colnames(vals)))
  vals
}

#' @rdname shoal_munging
#' @param y the other frame.
#' @param by,by.x,by.y key columns (default: the common names).
#' @param all,all.x,all.y outer joins: `all.x` keeps x's unmatched rows, `all.y` y's,
#'   `all = TRUE` both (full outer). Missing keys never match (as H2O and SQL).
#' @export
merge.ShoalFrame <- function(x, y, by = intersect(names(x), names(y)), by.x = by, by.y = by,
                             all = FALSE, all.x = all, all.y = all, ...) {
  y <- .as_frame(y)
  .ev(shoal_expr_merge(x, y, by_x = I(as.character(by.x)), by_y = I(as.character(by.y)),
                       all_x = isTRUE(all.x), all_y = isTRUE(all.y)))
}

#' @rdname shoal_munging
#' @param deparse.level ignored.
#' @export
cbind.ShoalFrame <- function(..., deparse.level = 1) shoal_cbind(...)

#' @rdname shoal_munging
#' @export
rbind.ShoalFrame <- function(..., deparse.level = 1) {
  frames <- Filter(Negate(is.null), list(...))
  .ev(do.call(shoal_expr_rbind, lapply(frames, .as_frame)))
}

#' Frame reorganisation helpers
#'
#' `shoal_cbind(...)`: columns side by side (duplicate names get `_2`, ...).
#' `shoal_sort(fr, by, ascending)` and `shoal_arrange(fr, ..., ascending)` (names, quoted or
#' not): a stable sort, NA last. `shoal_split_frame(fr, ratios, seed)`: a list of
#' `length(ratios) + 1` frames. `shoal_table(x, y)`: counts per value (pair).
#' `shoal_unique(x)`. `shoal_kfold_column(fr, nfolds, seed)`: an int column `fold`.
#' `shoal_stratified_kfold_column(y, nfolds, seed)`. `shoal_impute(fr, column, method, by)`.
#' `shoal_drop_duplicates(fr, columns, keep)`. `shoal_fillna(fr, method, maxlen)`.
#' `shoal_cut(x, breaks, labels, right, include_lowest)`. `shoal_cor(x, y, use)`.
#' `shoal_hist(x, breaks)`: columns `lower upper counts mids density` (bins `(lower, upper]`).
#' `shoal_set_levels(x, levels)`: rename all levels of an enum column.
#' `shoal_runif(fr, seed)`. `shoal_nacnt(fr)`: missing values per column.
#'
#' @param fr,x,y ShoalFrames.
#' @param ... frames (`shoal_cbind`) or column names (`shoal_arrange`).
#' @param by,columns column names.
#' @param ascending a logical, or one per `by` column.
#' @param ratios,seed split fractions (the last part gets the rest) and random seed (-1: random).
#' @param nfolds number of folds.
#' @param column,method,keep,maxlen see `docs/munging.md`.
#' @param breaks,labels,right,include_lowest interval edges, labels, right-closed, first closed.
#' @param use `"everything"`, `"complete.obs"` or `"all.obs"`.
#' @return a ShoalFrame (a list of them for `shoal_split_frame`; a number for
#'   `shoal_cor` of two columns; a vector for `shoal_nacnt`).
#' @name shoal_reorganise
NULL

#' @rdname shoal_reorganise
#' @export
shoal_cbind <- function(...) {
  frames <- Filter(Negate(is.null), list(...))
  .ev(do.call(shoal_expr_cbind, lapply(frames, .as_frame)))
}

#' @rdname shoal_reorganise
#' @export
shoal_sort <- function(fr, by, ascending = TRUE) {
  .ev(shoal_expr_sort(fr, by = I(as.character(by)),
                      ascending = if (length(ascending) > 1L) I(as.logical(ascending)) else isTRUE(ascending)))
}

#' @rdname shoal_reorganise
#' @export
shoal_arrange <- function(fr, ..., ascending = TRUE) {
  by <- vapply(as.list(substitute(list(...)))[-1L],
               function(e) if (is.character(e)) e else deparse(e), "")
  shoal_sort(fr, by, ascending)
}

#' Rank rows within groups (H2O-3's `h2o.rank_within_group_by`)
#'
#' Sorts `fr` by `group_by_cols` (ascending) then `sort_cols` (`ascending`: one logical, or one
#' per sort column; default ascending; stable, NA last) and adds an integer column `new_col_name`
#' holding 1, 2, ... within each group in that order. A row with NA in a sort column gets an NA
#' rank and is not counted; NA group keys form their own group. `sort_cols_sorted = TRUE`
#' re-sorts the result by the sort columns alone. Columns are names or 1-based indices.
#' The two largest `v3` per `id6`:
#' `r <- shoal_rank_within_group_by(fr, "id6", "v3", ascending = FALSE)` then
#' `r[r$New_Rank_column <= 2, ]`.
#'
#' @param fr a ShoalFrame.
#' @param group_by_cols,sort_cols column names or 1-based indices.
#' @param ascending NULL (ascending), a logical, or one logical per sort column.
#' @param new_col_name name of the rank column.
#' @param sort_cols_sorted re-sort the result by the sort columns.
#' @return a ShoalFrame.
#' @rdname shoal_reorganise
#' @export
shoal_rank_within_group_by <- function(fr, group_by_cols, sort_cols, ascending = NULL,
                                       new_col_name = "New_Rank_column", sort_cols_sorted = FALSE) {
  cols <- function(v) if (is.numeric(v)) names(fr)[as.integer(v)] else as.character(v)
  asc <- if (is.null(ascending) || length(ascending) == 0L) NULL else
    if (length(ascending) > 1L) I(as.logical(ascending)) else isTRUE(ascending)
  .ev(shoal_expr_rank_within_group_by(fr, group_by_cols = I(cols(group_by_cols)), sort_cols = I(cols(sort_cols)),
                                      ascending = asc, new_col_name = as.character(new_col_name),
                                      sort_cols_sorted = isTRUE(sort_cols_sorted)))
}

#' @rdname shoal_reorganise
#' @export
shoal_split_frame <- function(fr, ratios = 0.75, seed = -1) {
  .ev(shoal_expr_split_frame(fr, ratios = I(as.numeric(ratios)), seed = as.numeric(seed)))
}

#' @rdname shoal_reorganise
#' @export
shoal_table <- function(x, y = NULL) .ev(shoal_expr_table(x, y))

#' @rdname shoal_reorganise
#' @export
shoal_unique <- function(x) .ev(shoal_expr_unique(x))

#' @rdname shoal_reorganise
#' @export
shoal_kfold_column <- function(fr, nfolds = 3, seed = -1) {
  .ev(shoal_expr_kfold_column(fr, nfolds = as.integer(nfolds), seed = as.numeric(seed)))
}

#' @rdname shoal_reorganise
#' @export
shoal_stratified_kfold_column <- function(y, nfolds = 3, seed = -1) {
  .ev(shoal_expr_stratified_kfold_column(y, nfolds = as.integer(nfolds), seed = as.numeric(seed)))
}

#' @rdname shoal_reorganise
#' @export
shoal_impute <- function(fr, column, method = c("mean", "median", "mode"), by = NULL) {
  method <- match.arg(method)
  if (is.numeric(column)) column <- names(fr)[column]
  .ev(shoal_expr_impute(fr, column = column, method = method,
                        by = if (is.null(by)) NULL else I(as.character(by))))
}

#' @rdname shoal_reorganise
#' @export
shoal_drop_duplicates <- function(fr, columns = NULL, keep = c("first", "last")) {
  keep <- match.arg(keep)
  .ev(shoal_expr_drop_duplicates(fr, by = if (is.null(columns)) NULL else I(as.character(columns)), keep = keep))
}

#' @rdname shoal_reorganise
#' @export
shoal_fillna <- function(fr, method = c("forward", "backward"), maxlen = 1L) {
  method <- match.arg(method)
  .ev(shoal_expr_fillna(fr, method = method, maxlen = as.integer(maxlen)))
}

#' @rdname shoal_reorganise
#' @export
shoal_cut <- function(x, breaks, labels = NULL, right = TRUE, include_lowest = FALSE) {
  cut.ShoalFrame(x, breaks, labels = labels, include.lowest = include_lowest, right = right)
}

#' @rdname shoal_reorganise
#' @export
shoal_cor <- function(x, y = NULL, use = c("everything", "complete.obs", "all.obs")) {
  use <- match.arg(use)
  .ev(shoal_expr_cor(x, y, use = use))
}

#' @rdname shoal_reorganise
#' @export
shoal_hist <- function(x, breaks = NULL) {
  .ev(shoal_expr_hist(x, breaks = if (is.null(breaks) || length(breaks) == 1L) breaks else I(as.numeric(breaks))))
}

#' @rdname shoal_reorganise
#' @param levels the new level names, in the domain's order.
#' @export
shoal_set_levels <- function(x, levels) .ev(shoal_expr_set_levels(x, levels = I(as.character(levels))))

#' @rdname shoal_reorganise
#' @export
shoal_runif <- function(fr, seed = -1) .ev(shoal_expr_runif(fr, seed = as.numeric(seed)))

#' @rdname shoal_reorganise
#' @export
shoal_nacnt <- function(fr) {
  v <- .ev(shoal_expr_nacnt(fr))
  if (ncol(fr) > 1L) names(v) <- names(fr)
  v
}

# -------------------------------------------------------------------------------- group_by
#' Group by and aggregate (H2O's `h2o.group_by()`)
#'
#' Aggregates are given H2O style, as calls in `...`: `nrow("x")` (or `nrow()`), `sum("x")`,
#' `mean("x")`, `min`, `max`, `sd`, `var`, `ss` (sum of squares), `mode`, `median`; each takes
#' one or more column names and an optional `na` (`"all"`, `"rm"`, `"ignore"`). The named form
#' `mean = c("x", "y")` does the same. `gb.control = list(na.methods = "rm")` sets the default
#' `na` of every aggregate (H2O's default `"all"`: any NA in a group gives NA). Output columns
#' are named as H2O's (`nrow`, `mean_x`, `sdev_x`, ...), rows sorted by the keys.
#'
#' @param data a ShoalFrame.
#' @param by the key columns (names, or 1-based indices).
#' @param ... aggregates (see above).
#' @param gb.control `list(na.methods = )`.
#' @return a ShoalFrame.
#' @examples
#' \dontrun{
#' shoal_group_by(flights, c("origin", "hour"), nrow("dep_delay"), mean("dep_delay"),
#'                gb.control = list(na.methods = "rm"))
#' }
#' @export
shoal_group_by <- function(data, by, ..., gb.control = list(na.methods = NULL)) {
  .need_frame(data, "data")
  if (is.numeric(by)) by <- names(data)[by]
  na_default <- gb.control$na.methods %||% "all"
  aggs <- list()
  add <- function(agg, cols, na) {
    agg <- if (agg %in% c("nrow", "count")) "nrow" else agg
    if (agg == "nrow") {
      aggs[[length(aggs) + 1L]] <<- list(agg = "nrow", na = na)
      return(invisible())
    }
    for (c in cols) aggs[[length(aggs) + 1L]] <<- list(agg = agg, col = c, na = na)
  }
  exprs <- as.list(substitute(list(...)))[-1L]
  nms <- names(exprs) %||% rep("", length(exprs))
  env <- parent.frame()
  for (k in seq_along(exprs)) {
    e <- exprs[[k]]
    if (nzchar(nms[k])) {
      add(nms[k], as.character(eval(e, env)), na_default)
    } else if (is.call(e)) {
      agg <- as.character(e[[1L]])
      a <- as.list(e)[-1L]
      an <- names(a) %||% rep("", length(a))
      na <- if ("na" %in% an) eval(a[[which(an == "na")]], env) else na_default
      cols <- unlist(lapply(a[an != "na"], function(v) as.character(eval(v, env))))
      add(agg, cols, na)
    } else {
      shoal_abort("invalid_argument", sprintf("An aggregate is a call like mean(\"x\"); got `%s`.", deparse(e)))
    }
  }
  .ev(shoal_expr_group_by(data, by = I(as.character(by)), aggs = if (length(aggs)) aggs else NULL))
}
