write_csv <- function(dir, name = paste0(unique_key("csv"), ".csv"), env = parent.frame()) {
  path <- file.path(dir, name)
  # removed when the calling test ends (base on.exit in its frame)
  do.call(base::on.exit, list(bquote(unlink(.(path))), add = TRUE), envir = env)
  writeLines(c("id,carrier,dist,late", "1,AA,100.5,true", "2,UA,,false", "3,AA,42,", "4,DL,7.25,true"), path)
  path
}

expected_csv <- function() {
  data.frame(id = 1:4, carrier = factor(c("AA", "UA", "AA", "DL"), levels = c("AA", "DL", "UA")),
             dist = c(100.5, NA, 42, 7.25), late = c(TRUE, FALSE, NA, TRUE))
}

test_that("shoal_import_file parses a server file into a frame with the guessed types", {
  local_server()
  path <- write_csv(test_data_dir())
  fr <- shoal_import_file(path)
  on.exit(shoal_remove(fr), add = TRUE)
  expect_s3_class(fr, "ShoalFrame")
  expect_identical(as.data.frame(fr), expected_csv())
})

test_that("shoal_import_file honours the parse overrides", {
  local_server()
  path <- write_csv(test_data_dir())
  key <- unique_key()
  fr <- shoal_import_file(path, destination_frame = key, col_names = c("a", "b", "c", "d"),
                          header = 1L, col_types = c(b = "string"), skipped_columns = 3L)
  on.exit(shoal_remove(fr), add = TRUE)
  expect_identical(shoal:::.key_of(fr), key)
  df <- as.data.frame(fr)
  expect_identical(names(df), c("a", "b", "c"))
  expect_identical(df$b, c("AA", "UA", "AA", "DL"))
})

test_that("shoal_import_file shows a progress bar while the job runs", {
  local_server()
  path <- write_csv(test_data_dir())
  old_opts <- options(shoal.progress = TRUE)
  on.exit(options(old_opts), add = TRUE)
  out <- capture.output(fr <- shoal_import_file(path))
  shoal_remove(fr)
  expect_true(any(grepl("100%", out)))
})

test_that("a path outside the data roots is refused", {
  local_server()
  err <- tryCatch(shoal_import_file("/etc/passwd"), error = identity)
  expect_s3_class(err, "shoal_error")
  expect_true(err$code %in% c("path_not_allowed", "not_found"))
})

test_that("shoal_upload_file streams a local file and parses it", {
  local_server()
  path <- write_csv(tempdir())
  fr <- shoal_upload_file(path)
  on.exit(shoal_remove(fr), add = TRUE)
  expect_identical(as.data.frame(fr), expected_csv())
})

test_that("shoal_upload_file of a gzip file decompresses by the file name", {
  local_server()
  path <- write_csv(tempdir())
  gz <- paste0(path, ".gz")
  on.exit(unlink(gz), add = TRUE)
  con <- gzfile(gz, "w")
  writeLines(readLines(path), con)
  close(con)
  fr <- shoal_upload_file(gz)
  on.exit(shoal_remove(fr), add = TRUE)
  expect_identical(as.data.frame(fr), expected_csv())
})

test_that("a malformed file fails the job with parse_error or gives a documented frame", {
  local_server()
  path <- file.path(tempdir(), "bad.csv")
  on.exit(unlink(path), add = TRUE)
  writeLines(c("a,b", "1,\"unterminated"), path)
  res <- tryCatch(shoal_upload_file(path), error = identity)
  if (inherits(res, "ShoalFrame")) {
    shoal_remove(res)
    succeed()
  } else {
    expect_s3_class(res, "shoal_error_parse_error")
  }
})

test_that("shoal_download_frame gives CSV text or a data.frame", {
  local_server()
  fr <- as_shoal(data.frame(a = c(1L, NA), b = c("x", "y"), stringsAsFactors = FALSE))
  on.exit(shoal_remove(fr), add = TRUE)
  csv <- shoal_download_frame(fr)
  expect_identical(read.csv(text = csv, stringsAsFactors = FALSE),
                   data.frame(a = c(1L, NA), b = c("x", "y"), stringsAsFactors = FALSE))
  expect_identical(shoal_download_frame(fr, format = "columnar"), as.data.frame(fr))
})

test_that("jobs can be listed and fetched", {
  local_server()
  path <- write_csv(tempdir())
  fr <- shoal_upload_file(path)
  on.exit(shoal_remove(fr), add = TRUE)
  jobs <- shoal_list_jobs()
  expect_true(length(jobs) >= 1L)
  job <- shoal_get_job(jobs[[1]]$key)
  expect_identical(job$key, jobs[[1]]$key)
  expect_true(job$status %in% c("DONE", "FAILED", "CANCELLED", "RUNNING", "CREATED"))
  expect_error(shoal_get_job("job_0000"), class = "shoal_error")
})

test_that("cluster status, health, metadata and files answer", {
  local_server()
  st <- shoal_cluster_status()
  expect_true(st$cluster$size >= 1)
  expect_identical(shoal_health()$status, "ok")
  md <- shoal_metadata()
  expect_setequal(vapply(md$operations, function(o) o$name, ""), names(shoal:::.shoal_operations))
  expect_true(is.list(shoal_list_files()$entries))
  expect_true(is.list(shoal_openapi()$paths))
})

test_that("parse_setup guesses the separator and types", {
  local_server()
  path <- write_csv(test_data_dir())
  setup <- shoal_parse_setup(path)$setup
  expect_identical(setup$sep, ",")
  expect_identical(unlist(setup$col_names), c("id", "carrier", "dist", "late"))
})

test_that("JSON scalars from expressions become R values", {
  expect_identical(shoal:::.json_scalar(NULL), NA)
  expect_identical(shoal:::.json_scalar("Inf"), Inf)
  expect_identical(shoal:::.json_scalar("-Inf"), -Inf)
  expect_identical(shoal:::.json_scalar("a"), "a")
  expect_identical(shoal:::.json_scalar(2.5), 2.5)
})

test_that("parameter conventions: logical header, per-column NA lists, integer indices", {
  p <- shoal:::.normalize_params(list(header = TRUE, na_strings = list(a = "x"), skipped_columns = c(1, 3)),
                                 c(header = "int", na_strings = "list[string]|dict",
                                   skipped_columns = "list[int]"))
  expect_identical(p$header, 1L)
  expect_identical(shoal:::.normalize_params(list(header = FALSE), c(header = "int"))$header, -1L)
  expect_identical(p$skipped_columns, c(1L, 3L))
  expect_identical(shoal:::.json_body(p["na_strings"], c(na_strings = "list[string]|dict")),
                   '{"na_strings":{"a":["x"]}}')
})

test_that("shoal_evaluate returns frames, scalars and lists", {
  local_server()
  fr <- as_shoal(data.frame(x = c(1, NA, 3)))
  on.exit(shoal_remove(fr), add = TRUE)
  col <- list(op = "col", frame = shoal:::.key_of(fr), name = "x")
  expect_identical(shoal_evaluate(list(op = "sum", args = list(col), na_rm = TRUE)), 4)
  expect_identical(shoal_evaluate(list(op = "sum", args = list(col))), NA)
  res <- shoal_evaluate(list(op = "*", args = list(col, 10)))
  on.exit(shoal_remove(res), add = TRUE)
  expect_s3_class(res, "ShoalFrame")
  expect_identical(as.data.frame(res)[[1]], c(10, NA, 30))
  expect_identical(shoal_evaluate(list(op = "names", args = list(list(op = "frame", key = shoal:::.key_of(fr))))), "x")
})

test_that("shoal_upload_file shows the upload and the parse progress", {
  local_server()
  path <- write_csv(tempdir())
  out <- capture.output(fr <- shoal_upload_file(path, progress = TRUE))
  on.exit(shoal_remove(fr), add = TRUE)
  expect_true(sum(grepl("100%", out)) >= 1L)
  expect_identical(as.data.frame(fr), expected_csv())
})
