# Driver analysis (LMG / Shapley decomposition of R^2, standardized betas) and
# cluster-robust brand comparisons: the reference for analysis.drivers.
#
# relaimpo is NOT available on Debian, so the LMG shares are computed here in base R:
# lm() is fitted on every subset of the 5 predictors (2^5 = 32 models) and each
# predictor's share is the average, over all orderings, of the R^2 it adds when it
# enters (the Shapley value; Lindeman, Merenda & Gold 1980; Groemping 2006, J. Stat.
# Softw. 17(1)). This is what relaimpo::calc.relimp(type = "lmg") reports as "lmg"
# (unnormalised: the shares sum to R^2).
#
# Cluster-robust comparisons (one respondent may rate several brands): the brand means
# from lm(y ~ 0 + brand) with the CR1 sandwich (Liang & Zeger 1986; the small-sample
# factor G/(G-1) * (N-1)/(N-K) of Stata and of sandwich::vcovCL(type = "HC1")), computed
# here from the formula in base R (the sandwich package is not used). Differences are
# tested with t on G-1 df and Holm-adjusted (p.adjust).
#
# The data are generated here with a fixed seed (drivers differ by brand on purpose),
# written to data/drivers.csv, read back, and analysed from the CSV as read.
#
# Run (from tests/reference): Rscript make_drivers.R -> data/drivers.csv, drivers_reference.json
# Made with R 4.x (see "r_version" in the JSON); base R and jsonlite only.
suppressMessages(library(jsonlite))
set.seed(20261202)
dims <- c("REL", "HON", "COM", "EMP", "CON")
n_resp <- 700
brands <- c("Alpha", "Beta", "Gamma")
# each respondent rates 1 to 3 brands (clustered ratings)
rows <- do.call(rbind, lapply(seq_len(n_resp), function(i) {
  k <- sample(1:3, 1, prob = c(0.45, 0.35, 0.20))
  data.frame(respondent = sprintf("r%04d", i), brand = sample(brands, k))
}))
n <- nrow(rows)
u <- rnorm(n_resp, sd = 0.5)[as.integer(factor(rows$respondent))]  # respondent effect
g <- rnorm(n)                                                         # general trust
x <- sapply(seq_along(dims), function(j) 4.6 + 0.8 * g + 0.6 * u + rnorm(n, sd = 0.7))
colnames(x) <- dims
shift <- c(Alpha = 0.3, Beta = 0, Gamma = -0.25)
x <- x + shift[rows$brand]
# true weights per brand: Alpha driven by honesty, Beta by reliability, Gamma by empathy
w <- rbind(Alpha = c(0.15, 0.60, 0.10, 0.10, 0.05),
           Beta  = c(0.55, 0.10, 0.15, 0.05, 0.10),
           Gamma = c(0.10, 0.10, 0.10, 0.60, 0.10))
lin <- rowSums(x * w[rows$brand, ])
d <- data.frame(rows, round(x, 4),
                TRUST = round(0.9 * lin + 0.4 * u + rnorm(n, sd = 0.6), 4),
                LOY = round(0.7 * lin + 0.3 * u + rnorm(n, sd = 0.8), 4),
                RISK = round(8 - 0.6 * lin - 0.2 * u + rnorm(n, sd = 0.9), 4))
d$LOY[sample(n, 25)] <- NA                 # listwise deletion differs per outcome
d$HON[sample(n, 10)] <- NA
d$trust_index <- (rowMeans(d[, dims]) - 1) / 6 * 100
write.csv(d, "data/drivers.csv", row.names = FALSE, na = "")
d <- read.csv("data/drivers.csv", stringsAsFactors = FALSE)

r2_of <- function(dd, y, preds) {
  if (length(preds) == 0) return(0)
  summary(lm(reformulate(preds, y), data = dd))$r.squared
}
lmg <- function(dd, y) {
  dd <- na.omit(dd[, c(y, dims)])
  p <- length(dims)
  subsets <- unlist(lapply(0:p, function(k) combn(dims, k, simplify = FALSE)), recursive = FALSE)
  r2 <- setNames(sapply(subsets, function(s) r2_of(dd, y, s)),
                 sapply(subsets, function(s) paste0("~", paste(sort(s), collapse = "+"))))
  key <- function(s) paste0("~", paste(sort(s), collapse = "+"))
  shares <- sapply(dims, function(j) {
    tot <- 0
    for (s in subsets) {
      if (j %in% s) next
      k <- length(s)
      wgt <- factorial(k) * factorial(p - k - 1) / factorial(p)
      tot <- tot + wgt * (r2[[key(c(s, j))]] - r2[[key(s)]])
    }
    tot
  })
  z <- as.data.frame(scale(dd))
  beta <- coef(lm(reformulate(dims, y), data = z))[dims]
  list(n = nrow(dd), r2 = unname(r2[[key(dims)]]), lmg = as.list(shares),
       std_beta = as.list(beta))
}
out <- list(r_version = R.version.string, seed = 20261202, predictors = dims,
            note = "LMG over all 32 subsets with base lm(); relaimpo not installed")
for (y in c("TRUST", "LOY", "RISK")) {
  out$drivers[[y]]$overall <- lmg(d, y)
  for (b in brands) out$drivers[[y]]$by_segment[[b]] <- lmg(d[d$brand == b, ], y)
}

# CR1 cluster-robust brand means and Holm-adjusted pairwise differences (trust_index)
cr1 <- function(dd, y) {
  dd <- dd[!is.na(dd[[y]]), ]
  dd$brand <- factor(dd$brand, levels = brands)
  fit <- lm(reformulate("0 + brand", y), data = dd)
  X <- model.matrix(fit); e <- residuals(fit)
  N <- nrow(X); K <- ncol(X)
  cl <- dd$respondent; G <- length(unique(cl))
  bread <- solve(crossprod(X))
  meat <- Reduce(`+`, lapply(split(seq_len(N), cl), function(i) {
    s <- crossprod(X[i, , drop = FALSE], e[i]); s %*% t(s) }))
  V <- G / (G - 1) * (N - 1) / (N - K) * bread %*% meat %*% bread
  b <- coef(fit)
  pairs <- combn(seq_len(K), 2)
  diffs <- apply(pairs, 2, function(ij) b[ij[2]] - b[ij[1]])
  ses <- apply(pairs, 2, function(ij) sqrt(V[ij[1], ij[1]] + V[ij[2], ij[2]] - 2 * V[ij[1], ij[2]]))
  tt <- diffs / ses
  p <- 2 * pt(-abs(tt), df = G - 1)
  # omnibus Wald test of equal means: C b = 0 with C the differences from the first brand
  C <- cbind(-1, diag(K - 1))
  Cb <- C %*% b
  W <- drop(t(Cb) %*% solve(C %*% V %*% t(C)) %*% Cb)
  Fst <- W / (K - 1)
  list(n = N, clusters = G, means = as.list(setNames(unname(b), brands)),
       wald = list(F = Fst, df1 = K - 1, df2 = G - 1,
                   p = pf(Fst, K - 1, G - 1, lower.tail = FALSE)),
       se = as.list(setNames(sqrt(diag(V)), brands)),
       pairs = lapply(seq_len(ncol(pairs)), function(k) list(
         a = brands[pairs[1, k]], b = brands[pairs[2, k]], diff = unname(diffs[k]),
         se = unname(ses[k]), t = unname(tt[k]), df = G - 1, p = unname(p[k]),
         p_holm = p.adjust(p, "holm")[k])))
}
out$cluster_robust <- list(type = "CR1", variable = "trust_index", result = cr1(d, "trust_index"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "drivers_reference.json")
