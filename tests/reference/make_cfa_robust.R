# Reference results for trustmeter's CFA estimators (issue 13, part B1): ML, MLR (Huber-White SEs,
# Yuan-Bentler scaled chi-square, robust CFI/TLI/RMSEA), FIML (missing = "ml") with ML and MLR,
# parameterEstimates(standardized = TRUE), R^2, modindices, semTools compRelSEM and AVE.
#
# R 4.x with lavaan 0.6-14, semTools 0.5-6, psychTools (bfi), jsonlite (Debian r-cran-* packages).
# Run from this directory:  Rscript make_cfa_robust.R  ->  cfa_robust_reference.json
# It also writes data/trust_mcar8.csv: the reference survey's 20 trust items, reverse-keyed
# (8 - x), with 8% of every item set missing completely at random (set.seed(20261202)).
# bfi is read from data/bfi_psychTools.csv (written by make_parallel.R from psychTools::bfi; the
# script checks that it equals psychTools::bfi). Reverse keys for bfi follow psych's bfi.keys
# (A1, C4, C5, E1, E2, O2, O5 as 7 - x); Holzinger-Swineford is lavaan::HolzingerSwineford1939.
suppressMessages({library(lavaan); library(semTools); library(jsonlite)})

bfi <- read.csv("data/bfi_psychTools.csv")
stopifnot(isTRUE(all.equal(bfi[, 1:25], psychTools::bfi[, 1:25], check.attributes = FALSE)))
for (v in c("A1", "C4", "C5", "E1", "E2", "O2", "O5")) bfi[[v]] <- 7 - bfi[[v]]
bfi_model <- paste(sapply(c("A", "C", "E", "N", "O"), function(f)
  paste0(f, " =~ ", paste0(f, 1:5, collapse = " + "))), collapse = "\n")

hs <- lavaan::HolzingerSwineford1939
hs_model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"

d <- read.csv("trust_synthetic.csv", stringsAsFactors = FALSE)
dims <- c("REL", "HON", "COM", "EMP", "CON")
items <- as.vector(sapply(dims, function(p) paste0(p, 1:4)))
trust <- d[, items]
for (r in c("REL4", "HON3", "COM4", "EMP3", "CON4")) trust[[r]] <- 8 - trust[[r]]
trust_model <- paste(sapply(dims, function(p) paste0(p, " =~ ", paste0(p, 1:4, collapse = " + "))),
                     collapse = "\n")
# 8% MCAR per item on the reference data's reverse-keyed items (its own ~2% missingness kept)
set.seed(20261202)
mcar <- trust
for (v in items) mcar[[v]][sample.int(nrow(mcar), round(0.08 * nrow(mcar)))] <- NA
dir.create("data", showWarnings = FALSE)
write.csv(mcar, "data/trust_mcar8.csv", row.names = FALSE, na = "")

measures <- c("npar", "ntotal", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi",
              "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr", "logl",
              "unrestricted.logl", "aic", "bic")
robust <- c("chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
            "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi.scaled", "tli.scaled",
            "rmsea.scaled", "cfi.robust", "tli.robust", "rmsea.robust")

describe <- function(fit) {
  fm <- fitMeasures(fit)
  keep <- c(measures, intersect(robust, names(fm)), intersect(c("cfi.robust", "tli.robust",
            "rmsea.robust"), names(fm)))
  pe <- parameterEstimates(fit, standardized = TRUE)
  pe <- pe[pe$op %in% c("=~", "~~"), c("lhs", "op", "rhs", "est", "se", "z", "pvalue", "std.all")]
  mi <- modindices(fit, sort. = TRUE)
  mi <- mi[, c("lhs", "op", "rhs", "mi", "epc")]
  r2 <- lavInspect(fit, "r2")
  list(options = list(estimator = lavInspect(fit, "options")$estimator,
                      missing = lavInspect(fit, "options")$missing,
                      meanstructure = lavInspect(fit, "options")$meanstructure),
       converged = lavInspect(fit, "converged"),
       nobs = lavInspect(fit, "nobs"),
       fit = as.list(fm[unique(keep)]),
       parameters = pe, r2 = as.list(r2), modindices = mi,
       compRelSEM = as.list(compRelSEM(fit)), AVE = as.list(AVE(fit)))
}

run <- function(model, data) list(
  ml = describe(cfa(model, data = data)),
  mlr = describe(cfa(model, data = data, estimator = "MLR")),
  fiml = describe(cfa(model, data = data, missing = "ml")),
  fiml_mlr = describe(cfa(model, data = data, missing = "ml", estimator = "MLR")))

out <- list(
  versions = list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")),
                  semTools = as.character(packageVersion("semTools"))),
  bfi = run(bfi_model, bfi[, 1:25]),
  hs = run(hs_model, hs),
  trust = run(trust_model, trust),
  trust_mcar8 = run(trust_model, mcar))
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
      "cfa_robust_reference.json")
cat("written cfa_robust_reference.json\n")
