# shoal_rank_within_group_by (R/frame-ops.R, H2O-3's h2o.rank_within_group_by), compared with base R:
# order by the groups then the sort columns (NA last), 1, 2, ... per group over the rows whose
# sort values are present, NA rank otherwise.

rank_df <- function() {
  data.frame(
    g = factor(c("x", "y", "x", NA, "y", "x", NA, "x", "y")),
    v = c(3, 1, NA, 2, 5, 7, 2, 7, 4),
    w = c(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L),
    stringsAsFactors = FALSE
  )
}

base_rank <- function(df, desc) {
  o <- if (desc) order(df$g, -df$v, na.last = TRUE) else order(df$g, df$v, na.last = TRUE)
  s <- df[o, ]
  key <- ifelse(is.na(s$g), "<NA>", as.character(s$g))
  ok <- !is.na(s$v)
  r <- rep(NA_real_, nrow(s))
  r[ok] <- stats::ave(seq_len(sum(ok)), key[ok], FUN = seq_along)
  s$New_Rank_column <- r
  rownames(s) <- NULL
  s
}

test_that("shoal_rank_within_group_by matches base R, both directions", {
  local_server()
  df <- rank_df()
  fr <- as_shoal(df, destination_frame = unique_key("rank"))
  on.exit(shoal_remove(fr), add = TRUE)
  for (desc in c(FALSE, TRUE)) {
    got <- as.data.frame(shoal_rank_within_group_by(fr, "g", "v", ascending = !desc))
    want <- base_rank(df, desc)
    expect_identical(names(got), c("g", "v", "w", "New_Rank_column"))
    expect_identical(got$w, want$w)
    expect_equal(as.numeric(got$New_Rank_column), want$New_Rank_column)
  }
  # indices, a custom name, the final sort by the sort column
  got <- as.data.frame(shoal_rank_within_group_by(fr, 1, 2, new_col_name = "r", sort_cols_sorted = TRUE))
  expect_identical(names(got)[4], "r")
  expect_equal(got$v, sort(df$v, na.last = TRUE))
  # q8: the two largest v per group
  r <- shoal_rank_within_group_by(fr, "g", "v", ascending = FALSE)
  top <- as.data.frame(r[r$New_Rank_column <= 2, ])
  expect_setequal(top$w, c(6L, 8L, 5L, 9L, 4L, 7L))
  expect_error(shoal_rank_within_group_by(fr, "nope", "v"), class = "shoal_error_column_not_found")
})
