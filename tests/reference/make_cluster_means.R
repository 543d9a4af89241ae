# Means of ratings nested in respondents (brand studies): the CR1 cluster-robust
# interval of a mean per period and the change between two periods, the reference for
# analysis.compare (group_table / period_change with clusters).
#
# The variance of a mean is sandwich::vcovCL(lm(y ~ 1), cluster = ~respondent,
# type = "HC1") (CR1: G/(G-1) * (N-1)/(N-K), K = 1), and the same from the formula in
# base R, G/(G-1) * sum_g (sum_{i in g} (y_i - mean))^2 / n^2, as a cross-check. The
# interval is mean +- qt(0.975, G - 1) * se (Stata's mean, vce(cluster)). The change
# focus - previous is Welch's t with these variances and the Welch-Satterthwaite df
# with G - 1 per period. A period with one rating per respondent keeps t.test.
#
# The data are generated here with a fixed seed, written to data/cluster_means.csv,
# read back, and analysed from the CSV as read.
#
# Run (from tests/reference): Rscript make_cluster_means.R
#   -> data/cluster_means.csv, cluster_means_reference.json
suppressMessages({library(jsonlite); library(sandwich)})
set.seed(20261202)
make <- function(period, n_resp, shift, max_k) {
  do.call(rbind, lapply(seq_len(n_resp), function(i) {
    k <- if (max_k == 1) 1 else sample(1:max_k, 1)
    u <- rnorm(1, sd = 12)  # the person: their ratings of several brands are alike
    data.frame(period = period, respondent = sprintf("%s-r%03d", period, i),
               y = round(60 + shift + u + rnorm(k, sd = 8), 3))
  }))
}
d <- rbind(make("2026-Q3", 120, 0, 3), make("2026-Q4", 140, 4, 3), make("2026-Q2", 90, -2, 1))
dir.create("data", showWarnings = FALSE)
write.csv(d, "data/cluster_means.csv", row.names = FALSE)
d <- read.csv("data/cluster_means.csv", stringsAsFactors = FALSE)

one <- function(y, g) {
  n <- length(y); G <- length(unique(g)); m <- mean(y)
  if (G == n) {  # one rating each: the classical interval
    tt <- t.test(y)
    return(list(n = n, mean = m, sd = sd(y), clusters = NULL, se = sd(y) / sqrt(n),
                df = n - 1, ci95 = unname(tt$conf.int[1:2])))
  }
  fit <- lm(y ~ 1)
  v <- vcovCL(fit, cluster = g, type = "HC1")[1, 1]
  s <- tapply(y - m, g, sum)
  v_formula <- G / (G - 1) * sum(s^2) / n^2
  stopifnot(abs(v - v_formula) < 1e-12 * v)
  se <- sqrt(v); h <- qt(0.975, G - 1) * se
  list(n = n, mean = m, sd = sd(y), clusters = G, se = se, df = G - 1,
       ci95 = c(m - h, m + h), se_formula = sqrt(v_formula))
}
periods <- sort(unique(d$period))
out <- list(r_version = R.version.string, sandwich = as.character(packageVersion("sandwich")),
            periods = list())
for (p in periods) {
  s <- d[d$period == p, ]
  out$periods[[p]] <- one(s$y, s$respondent)
}
change <- function(a, b) {
  A <- out$periods[[a]]; B <- out$periods[[b]]
  va <- A$se^2; vb <- B$se^2
  df <- (va + vb)^2 / (va^2 / A$df + vb^2 / B$df)
  diff <- B$mean - A$mean; se <- sqrt(va + vb); t <- diff / se
  h <- qt(0.975, df) * se
  list(a = a, b = b, diff = diff, t = t, df = df, p = 2 * pt(-abs(t), df),
       ci95 = c(diff - h, diff + h))
}
out$changes <- list(change("2026-Q2", "2026-Q3"), change("2026-Q3", "2026-Q4"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null"),
           "cluster_means_reference.json")
