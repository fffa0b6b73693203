# Helpers for the pytest/rpy2 parity tests: a canonical, exact text form of R values that the
# Python side can build from pandas too (see tests/r/canon.py).

# data.frame -> JSON: [{name, kind, levels, values}] with values as exact text
# (doubles "%.17g", time as epoch milliseconds, logicals TRUE/FALSE, NA as null).
canon_df <- function(df) {
  cols <- lapply(names(df), function(n) {
    x <- df[[n]]
    kind <- if (is.factor(x)) "factor" else if (inherits(x, "POSIXct")) "time" else
      if (is.logical(x)) "logical" else if (is.numeric(x)) "number" else "character"
    vals <- switch(kind,
      factor = as.character(x),
      time = sprintf("%.17g", round(as.numeric(x) * 1000)),
      logical = ifelse(x, "TRUE", "FALSE"),
      number = sprintf("%.17g", as.numeric(x)),
      character = as.character(x))
    vals[is.na(x)] <- NA
    list(name = n, kind = kind, levels = if (is.factor(x)) levels(x) else NULL,
         values = I(vals))
  })
  as.character(jsonlite::toJSON(cols, auto_unbox = TRUE, null = "null", na = "null"))
}

# Any R value (lists from the API) -> JSON text with every number as exact "%.17g" text
# (jsonlite prints at most 15 significant digits); canon.num_text() does the same in Python.
canon_json <- function(x) {
  as.character(jsonlite::toJSON(.num_text(x), auto_unbox = TRUE, null = "null", na = "null"))
}

.num_text <- function(x) {
  if (is.data.frame(x)) x <- lapply(seq_len(nrow(x)), function(i) as.list(x[i, , drop = FALSE]))
  if (is.list(x)) {
    out <- lapply(x, .num_text)
    attributes(out) <- attributes(x)[intersect(names(attributes(x)), "names")]
    return(out)
  }
  if (is.numeric(x) && !is.factor(x)) {
    y <- sprintf("%.17g", as.numeric(x))
    y[is.na(x)] <- NA
    return(y)
  }
  if (is.factor(x)) return(as.character(x))
  x
}

# Run an expression; return the error code of a shoal_error, or "" when it succeeds.
error_code <- function(expr) {
  tryCatch({
    force(expr)
    ""
  }, shoal_error = function(e) e$code)
}

key_of <- function(fr) shoal:::.key_of(fr)
