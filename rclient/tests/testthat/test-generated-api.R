test_that("every operation has an exported shoal_<operation> function", {
  ops <- shoal:::.shoal_operations
  exports <- getNamespaceExports("shoal")
  expect_true(length(ops) > 0L)
  for (op in names(ops)) {
    expect_identical(ops[[op]], paste0("shoal_", op))
    expect_true(ops[[op]] %in% exports, info = op)
  }
})

test_that("optional parameters default to NULL so only what the user set is sent", {
  f <- formals(shoal_import_file)
  expect_identical(names(f)[1:2], c("path", "destination_frame"))
  expect_true(is.symbol(f$path) && identical(as.character(f$path), ""))
  expect_true(all(vapply(f[setdiff(names(f), c("path", "progress"))], is.null, TRUE)))
  expect_identical(names(formals(shoal_upload_frame))[1], "data")
  expect_identical(names(formals(shoal_upload_file))[1], "path")
})

test_that("the generated file says it is generated on its first line", {
  # installed packages keep no sources; the generated function bodies must only call .shoal_call
  body_calls <- vapply(shoal:::.shoal_operations, function(fn) {
    b <- body(get(fn, envir = asNamespace("shoal")))
    as.character(b[[2]][[1]])
  }, "")
  expect_true(all(body_calls == ".shoal_call"))
})
