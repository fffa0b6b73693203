tree_df <- function(n, seed) {
  set.seed(seed)
  a <- rnorm(n)
  b <- rnorm(n)
  b[sample.int(n, n %/% 10)] <- NA
  c <- factor(sample(c("x", "y", "z"), n, replace = TRUE), levels = c("x", "y", "z"))
  eta <- 0.9 * a - 0.6 * ifelse(is.na(b), 1, b) + 0.8 * (c == "z")
  data.frame(a = a, b = b, c = c,
             y = factor(ifelse(eta + rlogis(n) > 0, "yes", "no"), levels = c("no", "yes")),
             r = 2 * a + rnorm(n, sd = 0.3),
             m = factor(c("lo", "mid", "hi")[findInterval(eta + rnorm(n, sd = 0.4), c(-0.3, 0.8)) + 1L],
                        levels = c("hi", "lo", "mid")))
}

test_that("the tree functions take a model, newdata and H2O's leaf assignment types", {
  expect_identical(names(formals(shoal_predict_contributions))[1:2], c("model", "newdata"))
  expect_identical(eval(formals(shoal_predict_leaf_node_assignment)$type), c("Path", "Node_ID"))
  expect_error(shoal_predict_contributions(1:2, "f"), class = "shoal_error")
})

test_that("contributions sum to the raw prediction (regression, bernoulli, multinomial)", {
  local_server()
  train <- as_shoal(tree_df(300, 1), destination_frame = unique_key("tct"))
  test_df <- tree_df(40, 2)[, c("a", "b", "c")]
  test <- as_shoal(test_df, destination_frame = unique_key("tcs"))

  reg <- shoal_gbm(x = c("a", "b", "c"), y = "r", training_frame = train, ntrees = 5L, max_depth = 3L, seed = 1)
  cr <- as.data.frame(shoal_predict_contributions(reg, test))
  expect_identical(names(cr), c("c", "a", "b", "BiasTerm"))
  expect_true(max(abs(rowSums(cr) - as.data.frame(predict(reg, test))$predict)) < 1e-9)

  bin <- shoal_gbm(x = c("a", "b", "c"), y = "y", training_frame = train, ntrees = 5L, max_depth = 3L, seed = 2)
  cb <- as.data.frame(shoal_predict_contributions(bin, test))
  p1 <- as.data.frame(predict(bin, test))$yes
  expect_true(max(abs(rowSums(cb) - log(p1 / (1 - p1)))) < 1e-9)
  expect_true(diff(range(cb$BiasTerm)) < 1e-12)

  mult <- shoal_gbm(x = c("a", "b", "c"), y = "m", training_frame = train, ntrees = 4L, max_depth = 3L, seed = 3)
  cm <- as.data.frame(shoal_predict_contributions(mult, test))
  cls <- c("hi", "lo", "mid")
  expect_identical(names(cm), as.vector(outer(c("c", "a", "b", "BiasTerm"), cls, paste, sep = ".")))
  sums <- sapply(cls, function(k) rowSums(cm[, paste0(c("c", "a", "b", "BiasTerm"), ".", k)]))
  P <- as.matrix(as.data.frame(predict(mult, test))[, cls])
  soft <- exp(sums - apply(sums, 1, max))
  soft <- soft / rowSums(soft)
  expect_true(max(abs(soft - P)) < 1e-12)
  expect_true(max(abs((sums[, 2:3] - sums[, 1]) - log(P[, 2:3] / P[, 1]))) < 1e-9)

  # a GLM has no trees: a classed error naming the allowed algorithms
  glm <- shoal_glm(x = c("a", "b", "c"), y = "y", training_frame = train, family = "binomial")
  err <- tryCatch(shoal_predict_contributions(glm, test), shoal_error = function(e) e)
  expect_s3_class(err, "shoal_error_invalid_parameter")
  expect_match(conditionMessage(err), "GLM")
  expect_match(conditionMessage(err), "gbm, drf")
  expect_error(shoal_predict_leaf_node_assignment(glm, test), class = "shoal_error_invalid_parameter")
})

test_that("leaf assignment: Node_ID integers, Path strings naming the same leaves", {
  local_server()
  train <- as_shoal(tree_df(300, 4), destination_frame = unique_key("tlt"))
  test <- as_shoal(tree_df(50, 5)[, c("a", "b", "c")], destination_frame = unique_key("tls"))
  mult <- shoal_gbm(x = c("a", "b", "c"), y = "m", training_frame = train, ntrees = 3L, max_depth = 3L, seed = 3)
  ids <- as.data.frame(shoal_predict_leaf_node_assignment(mult, test, type = "Node_ID"))
  paths <- as.data.frame(shoal_predict_leaf_node_assignment(mult, test))
  want <- as.vector(t(outer(paste0("T", 1:3), paste0("C", 1:3), paste, sep = ".")))
  expect_identical(names(ids), want)
  expect_identical(names(paths), want)
  expect_true(all(vapply(ids, is.numeric, TRUE)))
  expect_true(all(vapply(paths, is.factor, TRUE)))
  for (j in seq_along(ids)) {
    p <- as.character(paths[[j]])
    expect_true(all(grepl("^[LR]{1,3}$", p)))
    # one path per node id and one node id per path
    pairs <- unique(data.frame(id = ids[[j]], path = p))
    expect_identical(anyDuplicated(pairs$id), 0L)
    expect_identical(anyDuplicated(pairs$path), 0L)
  }
  expect_error(shoal_predict_leaf_node_assignment(mult, test, type = "Nodes"),
               class = "shoal_error_invalid_parameter")
})
