# Ordinal (WLSMV) reference: polychoric correlations and thresholds, DWLS CFA with lavaan's
# scaled-shifted (mean- and variance-adjusted, df unchanged) test, robust SEs, modification
# indices, ordinal alpha and ordinal omega.
#
# Produced with R 4.2.2, lavaan 0.6-14, psych 2.2.9, psychTools, semTools 0.5-6, MASS,
# jsonlite (Debian: r-cran-lavaan r-cran-psych r-cran-semtools r-cran-jsonlite; psychTools
# from CRAN). Takes about a minute.
# Run from this directory:  Rscript make_ordinal.R
#   -> ordinal_reference.json, data/bfi_items_complete.csv, data/bfi_C_3cat.csv and
#      data/zero_cell.csv
#
# Data:
#  * psychTools::bfi, the 25 personality items (6-point), rows complete on all 25 (listwise,
#    2,436 rows); reverse keys A1 C4 C5 E1 E2 O2 O5 recoded as 7 - x before the CFA and the
#    reliabilities (the polychoric matrix of the raw items is also stored).
#  * trust_synthetic.csv: the 20 trust items (7-point), REL4 HON3 COM4 EMP3 CON4 recoded as
#    8 - x, rows complete on all 20 items (listwise) for the CFA and the polychoric matrix;
#    the reliabilities use the rows complete for each dimension.
#  * bfi's C items cut to 3 categories (a one-factor model with small df), and a simulated
#    set of binary and 4-category items with an empty cell in a 2 x 2 table.
#
# Definitions:
#  * polychoric correlations and thresholds: lavaan's two-step estimator (lavCor with all
#    items ordered): thresholds qnorm(cumulative proportions), then each correlation by
#    bivariate ML with the thresholds fixed. Also psych::polychoric for comparison.
#  * WLSMV CFA: lavaan::cfa(model, data, ordered = TRUE, estimator = "WLSMV"); lavaan 0.6's
#    default test for WLSMV is "scaled.shifted" (Asparouhov & Muthen 2010), reported by
#    fitMeasures as chisq.scaled / df.scaled / cfi.scaled / tli.scaled / rmsea.scaled.
#  * ordinal alpha: psych::alpha(psych::polychoric(x)$rho)$total$raw_alpha
#    (Zumbo, Gadermann & Zeisser 2007).
#  * ordinal omega: omega total of a one-factor ML factor analysis of the polychoric
#    matrix, f <- psych::fa(rho, 1, fm = "ml"); sum(l)^2 / (sum(l)^2 + sum(u)), the same
#    definition as trustmeter's Pearson omega_total, on the polychoric matrix.
suppressMessages({
  library(lavaan); library(psych); library(semTools); library(jsonlite)
})
out <- list(versions = list(R = R.version.string,
                            lavaan = as.character(packageVersion("lavaan")),
                            psych = as.character(packageVersion("psych")),
                            semTools = as.character(packageVersion("semTools"))))

fit_block <- function(fit) {
  fm <- fitMeasures(fit)
  keep <- c("npar", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
            "chisq.scaling.factor", "baseline.chisq", "baseline.df", "baseline.chisq.scaled",
            "baseline.df.scaled", "cfi", "tli", "cfi.scaled", "tli.scaled", "rmsea",
            "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.scaled", "srmr")
  fmv <- as.list(unclass(fm[keep]))
  tst <- fit@test[["scaled.shifted"]]
  fmv$shift.parameter <- tst$shift.parameter
  fmv$trace.UGamma <- tst$trace.UGamma
  fmv$trace.UGamma2 <- tst$trace.UGamma2
  fmv$test <- names(fit@test)
  pe <- parameterEstimates(fit, standardized = TRUE)
  pe <- pe[, c("lhs", "op", "rhs", "est", "se", "z", "pvalue", "std.all")]
  r2 <- lavInspect(fit, "r2")
  cr_lr <- compRelSEM(fit, ord.scale = FALSE)  # latent-response scale
  g <- fit@SampleStats@NACOV[[1]]  # N * ACOV of (thresholds, correlations), Muthen (1984)
  mi <- modindices(fit, sort. = TRUE)[, c("lhs", "op", "rhs", "mi", "epc")]
  list(fit = fmv, parameters = pe, modindices = mi, gamma_diag = unname(diag(g)), gamma_last_row = unname(g[nrow(g), ]), r2 = as.list(r2), n = lavInspect(fit, "nobs"),
       converged = lavInspect(fit, "converged"),
       comprel_latent_response = as.list(cr_lr), ave = as.list(AVE(fit)))
}

poly_block <- function(x) {
  lc <- lavCor(x, ordered = names(x), output = "fit")
  ss <- lavInspect(lc, "sampstat")
  pc <- psych::polychoric(x)
  list(items = names(x), n = nrow(x), rho = unname(ss$cov), th = unname(ss$th),
       th_names = names(ss$th), psych_rho = unname(pc$rho))
}

ordinal_rel <- function(x) {
  pc <- psych::polychoric(x)$rho
  a <- psych::alpha(pc, check.keys = FALSE)
  f <- psych::fa(pc, nfactors = 1, fm = "ml")
  l <- as.numeric(f$loadings); u <- as.numeric(f$uniquenesses)
  pr <- psych::alpha(x, check.keys = FALSE)
  list(alpha_ordinal = a$total$raw_alpha, omega_ordinal = sum(l)^2 / (sum(l)^2 + sum(u)),
       alpha_pearson = pr$total$raw_alpha, n = nrow(x))
}

# ---- bfi ------------------------------------------------------------------------------
data(bfi, package = "psychTools")
bi <- psychTools::bfi[, 1:25]
bi <- bi[complete.cases(bi), ]
dir.create("data", showWarnings = FALSE)
write.csv(bi, "data/bfi_items_complete.csv", row.names = FALSE)
out$bfi$poly_raw <- poly_block(bi)
rev_bfi <- c("A1", "C4", "C5", "E1", "E2", "O2", "O5")
bk <- bi
for (r in rev_bfi) bk[[r]] <- 7 - bk[[r]]
fac <- c("A", "C", "E", "N", "O")
model_bfi <- paste(sapply(fac, function(f) paste0(f, " =~ ", paste0(f, 1:5, collapse = " + "))),
                   collapse = "\n")
fit_b <- cfa(model_bfi, data = bk, ordered = TRUE, estimator = "WLSMV")
out$bfi$cfa <- fit_block(fit_b)
out$bfi$reliability <- lapply(setNames(fac, fac), function(f) ordinal_rel(bk[, paste0(f, 1:5)]))

# ---- trust_synthetic ---------------------------------------------------------------------
d <- read.csv("trust_synthetic.csv", stringsAsFactors = FALSE)
dims <- c("REL", "HON", "COM", "EMP", "CON")
reversed <- c("REL4", "HON3", "COM4", "EMP3", "CON4")
items <- as.vector(sapply(dims, function(p) paste0(p, 1:4)))
x <- d[, items]
for (r in reversed) x[[r]] <- 8 - x[[r]]
xc <- x[complete.cases(x), ]
out$trust$poly <- poly_block(xc)
model_t <- paste(sapply(dims, function(p) paste0(p, " =~ ", paste0(p, 1:4, collapse = " + "))),
                 collapse = "\n")
fit_t <- cfa(model_t, data = xc, ordered = TRUE, estimator = "WLSMV")
out$trust$cfa <- fit_block(fit_t)
# reliability on the rows complete for each dimension (trustmeter's convention)
out$trust$reliability <- lapply(setNames(dims, dims),
                                function(p) ordinal_rel(na.omit(x[, paste0(p, 1:4)])))

# a one-factor model on 4 items with few categories (2 dimensions of bfi collapsed to
# 3 categories) exercises thresholds on coarse data and a small df
b3 <- as.data.frame(lapply(bk[, paste0("C", 1:5)], function(v) cut(v, c(0, 2, 4, 6), labels = FALSE)))
fit_c <- cfa("C =~ C1 + C2 + C3 + C4 + C5", data = b3, ordered = TRUE, estimator = "WLSMV")
out$coarse$cfa <- fit_block(fit_c)
out$coarse$poly <- poly_block(b3)
write.csv(b3, "data/bfi_C_3cat.csv", row.names = FALSE)

# binary and 4-category items with an empty cell in a 2 x 2 table (lavaan adds 0.5 to it,
# keeping the margins) and sparse extreme categories
set.seed(3)
S <- matrix(0.5, 4, 4); diag(S) <- 1
z <- MASS::mvrnorm(400, rep(0, 4), S)
zc <- data.frame(a = as.integer(z[, 1] > 0.3) + 1, b = as.integer(z[, 2] > -0.2) + 1,
                 c = as.integer(z[, 3] > 1.8) + 1,
                 e = cut(z[, 4], c(-Inf, -2.2, 0, 2.2, Inf), labels = FALSE))
zc$c[zc$a == 1] <- 1
write.csv(zc, "data/zero_cell.csv", row.names = FALSE)
out$zero_cell$poly <- poly_block(zc)
out$zero_cell$cfa <- fit_block(cfa("F =~ a + b + c + e", data = zc, ordered = TRUE,
                                   estimator = "WLSMV"))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "ordinal_reference.json")
