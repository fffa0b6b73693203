# The generated expression builders (R/generated-expr.R): one per server expression op.

test_that("every expression op has an exported builder and an entry in .shoal_expr_ops", {
  ops <- shoal:::.shoal_expr_ops
  expect_true(length(ops) >= 100L)
  for (op in names(ops)) {
    fn <- ops[[op]]$fn
    expect_identical(fn, paste0("shoal_expr_", op))
    expect_true(exists(fn, envir = asNamespace("shoal"), inherits = FALSE), info = fn)
    expect_true(fn %in% getNamespaceExports("shoal"), info = fn)
    for (p in ops[[op]]$params) expect_true(p %in% names(formals(fn)), info = paste(fn, p))
  }
})

test_that("builders make the JSON tree of docs/munging.md", {
  fr <- shoal:::.shoal_frame("flights")
  tree <- shoal_expr_gt(shoal_expr_col(frame = "flights", name = "dep_delay"), 15)
  expect_identical(tree, list(op = "gt", args = list(list(op = "col", frame = "flights", name = "dep_delay"), 15)))
  expect_identical(as.character(jsonlite::toJSON(tree, auto_unbox = TRUE)),
                   '{"op":"gt","args":[{"op":"col","frame":"flights","name":"dep_delay"},15]}')
  # a ShoalFrame operand is its frame leaf; parameters left NULL are not sent; NA is null
  expect_identical(shoal_expr_mean(fr), list(op = "mean", args = list(list(op = "frame", key = "flights"))))
  expect_identical(shoal_expr_mean(fr, na_rm = TRUE)$na_rm, TRUE)
  expect_identical(shoal_expr_ifelse(TRUE, 1, NA)$args, list(TRUE, 1, NA))
  # open arity (cbind) and optional operands (rows with a mask or not)
  expect_length(shoal_expr_cbind(fr, fr, fr)$args, 3L)
  expect_length(shoal_expr_rows(fr, select = I(c(0, 2)))$args, 1L)
  expect_identical(shoal_expr_frame(key = "k"), list(op = "frame", key = "k"))
})

test_that("builders check the arity and the operands", {
  fr <- shoal:::.shoal_frame("flights")
  expect_error(shoal_expr_cbind(), class = "shoal_error_invalid_argument")
  expect_error(shoal_expr_add(fr, 1:3), class = "shoal_error_invalid_argument")
  expect_error(shoal_expr_cols(fr), "select")
})

test_that("a built tree evaluates on the node", {
  local_server()
  fr <- as_shoal(data.frame(x = c(1, 2, NA, 4)))
  on.exit(shoal_remove(fr), add = TRUE)
  expect_equal(shoal_evaluate(shoal_expr_sum(shoal_expr_mul(fr, 2), na_rm = TRUE)), 14)
  out <- shoal_evaluate(shoal_expr_add(shoal_expr_col(fr, name = "x"), 1))
  on.exit(shoal_remove(out), add = TRUE)
  expect_equal(as.data.frame(out)$x, c(2, 3, NA, 5))
})
