# Reference for analysis.parallel: psych::fa.parallel's observed eigenvalues (components,
# and factors as psych computes them: eigenvalues of the correlation matrix with the
# communalities of a 1-factor minres solution on the diagonal, or SMCs with SMC = TRUE)
# and its suggested numbers of factors and components.
# R 4.x, psych 2.2.9, psychTools (bfi), jsonlite.
# Run (from tests/reference):  Rscript make_parallel.R  ->  parallel_reference.json,
#   data/bfi_psychTools.csv (the 25 bfi items plus gender, education, age; NA as empty).
# The random eigenvalues are random (R draws normal data and also resamples columns), so
# only the observed eigenvalues are compared closely; the suggested numbers are recorded
# for 20 seeds at psych's default n.iter = 20 to show how stable psych's own decision is.
suppressMessages({library(psych); library(psychTools); library(jsonlite)})
dir.create("data", showWarnings = FALSE)
bfi <- psychTools::bfi
write.csv(bfi, "data/bfi_psychTools.csv", row.names = FALSE, na = "")
x <- bfi[, 1:25]
out <- list(R = R.version.string, psych = as.character(packageVersion("psych")))

run <- function(x, smc = FALSE, seeds = 1:20, n.iter = 20) {
  set.seed(1)
  pa <- fa.parallel(x, plot = FALSE, SMC = smc)   # defaults: fa = "both", fm = "minres", quant = .95
  nf <- nc <- integer(0)
  for (s in seeds) {
    set.seed(s)
    p <- suppressMessages(fa.parallel(x, plot = FALSE, SMC = smc, n.iter = n.iter))
    nf <- c(nf, p$nfact); nc <- c(nc, p$ncomp)
  }
  list(pc_values = pa$pc.values, fa_values = pa$fa.values, nfact = pa$nfact, ncomp = pa$ncomp,
       nfact_by_seed = nf, ncomp_by_seed = nc, n_obs = nrow(x),
       sim_pc_mean = pa$pc.sim, sim_fa_mean = pa$fa.sim)
}
sink("/dev/null")
out$bfi <- run(x)
out$bfi_smc <- run(x, smc = TRUE)
d <- read.csv("trust_synthetic.csv", stringsAsFactors = FALSE)
dims <- c("REL", "HON", "COM", "EMP", "CON")
reversed <- c("REL4", "HON3", "COM4", "EMP3", "CON4")
items <- as.vector(sapply(dims, function(p) paste0(p, 1:4)))
y <- d[, items]
for (r in reversed) y[[r]] <- 8 - y[[r]]
out$synthetic <- run(y, seeds = 1:5)
sink()
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "parallel_reference.json")
