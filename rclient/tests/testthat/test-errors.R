test_that("server error envelopes become classed conditions with code and details", {
  body <- charToRaw('{"error": {"code": "frame_not_found", "message": "Frame `x` does not exist.", "details": {"key": "x"}}}')
  cnd <- shoal:::.error_from_response(404L, body, quote(shoal_get_frame("x")))
  expect_s3_class(cnd, c("shoal_error_frame_not_found", "shoal_error", "error", "condition"),
                  exact = TRUE)
  expect_identical(cnd$code, "frame_not_found")
  expect_identical(cnd$details$key, "x")
  expect_identical(cnd$status, 404L)
  expect_identical(conditionMessage(cnd), "Frame `x` does not exist.")
  expect_identical(conditionCall(cnd), quote(shoal_get_frame("x")))
})

test_that("invalid_parameter lists every problem in the message", {
  body <- charToRaw(paste0('{"error": {"code": "invalid_parameter", "message": "2 problems.", ',
                           '"details": {"problems": [{"parameter": "a", "message": "bad a"}, ',
                           '{"parameter": "b", "message": "bad b"}]}}}'))
  cnd <- shoal:::.error_from_response(400L, body, NULL)
  expect_match(conditionMessage(cnd), "2 problems.\n* `a`: bad a\n* `b`: bad b", fixed = TRUE)
})

test_that("a response without an envelope is an internal_error naming the status", {
  cnd <- shoal:::.error_from_response(502L, charToRaw("<html>bad gateway</html>"), NULL)
  expect_s3_class(cnd, "shoal_error_internal_error")
  expect_match(conditionMessage(cnd), "HTTP 502")
})

test_that("errors are reported against the user's call, not the internals", {
  old <- shoal:::.shoal$conn
  on.exit(assign("conn", old, envir = shoal:::.shoal))
  assign("conn", NULL, envir = shoal:::.shoal)
  err <- tryCatch(shoal_list_frames(), error = identity)
  expect_s3_class(err, "shoal_error_connection_error")
  expect_identical(conditionCall(err), quote(shoal_list_frames()))
  err2 <- tryCatch(shoal_remove("abc"), error = identity)
  expect_identical(conditionCall(err2), quote(shoal_remove("abc")))
})

test_that("conditions can be caught by code", {
  got <- tryCatch(shoal_abort("parse_error", "line 3"), shoal_error_parse_error = function(e) "caught")
  expect_identical(got, "caught")
})

test_that("an unreachable node is a connection_error condition", {
  old <- shoal:::.shoal$conn
  on.exit(assign("conn", old, envir = shoal:::.shoal))
  # port 9 (discard) on loopback: nothing listens there in the test environment
  assign("conn", shoal:::.new_conn("http://127.0.0.1:9"), envir = shoal:::.shoal)
  err <- tryCatch(shoal_list_frames(), error = identity)
  expect_s3_class(err, "shoal_error_connection_error")
  expect_identical(conditionCall(err), quote(shoal_list_frames()))
})

test_that("every catalog code is documented in the generated catalog", {
  cat <- shoal:::.shoal_error_catalog
  expect_true(all(c("invalid_parameter", "frame_not_found", "parse_error") %in% names(cat)))
  expect_true(all(nzchar(cat)))
})

test_that("a bare HTTP status maps to the code the Python client uses", {
  cnd <- shoal:::.error_from_response(404L, charToRaw("not here"), NULL)
  expect_s3_class(cnd, "shoal_error_not_found")
  cnd <- shoal:::.error_from_response(401L, raw(0), NULL)
  expect_s3_class(cnd, "shoal_error_unauthorized")
})
