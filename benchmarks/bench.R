# R reference timings for the benchmarks (psych + lavaan), called by benchmarks/worker.py:
#   Rscript --vanilla bench.R ITEMS.f64 N K
# Reads the raw float64 matrix (NaN = missing), reverse-keys items 3 and 6 of each
# dimension, and times psych::alpha per dimension, psych::KMO, psych::cortest.bartlett,
# psych::fa (5 factors, minres, oblimin) and lavaan::cfa. Prints one JSON line.
suppressPackageStartupMessages({
  library(psych); library(lavaan); library(GPArotation); library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[2]); k <- as.integer(args[3])
con <- file(args[1], "rb")
x <- matrix(readBin(con, "double", n = n * k, size = 8, endian = "little"), nrow = n,
            ncol = k, byrow = TRUE)
close(con)
dims <- c("ABL", "BEN", "INT", "PRD", "TRN")
colnames(x) <- as.vector(t(outer(dims, 1:6, paste0)))
invisible(gc(reset = TRUE))
mem0 <- sum(gc()[, 2])
times <- list()
tm <- function(name, expr) {
  t <- system.time(v <- force(expr))[["elapsed"]]
  times[[name]] <<- t
  invisible(v)
}
start <- proc.time()[["elapsed"]]
tm("prepare", {
  rev <- grepl("[36]$", colnames(x))
  x[, rev] <- 8 - x[, rev]
  cc <- x[complete.cases(x), ]
  NULL
})
tm("alpha (psych)", for (d in dims) {
  psych::alpha(na.omit(x[, paste0(d, 1:6)]), check.keys = FALSE)
})
tm("kmo (psych)", psych::KMO(cor(cc)))
tm("bartlett (psych)", psych::cortest.bartlett(cor(cc), n = nrow(cc)))
tm("efa (psych fa)", psych::fa(cc, nfactors = 5, fm = "minres", rotate = "oblimin"))
model <- paste(sprintf("%s =~ %s", dims, sapply(dims, function(d) paste0(d, 1:6,
                                                                         collapse = " + "))),
               collapse = "\n")
tm("cfa (lavaan)", lavaan::cfa(model, data = as.data.frame(cc), std.lv = TRUE))
total <- proc.time()[["elapsed"]] - start
mem <- sum(gc()[, 6]) - mem0  # "max used" (Mb) since the reset, less the data
cat(toJSON(list(wall = total, parts = times, r_max_used_mb = mem,
                r = R.version.string), auto_unbox = TRUE), "\n")
