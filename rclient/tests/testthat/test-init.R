test_that("shoal_init connects to a running node and reports the cluster", {
  url <- local_server()
  st <- shoal_init(url = url, start = FALSE)
  expect_identical(shoal_connection()$url, sub("/+$", "", url))
  expect_true(is.list(st$cluster))
})

test_that("shoal_init with a url where no node answers is connection_error", {
  old <- shoal_connection()
  on.exit(assign("conn", old, envir = shoal:::.shoal))
  err <- tryCatch(shoal_init(url = "http://127.0.0.1:9"), error = identity)
  expect_s3_class(err, "shoal_error_connection_error")
  expect_identical(conditionCall(err), quote(shoal_init(url = "http://127.0.0.1:9")))
})

test_that("free ports are found by listening on them", {
  p <- shoal:::.free_port()
  expect_true(p >= 54340L && p <= 59999L)
  s <- serverSocket(p)
  close(s)
})
