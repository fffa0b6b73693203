# The one transport: HTTP/JSON calls, bearer token, streaming file upload, binary download.
#
# It knows URLs, parameters and bytes, never frames or jobs. Every call goes through
# .shoal_request(); non-2xx answers become classed conditions (errors.R).

.shoal <- new.env(parent = emptyenv())
.shoal$conn <- NULL

.api_prefix <- "/api/v1"

.new_conn <- function(url, token = NULL) {
  url <- sub("/+$", "", url)
  list(url = url, token = if (is.null(token) || !nzchar(token)) NULL else token)
}

.shoal_conn <- function(call = .user_call()) {
  conn <- .shoal$conn
  if (is.null(conn)) {
    shoal_abort("connection_error",
                "No Shoal connection: call shoal_init() first (or shoal_init(url = ...)).",
                call = call)
  }
  conn
}

# curl::handle_setheaders() replaces every header at once, so all of a request's headers are
# set here, in one call.
.handle <- function(conn, timeout = NULL, headers = character()) {
  h <- curl::new_handle()
  all <- c("Accept" = "application/json", "User-Agent" = "shoal-r")
  all[names(headers)] <- headers
  if (!is.null(conn$token)) all["Authorization"] <- paste("Bearer", conn$token)
  do.call(curl::handle_setheaders, c(list(h), as.list(all)))
  curl::handle_setopt(h, connecttimeout = 10)
  if (!is.null(timeout)) curl::handle_setopt(h, timeout = timeout)
  h
}

# One query-string value: scalars as text (logical as true/false), vectors and lists as JSON.
.query_value <- function(value, type = NULL) {
  if (is.list(value) || length(value) > 1L || (!is.null(type) && grepl("^(list|dict)", type))) {
    return(as.character(.to_json(value, type)))
  }
  if (is.logical(value)) return(if (isTRUE(value)) "true" else "false")
  if (is.numeric(value)) return(format(value, scientific = FALSE, digits = 15, trim = TRUE))
  as.character(value)
}

.build_query <- function(query, types = NULL) {
  query <- query[!vapply(query, is.null, TRUE)]
  if (!length(query)) return("")
  parts <- vapply(names(query), function(k) {
    paste0(curl::curl_escape(k), "=", curl::curl_escape(.query_value(query[[k]], types[[k]])))
  }, "")
  paste0("?", paste(parts, collapse = "&"))
}

# JSON for one parameter value: list-typed parameters stay arrays even with one element.
.to_json <- function(value, type = NULL) {
  jsonlite::toJSON(.box(value, type), auto_unbox = TRUE, digits = NA, null = "null", na = "null")
}

.box <- function(value, type = NULL) {
  if (is.null(type) || is.null(value)) return(value)
  types <- strsplit(type, "|", fixed = TRUE)[[1L]]
  if (!is.null(names(value)) && "dict" %in% types) {
    # an object: named vector or list; vectors inside stay arrays unless length one
    return(lapply(as.list(value), function(v) if (is.atomic(v) && length(v) > 1L) I(unname(v)) else v))
  }
  if (is.atomic(value) && any(startsWith(types, "list["))) return(I(unname(value)))
  value
}

.json_body <- function(params, types = NULL) {
  params <- params[!vapply(params, is.null, TRUE)]
  boxed <- lapply(names(params), function(k) .box(params[[k]], types[[k]]))
  names(boxed) <- names(params)
  if (!length(boxed)) return("{}")
  as.character(jsonlite::toJSON(boxed, auto_unbox = TRUE, digits = NA, null = "null",
                                na = "null"))
}

#' Call the Shoal HTTP API
#'
#' The low-level transport used by every other function: sends one request to the node
#' this session is connected to and returns the parsed JSON answer (or raw bytes).
#' A non-2xx answer is signalled as a classed condition (see [shoal_error]).
#'
#' @param method HTTP method.
#' @param path path below the node's URL (e.g. `"/api/v1/frames"`).
#' @param query named list of query parameters (NULL entries are dropped).
#' @param body named list sent as a JSON object (NULL entries are dropped), or NULL.
#' @param raw_body a raw vector sent as the body, or NULL.
#' @param file path of a file streamed as the body, or NULL.
#' @param types named character vector of parameter types from the API description, so
#'   list parameters stay JSON arrays.
#' @param as `"json"` (parsed list) or `"raw"` (the body bytes).
#' @param content_type the body's media type for `raw_body` and `file`.
#' @param progress show a text progress bar while a `file` or `raw_body` uploads.
#' @param call the call errors are reported against.
#' @return parsed JSON as a list, or a raw vector.
#' @export
shoal_request <- function(method, path, query = NULL, body = NULL, raw_body = NULL, file = NULL,
                          types = NULL, as = c("json", "raw"),
                          content_type = "application/octet-stream", progress = FALSE,
                          call = .user_call()) {
  as <- match.arg(as)
  conn <- .shoal_conn(call = call)
  url <- paste0(conn$url, path, .build_query(query, types))
  method <- toupper(method)
  headers <- character()
  if (as == "raw") headers["Accept"] <- "application/x-shoalcol, text/csv, */*"
  send_json <- is.null(file) && is.null(raw_body) && (!is.null(body) || method == "POST")
  if (send_json) {
    headers["Content-Type"] <- "application/json"
  } else if (!is.null(file) || !is.null(raw_body)) {
    headers["Content-Type"] <- content_type
  }
  h <- .handle(conn, headers = headers)
  con <- NULL
  if (!is.null(file)) {
    size <- file.info(file)$size
    con <- file(file, "rb")
    on.exit(close(con), add = TRUE)
    curl::handle_setopt(h, post = TRUE, postfieldsize_large = size,
                        readfunction = function(n) readBin(con, raw(), n))
  } else if (!is.null(raw_body)) {
    curl::handle_setopt(h, post = TRUE, postfieldsize_large = length(raw_body),
                        postfields = raw_body)
  } else if (send_json) {
    curl::handle_setopt(h, postfields = .json_body(if (is.null(body)) list() else body, types))
  }
  if (isTRUE(progress) && (!is.null(file) || !is.null(raw_body))) {
    bar <- utils::txtProgressBar(min = 0, max = 1, style = 3)
    on.exit(close(bar), add = TRUE)
    curl::handle_setopt(h, noprogress = FALSE, xferinfofunction = function(down, up) {
      if (up[1] > 0) utils::setTxtProgressBar(bar, up[2] / up[1])
      TRUE
    })
  }
  if (method != "POST" && method != "GET") curl::handle_setopt(h, customrequest = method)
  if (method == "GET" && (!is.null(file) || !is.null(raw_body) || !is.null(body))) {
    curl::handle_setopt(h, customrequest = "GET")
  }
  resp <- tryCatch(
    curl::curl_fetch_memory(url, handle = h),
    error = function(e) {
      shoal_abort("connection_error",
                  sprintf("Could not reach the Shoal node at %s: %s", conn$url, conditionMessage(e)),
                  list(url = conn$url), call = call)
    }
  )
  if (resp$status_code >= 300L) {
    stop(.error_from_response(resp$status_code, resp$content, call))
  }
  if (as == "raw") return(resp$content)
  if (!length(resp$content)) return(list())
  text <- rawToChar(resp$content)
  Encoding(text) <- "UTF-8"
  jsonlite::fromJSON(text, simplifyVector = FALSE)
}

# Health check against a URL that need not be the current connection.
.health <- function(url, token = NULL, timeout = 2) {
  h <- .handle(.new_conn(url, token), timeout = timeout)
  resp <- tryCatch(curl::curl_fetch_memory(paste0(sub("/+$", "", url), .api_prefix, "/health"),
                                           handle = h),
                   error = function(e) NULL)
  if (is.null(resp) || resp$status_code != 200L) return(NULL)
  tryCatch(jsonlite::fromJSON(rawToChar(resp$content), simplifyVector = FALSE),
           error = function(e) NULL)
}
