# Reference for analysis.efa / analysis._fa: psych::fa loadings, factor correlations and
# uniquenesses on the public datasets the outside checkers use, and what psych says about
# a Heywood case.
# R 4.x, psych 2.2.9 (GPArotation for oblimin), psychTools (bfi), lavaan 0.6-14 (HS), jsonlite.
# Run (from tests/reference):  Rscript make_efa.R  ->  efa_reference.json
# The data the Python tests read are written by other scripts from the same sources:
#   data/bfi_items_complete.csv = na.omit(psychTools::bfi[, 1:25])   (make_ordinal.R)
#   data/HolzingerSwineford1939.csv = lavaan::HolzingerSwineford1939 (make_invariance_steps.R)
# n is stored here so the tests can check they read the same rows.
suppressMessages({library(psych); library(psychTools); library(jsonlite)})
out <- list(R = R.version.string, psych = as.character(packageVersion("psych")),
            GPArotation = as.character(packageVersion("GPArotation")))

fit <- function(x, nf, fm, rot) {
  w <- character(0)
  f <- withCallingHandlers(fa(x, nfactors = nf, fm = fm, rotate = rot),
                           warning = function(e) { w <<- c(w, conditionMessage(e))
                                                   invokeRestart("muffleWarning") })
  list(items = colnames(x), n = nrow(x), nfactors = nf, fm = fm, rotate = rot,
       loadings = unname(unclass(f$loadings)),
       phi = if (is.null(f$Phi)) NULL else unname(f$Phi),
       uniquenesses = unname(f$uniquenesses), communalities = unname(f$communality),
       warnings = w)
}

bfi <- na.omit(psychTools::bfi[, 1:25])
hs <- lavaan::HolzingerSwineford1939[, paste0("x", 1:9)]
out$bfi_minres_oblimin <- fit(bfi, 5, "minres", "oblimin")
out$bfi_ml_varimax <- fit(bfi, 5, "ml", "varimax")
out$bfi_minres_promax <- fit(bfi, 5, "minres", "promax")
out$hs_minres_oblimin <- fit(hs, 3, "minres", "oblimin")
out$hs_ml_promax <- fit(hs, 3, "ml", "promax")
out$hs_ml_oblimin <- fit(hs, 3, "ml", "oblimin")

# A Heywood case: one factor, three variables with r12 = r13 = .8, r23 = .4, so the
# first loading would be sqrt(.8 * .8 / .4) > 1. psych's minres reports communality > 1
# ("ultra-Heywood"); its ML solution stops at the lower bound of the uniqueness, silently.
r <- matrix(c(1, .8, .8, .8, 1, .4, .8, .4, 1), 3)
for (fm in c("minres", "ml")) {
  w <- character(0)
  f <- withCallingHandlers(fa(r, nfactors = 1, n.obs = 600, fm = fm, rotate = "none"),
                           warning = function(e) { w <<- c(w, conditionMessage(e))
                                                   invokeRestart("muffleWarning") })
  out[[paste0("heywood_", fm)]] <- list(corr = unname(r), n_obs = 600,
                                        loadings = unname(unclass(f$loadings))[, 1],
                                        uniquenesses = unname(f$uniquenesses),
                                        communalities = unname(f$communality), warnings = w)
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", pretty = TRUE),
           "efa_reference.json")
