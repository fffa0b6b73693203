# Munging on ShoalFrame (R/frame-ops.R), each result compared with base R on a data.frame.

ops_df <- function() {
  data.frame(
    a = c(1.5, NA, 3, -2, 10, 0.25, 7, -4.5),
    b = c(1L, 2L, 3L, 4L, NA, 6L, 7L, 8L),
    g = factor(c("x", "y", "x", NA, "y", "z", "x", "y")),
    s = c("Ab", " c ", NA, "dd", "E", "fGh", "ab ab", "x"),
    l = c(TRUE, FALSE, NA, TRUE, TRUE, FALSE, NA, FALSE),
    t = as.POSIXct(c("2020-01-01 00:00:00", "2021-06-15 13:45:30", NA, "1999-12-31 23:59:59",
                     "2024-02-29 12:00:00", "2013-01-07 05:06:07", "2000-03-01 00:00:00",
                     "2016-10-10 10:10:10"), tz = "UTC"),
    stringsAsFactors = FALSE
  )
}

# the upload and the data.frame it came from (each test removes the upload on exit)
local_ops_frame <- function() {
  df <- ops_df()
  list(fr = as_shoal(df, destination_frame = unique_key("ops")), df = df)
}

dfo <- function(x) {
  out <- as.data.frame(x)
  rownames(out) <- NULL
  out
}

test_that("columns by $, [[ and [ (names, indices, negative indices)", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  df <- d$df
  expect_s3_class(fr$a, "ShoalFrame")
  expect_identical(dfo(fr$a), df["a"])
  expect_identical(dfo(fr[["g"]]), df["g"])
  expect_identical(dfo(fr[[2]]), df[2])
  expect_identical(dfo(fr[, c("b", "s")]), df[, c("b", "s")])
  expect_identical(dfo(fr[, 2:3]), df[, 2:3])
  expect_identical(dfo(fr[, -1]), df[, -1])
  expect_identical(dfo(fr[c("t", "a")]), df[c("t", "a")])
  expect_error(fr$nope, class = "shoal_error_invalid_argument")
})

test_that("rows by index, logical vector and ShoalFrame mask", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  df <- d$df
  expect_identical(dfo(fr[c(3, 1, 1), ]), {
    e <- df[c(3, 1, 1), ]
    rownames(e) <- NULL
    e
  })
  expect_identical(dfo(fr[-(1:6), c("a", "g")]), {
    e <- df[-(1:6), c("a", "g")]
    rownames(e) <- NULL
    e
  })
  expect_identical(dfo(fr[c(TRUE, FALSE), ]), {
    e <- df[c(TRUE, FALSE), ]
    rownames(e) <- NULL
    e
  })
  masked <- fr[fr$a > 1 & fr$g == "x", ]
  keep <- df$a > 1 & df$g == "x"
  expected <- df[!is.na(keep) & keep, ]
  rownames(expected) <- NULL
  expect_identical(dfo(masked), expected)
  expect_identical(nrow(fr[fr$a > 100, ]), 0L)
})

test_that("assignment: $<-, [[<-, [<- with a mask, an R vector, a scalar; names<-", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  df <- d$df
  fr$c <- fr$a * 2
  df$c <- df$a * 2
  expect_equal(dfo(fr), df)
  fr[["b"]] <- 0L
  df[["b"]] <- 0L
  expect_equal(dfo(fr), df)
  fr[fr$a > 2, "c"] <- -1
  df[!is.na(df$a) & df$a > 2, "c"] <- -1
  expect_equal(dfo(fr), df)
  fr[c(1, 2), "b"] <- 5L
  df[c(1, 2), "b"] <- 5L
  expect_equal(dfo(fr), df)
  fr$v <- seq_len(8) / 10
  df$v <- seq_len(8) / 10
  expect_equal(dfo(fr), df)
  fr[, "w"] <- fr$b + 0.5
  df[, "w"] <- df$b + 0.5
  fr["v"] <- 1
  df["v"] <- 1
  expect_equal(dfo(fr), df)
  names(fr) <- toupper(names(fr))
  expect_identical(names(fr), toupper(names(df)))
  # the original upload is untouched
  expect_identical(dfo(d$fr), ops_df())
})

test_that("Ops: arithmetic, comparison and Kleene logic as base R", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  df <- d$df
  for (op in c("+", "-", "*", "/", "^", "%%", "%/%")) {
    f <- match.fun(op)
    expect_equal(dfo(f(fr$a, fr$b))[[1]], f(df$a, df$b), info = op)
    expect_equal(dfo(f(fr$a, 3))[[1]], f(df$a, 3), info = op)
    expect_equal(dfo(f(2, fr$b))[[1]], f(2, df$b), info = op)
  }
  for (op in c("==", "!=", "<", "<=", ">", ">=")) {
    f <- match.fun(op)
    expect_identical(dfo(f(fr$a, fr$b))[[1]], f(df$a, df$b), info = op)
    expect_identical(dfo(f(fr$a, 1.5))[[1]], f(df$a, 1.5), info = op)
  }
  expect_identical(dfo(fr$g == "x")[[1]], df$g == "x")
  expect_identical(dfo(fr$l & fr$a > 0)[[1]], df$l & df$a > 0)
  expect_identical(dfo(fr$l | fr$a > 0)[[1]], df$l | df$a > 0)
  expect_identical(dfo(!fr$l)[[1]], !df$l)
  expect_equal(dfo(-fr$a)[[1]], -df$a)
  expect_equal(dfo(fr$a / 0)[[1]][c(1, 4)], c(Inf, -Inf))
  # a vector of nrow values is uploaded and paired row by row
  expect_equal(dfo(fr$a + seq_len(8))[[1]], df$a + seq_len(8))
})

test_that("Math group as base R", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  df <- d$df
  pos <- fr$a[fr$a > 0, ]
  pv <- df$a[!is.na(df$a) & df$a > 0]
  for (fn in c("abs", "sign", "floor", "ceiling", "trunc", "exp", "expm1", "cos", "sin", "tan", "atan",
               "cosh", "sinh", "tanh")) {
    f <- match.fun(fn)
    expect_equal(dfo(f(fr$a))[[1]], f(df$a), info = fn)
  }
  for (fn in c("sqrt", "log", "log1p", "log2", "log10")) {
    f <- match.fun(fn)
    expect_equal(dfo(f(pos))[[1]], f(pv), info = fn)
  }
  small <- fr$a / 20
  for (fn in c("acos", "asin")) {
    f <- match.fun(fn)
    expect_equal(dfo(f(small))[[1]], f(df$a / 20), info = fn)
  }
  expect_equal(dfo(log(pos, 3))[[1]], log(pv, 3))
  expect_equal(dfo(round(fr$a / 7, 3))[[1]], round(df$a / 7, 3))
  expect_equal(dfo(signif(fr$a * 1234.5678, 2))[[1]], signif(df$a * 1234.5678, 2))
  expect_equal(dfo(cumsum(pos))[[1]], cumsum(pv))
  expect_equal(dfo(cumprod(pos))[[1]], cumprod(pv))
  expect_equal(dfo(cummax(pos))[[1]], cummax(pv))
  expect_equal(dfo(cummin(pos))[[1]], cummin(pv))
  expect_error(gamma(fr$a), class = "shoal_error_invalid_argument")
})

test_that("Summary, mean, median, sd and var return R values as base R", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  df <- d$df
  for (fn in c("sum", "min", "max", "prod", "range")) {
    f <- match.fun(fn)
    expect_equal(f(fr$a, na.rm = TRUE), f(df$a, na.rm = TRUE), info = fn)
    expect_equal(f(fr$a), f(df$a), info = fn)
  }
  expect_equal(sum(fr[, c("a", "b")], na.rm = TRUE), sum(df[, c("a", "b")], na.rm = TRUE))
  expect_equal(sum(fr$a, fr$b, 2, na.rm = TRUE), sum(df$a, df$b, 2, na.rm = TRUE))
  expect_equal(max(fr$a, fr$b, na.rm = TRUE), max(df$a, df$b, na.rm = TRUE))
  expect_identical(all(fr$l), all(df$l))
  expect_identical(any(fr$l), any(df$l))
  expect_identical(all(fr$l, na.rm = TRUE), all(df$l, na.rm = TRUE))
  expect_identical(any(fr$a > 5), any(df$a > 5))
  expect_equal(mean(fr$a, na.rm = TRUE), mean(df$a, na.rm = TRUE))
  expect_true(is.na(mean(fr$a)))
  expect_equal(mean(fr[, c("a", "b")], na.rm = TRUE), vapply(df[, c("a", "b")], mean, 0, na.rm = TRUE))
  expect_equal(median(fr$a, na.rm = TRUE), median(df$a, na.rm = TRUE))
  expect_equal(shoal_sd(fr$a, na.rm = TRUE), sd(df$a, na.rm = TRUE))
  expect_equal(shoal_var(fr$b, na.rm = TRUE), var(df$b, na.rm = TRUE))
  expect_equal(unname(shoal_nacnt(fr[, c("a", "b", "s")])), unname(colSums(is.na(df[, c("a", "b", "s")]))))
})

test_that("is.na, ifelse, unique, table, cut, levels, scale, relevel", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  df <- d$df
  expect_identical(dfo(is.na(fr$a))[[1]], is.na(df$a))
  expect_equal(dfo(shoal_ifelse(fr$a > 2, fr$b, -1))[[1]], ifelse(df$a > 2, df$b, -1))
  expect_equal(dfo(unique(fr$b))[[1]], c(sort(unique(df$b)), NA))
  tab <- dfo(shoal_table(fr$g))
  expect_identical(as.character(tab$g), names(table(df$g)))
  expect_equal(tab$Count, as.vector(table(df$g)))
  cuts <- dfo(cut(fr$a, c(-5, 0, 5, 20)))[[1]]
  expect_identical(as.character(cuts), as.character(cut(df$a, c(-5, 0, 5, 20))))
  expect_identical(levels(fr$g), levels(df$g))
  expect_equal(dfo(scale(fr$a))[[1]], as.vector(scale(df$a)))
  expect_identical(levels(relevel(fr$g, "y")), levels(relevel(df$g, "y")))
  h <- dfo(shoal_hist(fr$a, c(-5, 0, 5, 10)))
  rh <- graphics::hist(df$a, breaks = c(-5, 0, 5, 10), plot = FALSE)
  expect_equal(h$counts, rh$counts)
  expect_equal(h$mids, rh$mids)
  expect_equal(h$density, rh$density)
  expect_identical(levels(shoal_set_levels(fr$g, c("X", "Y", "Z"))), c("X", "Y", "Z"))
  expect_equal(shoal_cor(fr$a, fr$b, use = "complete.obs"), cor(df$a, df$b, use = "complete.obs"))
})

test_that("quantile as stats::quantile (type 7), H2O's default probabilities", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  q <- quantile(d$fr$a)
  probs <- c(0.001, 0.01, 0.1, 0.25, 0.333, 0.5, 0.667, 0.75, 0.9, 0.99, 0.999)
  expect_equal(q, quantile(d$df$a, probs, na.rm = TRUE))
  expect_equal(quantile(d$fr$a, c(0.2, 0.5)), quantile(d$df$a, c(0.2, 0.5), na.rm = TRUE))
  qm <- quantile(d$fr[, c("a", "b")], c(0.25, 0.75))
  expect_equal(unname(qm[, "b"]), unname(quantile(d$df$b, c(0.25, 0.75), na.rm = TRUE)))
  # sorted non-missing a: -4.5 -2 0.25 1.5 3 7 10; p = 0.2 falls between -2 and 0.25
  expect_equal(unname(quantile(d$fr$a, 0.2, combine_method = "low")), -2)
  expect_equal(unname(quantile(d$fr$a, 0.2, combine_method = "high")), 0.25)
  expect_equal(unname(quantile(d$fr$a, 0.2, combine_method = "average")), (-2 + 0.25) / 2)
})

test_that("merge: inner, left, right and full outer joins as base R", {
  local_server()
  x <- data.frame(k = c(1L, 2L, 3L, 4L), v = c(10, 20, 30, 40))
  y <- data.frame(key = c(2L, 4L, 5L), w = c("b", "d", "e"), stringsAsFactors = FALSE)
  fx <- as_shoal(x)
  fy <- as_shoal(y)
  on.exit(shoal_remove(list(fx, fy)), add = TRUE)
  sorted <- function(z) {
    z <- z[order(z$k), ]
    rownames(z) <- NULL
    z
  }
  for (a in list(c(FALSE, FALSE), c(TRUE, FALSE), c(FALSE, TRUE), c(TRUE, TRUE))) {
    got <- sorted(dfo(merge(fx, fy, by.x = "k", by.y = "key", all.x = a[1], all.y = a[2])))
    want <- sorted(merge(x, y, by.x = "k", by.y = "key", all.x = a[1], all.y = a[2]))
    expect_equal(got, want, info = paste(a, collapse = "/"))
  }
  expect_equal(sorted(dfo(merge(fx, fy, by.x = "k", by.y = "key", all = TRUE))),
               sorted(merge(x, y, by.x = "k", by.y = "key", all = TRUE)))
  # a data.frame as y is uploaded (as a temporary)
  expect_equal(sorted(dfo(merge(fx, y, by.x = "k", by.y = "key"))), sorted(merge(x, y, by.x = "k", by.y = "key")))
})

test_that("shoal_group_by (H2O form) as aggregate()", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  g <- dfo(shoal_group_by(d$fr, "g", nrow("a"), mean("a"), sum("b"), gb.control = list(na.methods = "rm")))
  df <- d$df[!is.na(d$df$g), ]
  expect_identical(names(g), c("g", "nrow", "mean_a", "sum_b"))
  expect_identical(as.character(g$g), c("x", "y", "z", NA))
  expect_equal(g$nrow[1:3], as.vector(table(df$g)))
  expect_equal(g$mean_a[1:3], as.vector(tapply(df$a, df$g, mean, na.rm = TRUE)))
  expect_equal(g$sum_b[1:3], as.vector(tapply(df$b, df$g, sum, na.rm = TRUE)))
  # default na "all": a group with a missing value aggregates to NA; the named form
  g2 <- dfo(shoal_group_by(d$fr, "g", mean = c("a", "b"), max = "b"))
  expect_identical(names(g2), c("g", "mean_a", "mean_b", "max_b"))
  expect_equal(g2$mean_a[1:3], as.vector(tapply(df$a, df$g, mean)))
  expect_equal(g2$max_b[1:3], as.vector(tapply(df$b, df$g, max)))
})

test_that("sort, arrange, split_frame, cbind, rbind", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  df <- d$df
  s <- dfo(shoal_sort(fr, "a"))
  e <- df[order(df$a, na.last = TRUE), ]
  rownames(e) <- NULL
  expect_identical(s, e)
  s2 <- dfo(shoal_arrange(fr, g, a, ascending = c(TRUE, FALSE)))
  e2 <- df[order(df$g, -df$a, na.last = TRUE), ]
  rownames(e2) <- NULL
  expect_identical(s2, e2)
  parts <- shoal_split_frame(fr, c(0.5), seed = 42)
  expect_length(parts, 2L)
  both <- rbind(dfo(parts[[1]]), dfo(parts[[2]]))
  both <- both[order(both$b, both$a), ]
  e3 <- df[order(df$b, df$a), ]
  rownames(both) <- NULL
  rownames(e3) <- NULL
  expect_identical(both, e3)
  expect_identical(dfo(cbind(fr$a, fr[, c("b", "g")])), df[, c("a", "b", "g")])
  expect_identical(dfo(shoal_cbind(fr$s, fr$l)), df[, c("s", "l")])
  rb <- dfo(rbind(fr[, 1:2], fr[1:2, 1:2]))
  e4 <- rbind(df[, 1:2], df[1:2, 1:2])
  rownames(e4) <- NULL
  expect_identical(rb, e4)
})

test_that("types, text and dates as base R", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  df <- d$df
  expect_identical(dfo(shoal_asfactor(fr$b))[[1]], factor(df$b, levels = as.character(sort(unique(df$b)))))
  expect_equal(dfo(shoal_asnumeric(fr$g))[[1]], as.integer(df$g) - 1L)
  expect_identical(dfo(shoal_ascharacter(fr$g))[[1]], as.character(df$g))
  expect_identical(dfo(shoal_tolower(fr$s))[[1]], tolower(df$s))
  expect_identical(dfo(shoal_toupper(fr$s))[[1]], toupper(df$s))
  expect_identical(dfo(shoal_trim(fr$s))[[1]], trimws(df$s))
  expect_equal(dfo(shoal_nchar(fr$s))[[1]], ifelse(is.na(df$s), NA, nchar(df$s)))
  expect_identical(dfo(shoal_substring(fr$s, 0, 2))[[1]], substr(df$s, 1, 2))
  lt <- as.POSIXlt(df$t, tz = "UTC")
  expect_equal(dfo(shoal_year(fr$t))[[1]], lt$year + 1900)
  expect_equal(dfo(shoal_month(fr$t))[[1]], lt$mon + 1)
  expect_equal(dfo(shoal_day(fr$t))[[1]], lt$mday)
  expect_equal(dfo(shoal_hour(fr$t))[[1]], lt$hour)
  expect_equal(dfo(shoal_minute(fr$t))[[1]], lt$min)
  expect_equal(dfo(shoal_second(fr$t))[[1]], floor(lt$sec))
  expect_equal(dfo(shoal_week(fr$t))[[1]], as.integer(strftime(df$t, "%V", tz = "UTC")))
  expect_identical(as.character(dfo(shoal_dayOfWeek(fr$t))[[1]]), strftime(df$t, "%a", tz = "UTC"))
  dates <- as_shoal(data.frame(d = c("01/02/2020 10:30", "31/12/1999 00:00", "bad"), stringsAsFactors = FALSE))
  on.exit(shoal_remove(dates), add = TRUE)
  expect_equal(dfo(shoal_as_date(dates$d, "%d/%m/%Y %H:%M"))[[1]],
               as.POSIXct(c("2020-02-01 10:30", "1999-12-31 00:00", NA), tz = "UTC"))
})

test_that("regular expressions as sub, gsub, strsplit and grepl", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  df <- d$df
  expect_identical(dfo(shoal_sub("[a-d]", "Z", fr$s))[[1]], sub("[a-d]", "Z", df$s))
  expect_identical(dfo(shoal_gsub("b", "_", fr$s, ignore.case = TRUE))[[1]], gsub("b", "_", df$s, ignore.case = TRUE))
  expect_identical(dfo(shoal_grep("a", fr$s, output.logical = TRUE))[[1]], grepl("a", df$s) & !is.na(df$s))
  # indices are 0-based, as H2O's; a missing value never matches (so invert keeps it, as grep())
  expect_equal(dfo(shoal_grep("a", fr$s))[[1]], grep("a", df$s) - 1)
  expect_equal(dfo(shoal_grep("A", fr$s, ignore.case = TRUE, invert = TRUE))[[1]],
               grep("A", df$s, ignore.case = TRUE, invert = TRUE) - 1)
  expect_identical(dfo(shoal_sub("(b+)", "<\\1>", fr$s))[[1]], sub("(b+)", "<\\1>", df$s))
  parts <- dfo(shoal_strsplit(fr$s, " "))
  expect_identical(parts[[1]][7], strsplit(df$s[7], " ")[[1]][1])
  expect_identical(parts[[2]][7], strsplit(df$s[7], " ")[[1]][2])
})

test_that("kfold, impute, drop_duplicates, fillna", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  df <- d$df
  folds <- dfo(shoal_kfold_column(fr, nfolds = 3, seed = 7))[[1]]
  expect_length(folds, 8L)
  expect_true(all(folds %in% 0:2))
  expect_identical(folds, dfo(shoal_kfold_column(fr, nfolds = 3, seed = 7))[[1]])
  imp <- dfo(shoal_impute(fr, "a", "mean"))
  e <- df$a
  e[is.na(e)] <- mean(e, na.rm = TRUE)
  expect_equal(imp$a, e)
  expect_identical(imp$b, df$b)
  dd <- dfo(shoal_drop_duplicates(fr, "g"))
  e2 <- df[!duplicated(df$g), ]
  rownames(e2) <- NULL
  expect_identical(dd, e2)
  dl <- dfo(shoal_drop_duplicates(fr, "g", keep = "last"))
  e3 <- df[!duplicated(df$g, fromLast = TRUE), ]
  rownames(e3) <- NULL
  expect_identical(dl, e3)
  fl <- as_shoal(data.frame(x = c(1, NA, NA, 4, NA)))
  on.exit(shoal_remove(fl), add = TRUE)
  expect_equal(dfo(shoal_fillna(fl))$x, c(1, 1, NA, 4, 4))
  expect_equal(dfo(shoal_fillna(fl, "backward", maxlen = 2))$x, c(1, 4, 4, 4, NA))
})

test_that("temporaries are deleted once R drops them; named frames are kept", {
  local_server()
  d <- local_ops_frame()
  on.exit(shoal_remove(d$fr), add = TRUE)
  fr <- d$fr
  tmp <- fr$a + 1
  kept <- fr$b * 2
  k_tmp <- shoal:::.key_of(tmp)
  k_kept <- shoal:::.key_of(kept)
  expect_true(all(c(k_tmp, k_kept) %in% shoal_ls()$key))
  rm(tmp)
  deleted <- shoal_gc()
  expect_true(k_tmp %in% deleted)
  keys <- shoal_ls()$key
  expect_false(k_tmp %in% keys)
  expect_true(k_kept %in% keys)
  expect_true(shoal:::.key_of(fr) %in% keys)
  expect_equal(dfo(kept)$b, d$df$b * 2)
  # a frame made through shoal_evaluate(dest =) is the user's: never deleted by the client
  named <- shoal_evaluate(shoal_expr_add(fr$a, 1), dest = unique_key("named"))
  k_named <- shoal:::.key_of(named)
  rm(named)
  shoal_gc()
  expect_true(k_named %in% shoal_ls()$key)
  shoal_remove(k_named)
})
