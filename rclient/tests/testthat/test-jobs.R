test_that("a failed job is signalled with the job's own error code", {
  job <- list(key = "job_x", status = "FAILED",
              error = list(code = "parse_error", message = "line 2, column 3", details = list(line = 2)))
  err <- tryCatch(shoal:::.wait_job(job, progress = FALSE), error = identity)
  expect_s3_class(err, "shoal_error_parse_error")
  expect_identical(err$details$line, 2)
})

test_that("a cancelled job without an error is job_cancelled", {
  job <- list(key = "job_x", status = "CANCELLED", error = NULL)
  expect_error(shoal:::.wait_job(job, progress = FALSE), class = "shoal_error_job_cancelled")
})

test_that("a done job is returned as is", {
  job <- list(key = "job_x", status = "DONE", dest = "f")
  expect_identical(shoal:::.wait_job(job, progress = FALSE), job)
})
