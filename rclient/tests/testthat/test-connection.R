test_that("query values: logicals as true/false, numbers plain, vectors as JSON", {
  q <- shoal:::.build_query(list(a = TRUE, b = 3L, c = 1e6, d = c("x", "y"), e = NULL, f = "a b&c"))
  expect_identical(q, "?a=true&b=3&c=1000000&d=%5B%22x%22%2C%22y%22%5D&f=a%20b%26c")
})

test_that("list-typed parameters stay JSON arrays with one element", {
  body <- shoal:::.json_body(list(path = "f.csv", skipped_columns = 2L, header = 1L, sep = ","),
                             types = c(path = "list[string]", skipped_columns = "list[int]",
                                       header = "int", sep = "string"))
  expect_identical(body, '{"path":["f.csv"],"skipped_columns":[2],"header":1,"sep":","}')
})

test_that("dict-typed parameters accept named vectors and lists", {
  body <- shoal:::.json_body(list(col_types = c(a = "enum", b = "int")),
                             types = c(col_types = "list[string]|dict"))
  expect_identical(body, '{"col_types":{"a":"enum","b":"int"}}')
  body2 <- shoal:::.json_body(list(col_types = c("enum", "int")),
                              types = c(col_types = "list[string]|dict"))
  expect_identical(body2, '{"col_types":["enum","int"]}')
  body3 <- shoal:::.json_body(list(na_strings = list(a = c("x", "y"))),
                              types = c(na_strings = "list[string]|dict"))
  expect_identical(body3, '{"na_strings":{"a":["x","y"]}}')
})

test_that("NULL parameters are never sent", {
  expect_identical(shoal:::.json_body(list(a = NULL), types = c(a = "int")), "{}")
  expect_identical(shoal:::.build_query(list(a = NULL)), "")
})

test_that("path parameters are escaped into the route", {
  r <- shoal:::.fill_route("/api/v1/frames/{key}/rows", list(key = "a/b c"),
                           c(key = "path", offset = "query"))
  expect_identical(r, "/api/v1/frames/a%2Fb%20c/rows")
})

test_that("a ShoalFrame or a string is accepted where a frame key is expected", {
  fr <- shoal:::.shoal_frame("abc")
  expect_identical(shoal:::.as_key(fr), "abc")
  expect_identical(shoal:::.as_key("k"), "k")
  expect_error(shoal:::.as_key(1:2), class = "shoal_error_invalid_argument")
})
