# Discriminant validity and the single-index question: the reference for analysis.validity
# and analysis.hierarchy.
#
#   * semTools::htmt (heterotrait-monotrait ratio; the default htmt2 = TRUE, i.e. geometric
#     means of absolute correlations, Roemer, Schuberth & Henseler 2021, and htmt2 = FALSE,
#     the arithmetic original of Henseler, Ringle & Sarstedt 2015), on lavCor of the rows
#     complete on the model's items;
#   * the Fornell-Larcker table: sqrt(AVE) per factor, AVE = mean of the squared standardized
#     loadings (std.all) of the correlated-factors lavaan::cfa, and lavInspect(fit, "cor.lv");
#   * a second-order CFA (G =~ every dimension; lavaan defaults: marker loadings fixed to 1,
#     ML) with its fitMeasures and standardized solution, and semTools::reliabilityL2(fit, "G");
#   * psych::omega(R, nfactors = number of dimensions, fm = "minres", rotate = "oblimin")
#     on the Pearson correlations of the complete rows: omega_h, omega.tot, ECV, g loadings.
#
# Data (rows complete on the model's items, i.e. listwise, as analysis does):
#   * bfi: psychTools::bfi, 25 items, 5 factors; A1, C4, C5, E1, E2, O2, O5 reverse-keyed
#     as 7 - x (1..6 scale). The raw data (not recoded, NAs kept) go to data/bfi_psychTools.csv.
#   * hs: lavaan::HolzingerSwineford1939, x1-x9 as visual/textual/speed -> data/holzinger_swineford.csv.
#   * trust: trust_synthetic.csv, 5 dimensions x 4 items, reverse keys as 8 - x.
#
# Run (from tests/reference): Rscript make_validity.R -> validity_reference.json (+ data/*.csv)
# Made with R 4.x, psych 2.2.9, psychTools, lavaan 0.6-14, semTools 0.5-6, GPArotation
# (versions are recorded in the JSON).
suppressMessages({
  library(psych); library(lavaan); library(semTools); library(jsonlite)
})
dir.create("data", showWarnings = FALSE)

bfi_raw <- psychTools::bfi
# the same file as make_parallel.R writes (identical bytes)
write.csv(bfi_raw, "data/bfi_psychTools.csv", row.names = FALSE, na = "")
hs_raw <- lavaan::HolzingerSwineford1939
write.csv(hs_raw, "data/holzinger_swineford.csv", row.names = FALSE, na = "")

cases <- list()
bfi_items <- list(A = paste0("A", 1:5), C = paste0("C", 1:5), E = paste0("E", 1:5),
                  N = paste0("N", 1:5), O = paste0("O", 1:5))
b <- bfi_raw[, unlist(bfi_items)]
for (r in c("A1", "C4", "C5", "E1", "E2", "O2", "O5")) b[[r]] <- 7 - b[[r]]
cases$bfi <- list(data = b, model = bfi_items)

cases$hs <- list(data = hs_raw[, paste0("x", 1:9)],
                 model = list(visual = c("x1", "x2", "x3"), textual = c("x4", "x5", "x6"),
                              speed = c("x7", "x8", "x9")))

d <- read.csv("trust_synthetic.csv", stringsAsFactors = FALSE)
dims <- c("REL", "HON", "COM", "EMP", "CON")
tm <- setNames(lapply(dims, function(p) paste0(p, 1:4)), dims)
x <- d[, unlist(tm)]
for (r in c("REL4", "HON3", "COM4", "EMP3", "CON4")) x[[r]] <- 8 - x[[r]]
cases$trust <- list(data = x, model = tm)

syntax <- function(model) paste(sprintf("%s =~ %s", names(model),
  sapply(model, paste, collapse = " + ")), collapse = "\n")
fm_names <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower",
              "rmsea.ci.upper", "srmr", "aic", "bic", "logl", "npar", "baseline.chisq",
              "baseline.df")

out <- list(versions = list(R = R.version.string,
                            psych = as.character(packageVersion("psych")),
                            lavaan = as.character(packageVersion("lavaan")),
                            semTools = as.character(packageVersion("semTools")),
                            GPArotation = as.character(packageVersion("GPArotation"))))
for (nm in names(cases)) {
  cs <- cases[[nm]]
  cc <- na.omit(cs$data[, unlist(cs$model)])
  model <- syntax(cs$model)
  res <- list(n = nrow(cc), factors = names(cs$model), model = cs$model)
  # HTMT, both variants
  h2 <- unclass(htmt(model, data = cc))
  h1 <- unclass(htmt(model, data = cc, htmt2 = FALSE))
  res$htmt2 <- lapply(names(cs$model), function(f) as.list(h2[f, ]))
  names(res$htmt2) <- names(cs$model)
  res$htmt <- lapply(names(cs$model), function(f) as.list(h1[f, ]))
  names(res$htmt) <- names(cs$model)
  # correlated-factors CFA: Fornell-Larcker table
  fit1 <- cfa(model, data = cc)
  st <- standardizedSolution(fit1)
  ld <- st[st$op == "=~", ]
  ave <- sapply(names(cs$model), function(f) mean(ld$est.std[ld$lhs == f]^2))
  res$cfa_fit <- as.list(fitMeasures(fit1, fm_names))
  res$ave_fornell_larcker <- as.list(ave)
  res$sqrt_ave <- as.list(sqrt(ave))
  cl <- lavInspect(fit1, "cor.lv")
  res$factor_correlations <- lapply(names(cs$model), function(f) as.list(cl[f, ]))
  names(res$factor_correlations) <- names(cs$model)
  # second-order model
  if (length(cs$model) >= 3) {
    model2 <- paste0(model, "\nG =~ ", paste(names(cs$model), collapse = " + "))
    fit2 <- cfa(model2, data = cc)
    st2 <- standardizedSolution(fit2)
    res$second_order <- list(
      converged = lavInspect(fit2, "converged"),
      fit = as.list(fitMeasures(fit2, fm_names)),
      first_order_std = as.list(setNames(st2$est.std[st2$op == "=~" & st2$lhs != "G"],
                                         st2$rhs[st2$op == "=~" & st2$lhs != "G"])),
      second_order_std = as.list(setNames(st2$est.std[st2$op == "=~" & st2$lhs == "G"],
                                          st2$rhs[st2$op == "=~" & st2$lhs == "G"])),
      reliabilityL2 = as.list(reliabilityL2(fit2, "G")))
  }
  # psych::omega on the Pearson correlations of the complete rows
  R <- cor(cc)
  om <- omega(R, nfactors = length(cs$model), fm = "minres", rotate = "oblimin",
              n.obs = nrow(cc), plot = FALSE)
  res$omega <- list(omega_h = om$omega_h, omega_tot = om$omega.tot, ecv = unname(om$ECV),
                    alpha = om$alpha, omega_lim = om$omega.lim,
                    g_loadings = as.list(setNames(om$schmid$sl[, 1], colnames(R))),
                    key = as.list(setNames(as.numeric(om$key), colnames(R))))
  out[[nm]] <- res
}
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "validity_reference.json")
cat("written validity_reference.json\n")
