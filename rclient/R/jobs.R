# Jobs: long work (parsing) answers 202 {"job": Job}; the client polls it to the end and shows
# a txtProgressBar meanwhile (option `shoal.progress`, default TRUE).

.job_done <- c("DONE", "FAILED", "CANCELLED")

.poll_interval <- function(elapsed) if (elapsed < 1) 0.05 else if (elapsed < 10) 0.2 else 0.5

# Poll a job until it ends. A FAILED or CANCELLED job is signalled as the job's error.
.wait_job <- function(job, progress = getOption("shoal.progress", TRUE), call = .user_call()) {
  key <- job$key
  bar <- NULL
  if (isTRUE(progress) && !(job$status %in% .job_done)) {
    bar <- utils::txtProgressBar(min = 0, max = 1, style = 3)
    on.exit(close(bar), add = TRUE)
  }
  t0 <- Sys.time()
  job_path <- paste0(.api_prefix, "/jobs/", curl::curl_escape(key))
  # Ctrl-C while waiting asks the node to cancel the job (as the Python client does), then
  # lets the interrupt through.
  withCallingHandlers(
    while (!(job$status %in% .job_done)) {
      if (!is.null(bar)) utils::setTxtProgressBar(bar, .num(job$progress, 0))
      Sys.sleep(.poll_interval(as.numeric(difftime(Sys.time(), t0, units = "secs"))))
      job <- shoal_request("GET", job_path, call = call)$job
    },
    interrupt = function(cnd) {
      try(shoal_request("POST", paste0(job_path, "/cancel"), call = call), silent = TRUE)
    }
  )
  if (!is.null(bar) && job$status == "DONE") utils::setTxtProgressBar(bar, 1)
  if (job$status != "DONE") {
    err <- job$error
    if (is.list(err) && !is.null(err$code)) {
      shoal_abort(err$code, if (is.null(err$message)) "" else err$message,
                  if (is.list(err$details)) err$details else list(), call = call)
    }
    shoal_abort(if (job$status == "CANCELLED") "job_cancelled" else "internal_error",
                sprintf("Job `%s` ended %s.", key, job$status), list(job = key), call = call)
  }
  job
}

.num <- function(x, default = NA_real_) if (is.null(x)) default else as.numeric(x)
