# Score tests (lavTestScore) and a partial-scalar refit for the intercept diagnostics of
# analysis.invariance, on the same data and model as make_reference.R.
# Install on Debian: apt-get install r-cran-psych r-cran-lavaan r-cran-gparotation r-cran-jsonlite
# Run: Rscript make_invariance_diagnostics.R  ->  invariance_diagnostics_reference.json
suppressMessages({library(lavaan); library(jsonlite)})
d <- read.csv("trust_synthetic.csv", stringsAsFactors = FALSE)
dims <- c("REL", "HON", "COM", "EMP", "CON")
reversed <- c("REL4", "HON3", "COM4", "EMP3", "CON4")
items <- as.vector(sapply(dims, function(p) paste0(p, 1:4)))
x <- d[, items]
for (r in reversed) x[[r]] <- 8 - x[[r]]
cc <- na.omit(x)
dd <- cbind(cc, language = d$language[as.integer(rownames(cc))])
model <- paste(sapply(dims, function(p) paste0(p, " =~ ", paste0(p, 1:4, collapse = " + "))), collapse = "\n")
fit <- cfa(model, data = dd, group = "language", group.equal = c("loadings", "intercepts"))
pt <- parTable(fit)
groups <- lavInspect(fit, "group.label")          # lavaan's group order (first appearance)
lt <- lavTestScore(fit)
uni <- lt$uni
out <- list(lavaan = as.character(packageVersion("lavaan")), groups = groups, scalar_chisq = unname(fitMeasures(fit, "chisq")))
for (item in c("HON2", "HON3")) {
  lab <- pt$plabel[pt$op == "~1" & pt$lhs == item]   # one label per group, in group order
  rows <- which(uni$lhs == lab[1] & uni$rhs %in% lab[-1])
  by_group <- setNames(as.list(uni$X2[rows]), groups[match(uni$rhs[rows], lab)])
  out$score_tests[[item]] <- list(
    release_df = length(rows),
    X2 = unname(lavTestScore(fit, release = rows)$test$X2),
    X2_first_group_vs = by_group)
}
fit2 <- cfa(model, data = dd, group = "language", group.equal = c("loadings", "intercepts"),
            group.partial = "HON2~1")
out$partial_HON2_delta_chisq <- unname(fitMeasures(fit, "chisq") - fitMeasures(fit2, "chisq"))
write(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE), "invariance_diagnostics_reference.json")
cat("written invariance_diagnostics_reference.json\n")
