# SHOALCOL v1: the binary columnar format for bulk data, in base R.
#
# Layout (little-endian), exactly as docs/architecture.md fixes it:
#   0   "SHOALCOL"
#   8   uint32 version (1)
#   12  uint32 header length H (UTF-8 JSON)
#   16  header JSON, zero padded to a multiple of 8
#       buffers, each at an 8-byte aligned absolute offset named in the header
#
# Missing values use bit patterns R reads natively: an int32 NA is INT32_MIN (NA_integer_,
# and also R's logical NA), a float64 NA is R's NA_real_ pattern, so reading needs no pass
# over the values to mark missing ones. This file knows nothing of HTTP or frames.

.shoalcol_magic <- charToRaw("SHOALCOL")
.shoalcol_version <- 1L

.pad8 <- function(n) (8 - n %% 8) %% 8

# int64 buffers (string offsets) are read as (low, high) int32 pairs, because base R has no
# 64-bit integer; offsets stay far below 2^53 so doubles hold them exactly.
.read_int64 <- function(bytes, n) {
  if (n == 0L) return(numeric(0))
  words <- readBin(bytes, "integer", n = 2L * n, size = 4L, endian = "little")
  lo <- words[c(TRUE, FALSE)]
  hi <- words[c(FALSE, TRUE)]
  lo <- as.numeric(lo)
  lo[lo < 0] <- lo[lo < 0] + 4294967296
  lo + as.numeric(hi) * 4294967296
}

.write_int64 <- function(x) {
  x <- as.numeric(x)
  hi <- floor(x / 4294967296)
  lo <- x - hi * 4294967296
  lo[lo >= 2147483648] <- lo[lo >= 2147483648] - 4294967296
  words <- integer(2L * length(x))
  words[c(TRUE, FALSE)] <- as.integer(lo)
  words[c(FALSE, TRUE)] <- as.integer(hi)
  writeBin(words, raw(), size = 4L, endian = "little")
}

.slice <- function(raw_body, spec, what) {
  if (is.null(spec) || length(spec) != 2L) {
    stop(sprintf("SHOALCOL: column is missing its `%s` buffer", what), call. = FALSE)
  }
  off <- as.numeric(spec[[1L]])
  nbytes <- as.numeric(spec[[2L]])
  if (off < 0 || nbytes < 0 || off + nbytes > length(raw_body)) {
    stop(sprintf("SHOALCOL: buffer `%s` [%.0f, +%.0f) lies outside the %d-byte body",
                 what, off, nbytes, length(raw_body)), call. = FALSE)
  }
  if (nbytes == 0) return(raw(0))
  raw_body[(off + 1):(off + nbytes)]
}

# Split one UTF-8 byte buffer into strings at the given byte offsets, without a per-row loop:
# substring() works on bytes when the string is marked "bytes".
.split_utf8 <- function(data, offsets, valid) {
  n <- length(offsets) - 1L
  out <- rep(NA_character_, n)
  if (n == 0L) return(out)
  starts <- offsets[-length(offsets)]
  ends <- offsets[-1L]
  keep <- valid & ends > starts
  out[valid & !keep] <- ""
  if (any(keep)) {
    if (any(data == as.raw(0L))) {
      stop("SHOALCOL: a string contains a NUL byte, which R strings cannot hold", call. = FALSE)
    }
    s <- rawToChar(data)
    Encoding(s) <- "bytes"
    parts <- substring(s, starts[keep] + 1, ends[keep])
    Encoding(parts) <- "UTF-8"
    out[keep] <- parts
  }
  out
}

#' Read a SHOALCOL v1 body into a data.frame
#'
#' Columns map to R types: `int` to integer (double when the server marked the buffer
#' `"dtype": "f8"`), `real` to double, `enum` to factor, `string` to character,
#' `time` to POSIXct (UTC), `bool` to logical. Missing values become `NA`.
#'
#' @param body a raw vector holding the whole SHOALCOL body.
#' @return a data.frame.
#' @export
shoalcol_read <- function(body) {
  if (!is.raw(body)) stop("SHOALCOL: `body` must be a raw vector", call. = FALSE)
  if (length(body) < 16L || !identical(body[1:8], .shoalcol_magic)) {
    stop("SHOALCOL: the body does not start with the SHOALCOL magic bytes", call. = FALSE)
  }
  version <- readBin(body[9:12], "integer", size = 4L, endian = "little")
  if (version != .shoalcol_version) {
    stop(sprintf("SHOALCOL: version %d is not supported (this client reads version 1)", version),
         call. = FALSE)
  }
  hlen <- readBin(body[13:16], "integer", size = 4L, endian = "little")
  if (hlen < 0 || 16 + hlen > length(body)) {
    stop("SHOALCOL: header length runs past the end of the body", call. = FALSE)
  }
  hjson <- rawToChar(body[17:(16 + hlen)])
  Encoding(hjson) <- "UTF-8"
  header <- jsonlite::fromJSON(hjson, simplifyVector = FALSE)
  nrow <- as.integer(header$nrow)
  cols <- lapply(header$columns, .read_column, body = body, nrow = nrow)
  nms <- vapply(header$columns, function(c) enc2native(as.character(c$name)), "")
  names(cols) <- nms
  .new_df(cols, nrow)
}

.new_df <- function(cols, nrow) {
  # structure() keeps names exactly (no check.names mangling, duplicate names allowed).
  structure(cols, class = "data.frame", row.names = .set_row_names(nrow),
            names = if (length(cols)) names(cols) else character(0))
}

.set_row_names <- function(n) if (n > 0L) c(NA_integer_, -n) else integer(0)

.read_column <- function(col, body, nrow) {
  type <- col$type
  bufs <- col$buffers
  f8 <- identical(col$dtype, "f8") || identical(bufs$dtype, "f8")
  switch(type,
    real = readBin(.slice(body, bufs$data, "data"), "double", n = nrow, size = 8L,
                   endian = "little"),
    int = if (f8) {
      readBin(.slice(body, bufs$data, "data"), "double", n = nrow, size = 8L, endian = "little")
    } else {
      readBin(.slice(body, bufs$data, "data"), "integer", n = nrow, size = 4L, endian = "little")
    },
    bool = as.logical(readBin(.slice(body, bufs$data, "data"), "integer", n = nrow, size = 4L,
                              endian = "little")),
    enum = {
      codes <- readBin(.slice(body, bufs$data, "data"), "integer", n = nrow, size = 4L,
                       endian = "little")
      domain <- vapply(col$domain, as.character, "")
      codes <- codes + 1L
      codes[codes <= 0L] <- NA_integer_
      structure(codes, levels = enc2native(domain), class = "factor")
    },
    string = {
      offsets <- .read_int64(.slice(body, bufs$offsets, "offsets"), nrow + 1L)
      valid <- if (is.null(bufs$valid)) {
        rep(TRUE, nrow)
      } else {
        readBin(.slice(body, bufs$valid, "valid"), "integer", n = nrow, size = 1L,
                signed = FALSE) != 0L
      }
      .split_utf8(.slice(body, bufs$data, "data"), offsets, valid)
    },
    time = {
      ms <- readBin(.slice(body, bufs$data, "data"), "double", n = nrow, size = 8L,
                    endian = "little")
      structure(ms / 1000, class = c("POSIXct", "POSIXt"), tzone = "UTC")
    },
    stop(sprintf("SHOALCOL: column `%s` has unknown type `%s`", col$name, type), call. = FALSE)
  )
}

# The SHOALCOL type a data.frame column uploads as.
.shoalcol_type <- function(x, name) {
  if (is.factor(x)) return("enum")
  if (inherits(x, "POSIXt") || inherits(x, "Date")) return("time")
  if (is.logical(x)) return("bool")
  if (is.integer(x)) return("int")
  if (is.double(x)) return("real")
  if (is.character(x)) return("string")
  stop(sprintf("Column `%s` has class `%s`, which has no Shoal type (allowed: factor, character, integer, double, logical, POSIXct, Date).",
               name, paste(class(x), collapse = "/")), call. = FALSE)
}

.encode_column <- function(x, type) {
  switch(type,
    real = list(data = writeBin(as.double(unclass(x)), raw(), size = 8L, endian = "little")),
    int = list(data = writeBin(as.integer(x), raw(), size = 4L, endian = "little")),
    bool = list(data = writeBin(as.integer(x), raw(), size = 4L, endian = "little")),
    enum = {
      codes <- as.integer(unclass(x)) - 1L
      codes[is.na(codes)] <- -1L
      list(data = writeBin(codes, raw(), size = 4L, endian = "little"))
    },
    time = {
      ms <- if (inherits(x, "Date")) {
        as.double(unclass(x)) * 86400000
      } else {
        as.double(unclass(as.POSIXct(x))) * 1000
      }
      list(data = writeBin(ms, raw(), size = 8L, endian = "little"))
    },
    string = {
      valid <- !is.na(x)
      s <- enc2utf8(as.character(x))
      s[!valid] <- ""
      lens <- nchar(s, type = "bytes")
      joined <- paste0(s, collapse = "")
      data <- if (nzchar(joined)) charToRaw(joined) else raw(0)
      list(offsets = .write_int64(c(0, cumsum(as.numeric(lens)))),
           data = data,
           valid = as.raw(as.integer(valid)))
    }
  )
}

#' Write a data.frame as a SHOALCOL v1 body
#'
#' factor becomes `enum`, character `string`, integer `int`, double `real`, logical `bool`,
#' POSIXct and Date `time` (milliseconds since the epoch, UTC).
#'
#' @param df a data.frame.
#' @return a raw vector.
#' @export
shoalcol_write <- function(df) {
  if (!is.data.frame(df)) stop("`df` must be a data.frame", call. = FALSE)
  nrow <- nrow(df)
  nms <- names(df)
  if (is.null(nms)) nms <- paste0("C", seq_along(df))
  types <- vapply(seq_along(df), function(i) .shoalcol_type(df[[i]], nms[i]), "")
  bufs <- lapply(seq_along(df), function(i) .encode_column(df[[i]], types[i]))

  # Header offsets depend on the header length, which depends on the offsets' digits:
  # lay buffers out relative to the buffer area, then fix the base until it is stable.
  build_header <- function(base) {
    pos <- base
    columns <- vector("list", length(df))
    for (i in seq_along(df)) {
      specs <- list()
      for (b in names(bufs[[i]])) {
        nb <- length(bufs[[i]][[b]])
        specs[[b]] <- c(pos, nb)
        pos <- pos + nb + .pad8(nb)
      }
      col <- list(name = enc2utf8(nms[i]), type = types[i], buffers = specs)
      if (types[i] == "enum") col$domain <- I(enc2utf8(levels(df[[i]])))
      columns[[i]] <- col
    }
    json <- jsonlite::toJSON(list(nrow = nrow, columns = columns), auto_unbox = TRUE,
                             digits = NA)
    hraw <- charToRaw(enc2utf8(as.character(json)))
    list(raw = hraw, end = pos)
  }
  base <- 16
  repeat {
    h <- build_header(base)
    need <- 16 + length(h$raw) + .pad8(16 + length(h$raw))
    if (need == base) break
    base <- need
  }
  out <- vector("list", 4L + 2L * sum(lengths(bufs)))
  k <- 0L
  put <- function(x) {
    k <<- k + 1L
    out[[k]] <<- x
  }
  put(.shoalcol_magic)
  put(writeBin(c(.shoalcol_version, length(h$raw)), raw(), size = 4L, endian = "little"))
  put(h$raw)
  put(raw(.pad8(16 + length(h$raw))))
  for (i in seq_along(bufs)) {
    for (b in names(bufs[[i]])) {
      nb <- length(bufs[[i]][[b]])
      put(bufs[[i]][[b]])
      put(raw(.pad8(nb)))
    }
  }
  unlist(out[seq_len(k)], use.names = FALSE)
}
