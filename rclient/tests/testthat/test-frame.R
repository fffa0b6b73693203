test_that("as_shoal uploads a data.frame and as.data.frame gets exactly the same values", {
  local_server()
  df <- mixed_df()
  key <- unique_key()
  fr <- as_shoal(df, destination_frame = key)
  on.exit(shoal_remove(fr), add = TRUE)
  expect_s3_class(fr, "ShoalFrame")
  expect_identical(shoal:::.key_of(fr), key)
  expect_identical(dim(fr), c(5L, 6L))
  expect_identical(nrow(fr), 5L)
  expect_identical(ncol(fr), 6L)
  expect_identical(names(fr), names(df))
  back <- as.data.frame(fr)
  expect_identical(back, df)
})

test_that("mtcars round-trips (doubles, row names dropped)", {
  local_server()
  fr <- as_shoal(mtcars)
  on.exit(shoal_remove(fr), add = TRUE)
  expected <- mtcars
  rownames(expected) <- NULL
  expect_identical(as.data.frame(fr), expected)
  expect_true(shoal:::.key_of(fr) %in% shoal_ls()$key)
})

test_that("head and tail return the first and last rows, typed like as.data.frame", {
  local_server()
  df <- data.frame(i = 1:20, f = factor(rep(c("a", "b"), 10)), r = (1:20) / 4,
                   s = as.character(1:20), b = rep(c(TRUE, NA), 10), stringsAsFactors = FALSE)
  fr <- as_shoal(df)
  on.exit(shoal_remove(fr), add = TRUE)
  h <- head(fr)
  expect_identical(h, head(df))
  t3 <- tail(fr, 3)
  expect_identical(t3, tail(df, 3))
  expect_identical(head(fr, -18), head(df, -18))
})

test_that("head and tail decode missing, time and infinite values", {
  local_server()
  df <- data.frame(x = c(Inf, -Inf, NA, 1),
                   t = as.POSIXct(c("2020-01-01", NA, "1970-01-01", "2021-06-01 10:00:00"), tz = "UTC"))
  fr <- as_shoal(df)
  on.exit(shoal_remove(fr), add = TRUE)
  expect_identical(head(fr, 4), df)
})

test_that("summary gives the rollups, computed independently here", {
  local_server()
  set.seed(1)
  df <- data.frame(x = c(rnorm(50), NA, 0, 0), y = c(1:52, NA), f = factor(c(rep(c("u", "v", "w"), 17), NA, "u")))
  fr <- as_shoal(df)
  on.exit(shoal_remove(fr), add = TRUE)
  s <- summary(fr)
  expect_s3_class(s, "ShoalSummary")
  expect_identical(s$column, c("x", "y", "f"))
  expect_identical(s$type, c("real", "int", "enum"))
  expect_equal(s$min[1:2], c(min(df$x, na.rm = TRUE), 1), tolerance = 1e-12)
  expect_equal(s$max[1:2], c(max(df$x, na.rm = TRUE), 52), tolerance = 1e-12)
  expect_equal(s$mean[1:2], c(mean(df$x, na.rm = TRUE), mean(1:52)), tolerance = 1e-12)
  expect_equal(s$sd[1:2], c(sd(df$x, na.rm = TRUE), sd(1:52)), tolerance = 1e-12)
  expect_identical(s$missing, c(1, 1, 1))
  expect_identical(s$zeros[1], 2)
  expect_identical(s$cardinality[3], 3)
  expect_output(print(s), "3 columns")
})

test_that("print shows key, shape, rows and types", {
  local_server()
  fr <- as_shoal(data.frame(a = 1:3, b = c("x", "y", "z"), stringsAsFactors = FALSE))
  on.exit(shoal_remove(fr), add = TRUE)
  out <- capture.output(print(fr))
  expect_match(out[1], sprintf("ShoalFrame '%s': 3 rows x 2 columns", shoal:::.key_of(fr)), fixed = TRUE)
  expect_true(any(grepl("a <int>, b <string>", out, fixed = TRUE)))
})

test_that("shoal_describe prints the compression and returns the description", {
  local_server()
  fr <- as_shoal(data.frame(a = rep(1:4, 100)))
  on.exit(shoal_remove(fr), add = TRUE)
  out <- capture.output(info <- shoal_describe(fr, chunk_summary = TRUE))
  expect_identical(as.integer(info$nrow), 400L)
  expect_true(any(grepl("compressed", out)))
  expect_true(length(info$chunk_summary) >= 1L)
})

test_that("shoal_get_frame returns a handle; a missing key is frame_not_found", {
  local_server()
  fr <- as_shoal(data.frame(a = 1:3))
  on.exit(shoal_remove(fr), add = TRUE)
  g <- shoal_get_frame(shoal:::.key_of(fr))
  expect_identical(dim(g), c(3L, 1L))
  err <- tryCatch(shoal_get_frame("no_such_frame_zz"), error = identity)
  expect_s3_class(err, "shoal_error_frame_not_found")
  expect_identical(conditionCall(err), quote(shoal_get_frame("no_such_frame_zz")))
})

test_that("shoal_remove deletes; a second remove is frame_not_found", {
  local_server()
  fr <- as_shoal(data.frame(a = 1:3))
  key <- shoal:::.key_of(fr)
  expect_identical(shoal_remove(fr), key)
  expect_false(key %in% shoal_ls()$key)
  expect_error(shoal_remove(key), class = "shoal_error_frame_not_found")
})

test_that("the server's parameter validation comes back as invalid_parameter", {
  local_server()
  fr <- as_shoal(data.frame(a = 1:3))
  on.exit(shoal_remove(fr), add = TRUE)
  err <- tryCatch(shoal_frame_rows(fr, limit = -1), error = identity)
  expect_s3_class(err, "shoal_error_invalid_parameter")
  expect_match(conditionMessage(err), "limit")
})
