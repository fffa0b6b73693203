# Developer helper: write man/*.Rd for the HAND-WRITTEN R files with roxygen2 (a dev-only tool;
# installing the package never needs it). The generated wrappers' Rd files come from
# tools/codegen (python -m tools.codegen) and are left alone: roxygen runs on a copy of the
# package without R/generated-*.R, and only its Rd output is copied back. NAMESPACE is
# hand-written. Run from the repository root: Rscript rclient/tools/document.R
pkg <- normalizePath("rclient")
tmp <- file.path(tempdir(), "shoal-doc")
unlink(tmp, recursive = TRUE)
dir.create(tmp)
file.copy(file.path(pkg, c("DESCRIPTION", "R")), tmp, recursive = TRUE)
unlink(Sys.glob(file.path(tmp, "R", "generated-*.R")))
roxygen2::roxygenise(tmp, roclets = "rd")
old <- setdiff(Sys.glob(file.path(pkg, "man", "*.Rd")), Sys.glob(file.path(pkg, "man", "generated-*.Rd")))
unlink(old)
file.copy(Sys.glob(file.path(tmp, "man", "*.Rd")), file.path(pkg, "man"), overwrite = TRUE)
cat("wrote", length(Sys.glob(file.path(tmp, "man", "*.Rd"))), "Rd files\n")
