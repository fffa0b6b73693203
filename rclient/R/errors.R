# Classed conditions for every failure the client reports.
#
# A server error envelope {"error": {"code", "message", "details"}} becomes a condition of class
# c("shoal_error_<code>", "shoal_error", "error", "condition"), reported against the user's
# call (the outermost call into this package), as httr2 does. Client-side failures use the
# same shape with client codes (`connection_error`, as in the Python client, and
# `invalid_argument`).

# The call the user typed: the outermost frame on the stack whose function lives in this
# namespace. For an S3 method, sys.call() of the method frame is the generic's call
# (`summary(fr)`), which is what the user wrote.
.user_call <- function() {
  ns <- topenv(environment(.user_call))
  n <- sys.nframe() - 1L
  if (n < 1L) return(NULL)
  for (i in seq_len(n)) {
    fn <- sys.function(i)
    if (is.function(fn) && identical(topenv(environment(fn)), ns)) {
      return(sys.call(i))
    }
  }
  NULL
}

.format_problems <- function(details) {
  problems <- details$problems
  if (!length(problems)) return("")
  lines <- vapply(problems, function(p) {
    param <- if (is.null(p$parameter)) "" else sprintf("`%s`: ", p$parameter)
    paste0("* ", param, if (is.null(p$message)) "" else p$message)
  }, "")
  paste0("\n", paste(lines, collapse = "\n"))
}

#' Shoal error conditions
#'
#' Every error from the server or the client is signalled as a condition of class
#' `c("shoal_error_<code>", "shoal_error", "error", "condition")`, where `<code>` is the code
#' from the API error catalog (`frame_not_found`, `invalid_parameter`, `parse_error`, ...).
#' The condition carries `code`, `details` (a list) and `status` (the HTTP status, or
#' `NA`) and is reported against the user's call. Catch one kind with
#' `tryCatch(..., shoal_error_frame_not_found = function(e) ...)`.
#'
#' @param code the error code.
#' @param message the message.
#' @param details a list of structured facts.
#' @param status the HTTP status code or `NA`.
#' @param call the call to report the error against.
#' @return `shoal_error_condition()` returns the condition; `shoal_abort()` signals it.
#' @name shoal_error
#' @export
shoal_error_condition <- function(code, message, details = list(), status = NA_integer_,
                                  call = .user_call()) {
  code <- as.character(code)
  if (!length(code) || is.na(code) || !nzchar(code)) code <- "internal_error"
  msg <- paste0(message, .format_problems(details))
  structure(
    class = c(paste0("shoal_error_", code), "shoal_error", "error", "condition"),
    list(message = msg, call = call, code = code, details = details,
         status = as.integer(status))
  )
}

#' @rdname shoal_error
#' @export
shoal_abort <- function(code, message, details = list(), status = NA_integer_,
                        call = .user_call()) {
  stop(shoal_error_condition(code, message, details, status, call = call))
}

.status_codes <- c("400" = "invalid_parameter", "401" = "unauthorized", "403" = "forbidden",
                   "404" = "not_found", "405" = "method_not_allowed", "409" = "conflict",
                   "413" = "payload_too_large", "415" = "unsupported_media_type",
                   "503" = "cluster_error")

# Turn a non-2xx HTTP response into a condition.
.error_from_response <- function(status, content, call) {
  parsed <- tryCatch(
    jsonlite::fromJSON(rawToChar(content), simplifyVector = FALSE),
    error = function(e) NULL
  )
  err <- if (is.list(parsed)) parsed$error else NULL
  if (is.list(err) && !is.null(err$code)) {
    details <- if (is.list(err$details)) err$details else list()
    return(shoal_error_condition(err$code, if (is.null(err$message)) "" else err$message,
                                 details, status, call = call))
  }
  text <- tryCatch(rawToChar(utils::head(content, 500L)), error = function(e) "")
  # No envelope (a proxy, or a server bug): the code follows the status, as in the Python client.
  code <- .status_codes[as.character(status)]
  shoal_error_condition(if (is.na(code)) "internal_error" else unname(code),
                        sprintf("The server answered HTTP %d without an error envelope: %s",
                                status, text),
                        list(), status, call = call)
}
