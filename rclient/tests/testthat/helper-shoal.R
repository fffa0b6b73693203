# Server-dependent tests run only when SHOAL_TEST_URL names a running node (the pytest driver
# tests/r/test_testthat.py starts one and sets it). SHOAL_TEST_DATA_DIR, when set, is a data
# root of that node, where tests may write files for shoal_import_file().

options(shoal.progress = FALSE, shoal.quiet = TRUE)

local_server <- function() {
  url <- Sys.getenv("SHOAL_TEST_URL", "")
  if (!nzchar(url)) skip("no Shoal node: set SHOAL_TEST_URL")
  shoal_init(url = url, start = FALSE)
  invisible(url)
}

test_data_dir <- function() {
  d <- Sys.getenv("SHOAL_TEST_DATA_DIR", "")
  if (!nzchar(d)) skip("no data root: set SHOAL_TEST_DATA_DIR")
  d
}

unique_key <- function(prefix = "rtest") {
  paste0(prefix, "_", paste(sample(c(letters, 0:9), 10, replace = TRUE), collapse = ""))
}

# A data.frame with every type and missing values in each column.
mixed_df <- function() {
  data.frame(
    i = c(1L, NA, -3L, 2147483647L, 0L),
    r = c(1.5, NA, -2.25, 1e300, 0),
    f = factor(c("b", "a", NA, "c", "a"), levels = c("a", "b", "c")),
    s = c("x", NA, "", "h\u00e9llo \u2603", "long string with, comma"),
    b = c(TRUE, FALSE, NA, TRUE, FALSE),
    t = as.POSIXct(c("2020-01-01 00:00:00", NA, "1969-12-31 23:59:59", "2038-01-19 03:14:08",
                     "2000-02-29 12:00:00.5"), tz = "UTC"),
    stringsAsFactors = FALSE
  )
}
