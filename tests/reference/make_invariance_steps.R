# Reference for analysis.invariance's steps: configural, metric, partial metric, scalar,
# partial scalar, strict; lavTestLRT (ML, and MLR with lavaan's default for MLR, the
# Satorra-Bentler 2001 scaled difference); lavTestScore for loadings and intercepts; latent
# mean differences. Data: lavaan::HolzingerSwineford1939 by school, psychTools::bfi by
# gender (reverse-keyed items recoded 7 - x), the reference survey by language.
# R 4.x, lavaan 0.6-14, psychTools, jsonlite.
# Run (from tests/reference):  Rscript make_invariance_steps.R
#   -> invariance_steps_reference.json, data/HolzingerSwineford1939.csv,
#      data/bfi_psychTools.csv (as make_parallel.R writes it), data/invariance_loadings_sim.csv
# The partial searches free, one at a time, the loading (intercept) whose equality
# constraints across groups have the largest score test (lavTestScore(fit, release =
# <that parameter's G - 1 constraints>)), refitting after each, until Chen's (2007)
# criterion holds against the comparison model (delta CFI > -0.010), at most 3.
suppressMessages({library(lavaan); library(psychTools); library(jsonlite)})
dir.create("data", showWarnings = FALSE)
write.csv(HolzingerSwineford1939, "data/HolzingerSwineford1939.csv", row.names = FALSE)
write.csv(psychTools::bfi, "data/bfi_psychTools.csv", row.names = FALSE, na = "")

KEYS <- c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "npar")
RKEYS <- c("chisq", "df", "chisq.scaled", "df.scaled", "chisq.scaling.factor",
           "cfi.scaled", "tli.scaled", "rmsea.scaled", "cfi.robust", "tli.robust",
           "rmsea.robust", "srmr")
fm <- function(f, est) {
  k <- if (est == "ML") KEYS else RKEYS
  c(as.list(fitMeasures(f, k)), converged = lavInspect(f, "converged"))
}
lrt <- function(a, b) {            # a less constrained, b more constrained
  t <- lavTestLRT(a, b)
  list(chisq = t[["Chisq diff"]][2], df = t[["Df diff"]][2], p = t[["Pr(>Chisq)"]][2])
}
# score test per parameter (all its G - 1 equality constraints released)
score_by_param <- function(f, op) {
  pt <- parTable(f)
  uni <- lavTestScore(f)$uni
  rows <- pt[pt$op == op & pt$group == 1 & pt$free > 0 & pt$lhs != "" &
             pt$plabel %in% uni$lhs, ]
  out <- list()
  for (j in seq_len(nrow(rows))) {
    lab <- rows$plabel[j]
    rel <- which(uni$lhs == lab)
    name <- if (op == "=~") paste0(rows$lhs[j], "=~", rows$rhs[j]) else paste0(rows$lhs[j], "~1")
    if (length(rel) == 0) next
    out[[name]] <- unname(lavTestScore(f, release = rel)$test$X2)
  }
  out
}
latent_means <- function(f) {
  pe <- parameterEstimates(f)
  lv <- lavNames(f, "lv")
  pe <- pe[pe$op == "~1" & pe$lhs %in% lv & pe$group > 1, ]
  lab <- lavInspect(f, "group.label")
  lapply(seq_len(nrow(pe)), function(i) list(factor = pe$lhs[i], group = lab[pe$group[i]],
    est = pe$est[i], se = pe$se[i], z = pe$z[i], p = pe$pvalue[i]))
}

steps <- function(model, d, group, est = "ML") {
  fit <- function(eq, partial = character(0)) {
    if (!length(eq)) return(cfa(model, data = d, group = group, estimator = est))
    if (!length(partial)) return(cfa(model, data = d, group = group, group.equal = eq,
                                     estimator = est))
    cfa(model, data = d, group = group, group.equal = eq, group.partial = partial,
        estimator = est)
  }
  out <- list(groups = NULL)
  conf <- fit(character(0)); metric <- fit("loadings")
  scalar <- fit(c("loadings", "intercepts"))
  strict <- fit(c("loadings", "intercepts", "residuals"))
  out$groups <- as.list(setNames(lavInspect(conf, "nobs"), lavInspect(conf, "group.label")))
  out$fits <- list(configural = fm(conf, est), metric = fm(metric, est),
                   scalar = fm(scalar, est), strict = fm(strict, est))
  out$lrt <- list(metric = lrt(conf, metric), scalar = lrt(metric, scalar),
                  strict = lrt(scalar, strict))
  if (est != "ML") return(out)
  out$score_loadings_metric <- score_by_param(metric, "=~")
  out$score_intercepts_scalar <- score_by_param(scalar, "~1")
  out$latent_means_scalar <- latent_means(scalar)
  # partial metric search (against configural)
  cfi0 <- fitMeasures(conf, "cfi"); freed <- character(0); cur <- metric; pm <- list()
  while (length(freed) < 3 && fitMeasures(cur, "cfi") - cfi0 <= -0.010) {
    s <- score_by_param(cur, "=~"); top <- names(s)[which.max(unlist(s))]
    freed <- c(freed, top); cur <- fit("loadings", freed)
    pm[[length(pm) + 1]] <- list(free = top, X2 = s[[top]], fit = fm(cur, est), lrt = lrt(conf, cur))
  }
  out$partial_metric <- pm
  if (length(freed)) {   # the scalar step on the partial metric model
    sc <- fit(c("loadings", "intercepts"), freed)
    out$scalar_on_partial_metric <- list(free = freed, fit = fm(sc, est), lrt = lrt(cur, sc))
  }
  # partial scalar search (against metric)
  cfi1 <- fitMeasures(metric, "cfi"); freed <- character(0); cur <- scalar; ps <- list()
  while (length(freed) < 3 && fitMeasures(cur, "cfi") - cfi1 <= -0.010) {
    s <- score_by_param(cur, "~1"); top <- names(s)[which.max(unlist(s))]
    freed <- c(freed, top); cur <- fit(c("loadings", "intercepts"), freed)
    ps[[length(ps) + 1]] <- list(free = top, X2 = s[[top]], fit = fm(cur, est),
                                 lrt = lrt(metric, cur))
  }
  out$partial_scalar <- ps
  if (length(freed)) {
    st <- fit(c("loadings", "intercepts", "residuals"), freed)
    out$latent_means_partial_scalar <- latent_means(cur)
    out$strict_on_partial_scalar <- list(free = freed, fit = fm(st, est), lrt = lrt(cur, st))
  }
  out
}

out <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")))
hs_model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
out$hs_school <- steps(hs_model, HolzingerSwineford1939, "school")
out$hs_school_mlr <- steps(hs_model, HolzingerSwineford1939, "school", "MLR")

b <- psychTools::bfi
for (r in c("A1", "C4", "C5", "E1", "E2", "O2", "O5")) b[[r]] <- 7 - b[[r]]
b$gender <- ifelse(b$gender == 1, "male", "female")
bfi_model <- paste(sapply(c("A", "C", "E", "N", "O"), function(p)
  paste0(p, " =~ ", paste0(p, 1:5, collapse = " + "))), collapse = "\n")
bb <- b[complete.cases(b[, 1:25]), c(1:25, 26)]
out$bfi_gender <- steps(bfi_model, bb, "gender")
out$bfi_gender_mlr <- steps(bfi_model, bb, "gender", "MLR")

d <- read.csv("trust_synthetic.csv", stringsAsFactors = FALSE)
dims <- c("REL", "HON", "COM", "EMP", "CON")
reversed <- c("REL4", "HON3", "COM4", "EMP3", "CON4")
items <- as.vector(sapply(dims, function(p) paste0(p, 1:4)))
x <- d[, items]
for (r in reversed) x[[r]] <- 8 - x[[r]]
cc <- na.omit(x)
dd <- cbind(cc, language = d$language[as.integer(rownames(cc))])
syn_model <- paste(sapply(dims, function(p) paste0(p, " =~ ", paste0(p, 1:4, collapse = " + "))),
                   collapse = "\n")
out$synthetic_language <- steps(syn_model, dd, "language")
out$synthetic_language_mlr <- steps(syn_model, dd, "language", "MLR")
# simulated: loadings of y3 (and a little y7) differ between the groups, so metric fails
# and a partial metric model is needed (written to data/ for the Python tests)
set.seed(20261202)
sim_group <- function(n, lam, name) {
  eta <- matrix(rnorm(n * 2), n) %*% chol(matrix(c(1, .4, .4, 1), 2))
  L <- cbind(c(lam[1:4], rep(0, 4)), c(rep(0, 4), lam[5:8]))
  y <- eta %*% t(L) + matrix(rnorm(n * 8, sd = .6), n) + 3
  d <- as.data.frame(round(y, 4)); names(d) <- paste0("y", 1:8); d$grp <- name; d
}
ld <- rbind(sim_group(600, c(1, .8, .9, .7, 1, .8, .9, .7), "g1"),
            sim_group(600, c(1, .8, .25, .7, 1, .8, 1.2, .7), "g2"))
write.csv(ld, "data/invariance_loadings_sim.csv", row.names = FALSE)
out$loadings_sim <- steps("A =~ y1 + y2 + y3 + y4\nB =~ y5 + y6 + y7 + y8", ld, "grp")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null"),
           "invariance_steps_reference.json")
