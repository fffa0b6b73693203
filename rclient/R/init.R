# Connecting: shoal_init() connects to a running node or starts a local one, and
# shoal_shutdown() stops it. A node this session started is also stopped when R exits
# (a finalizer with onexit = TRUE), and it watches our pid (--parent-pid) in case R dies.

.default_port <- 54330L

# A free TCP port on loopback: try to listen on it (base R's serverSocket, R >= 4.0).
.free_port <- function(from = 54340L, to = 59999L) {
  for (i in seq_len(200L)) {
    port <- sample(seq.int(from, to, by = 2L), 1L)
    ok <- tryCatch({
      s <- serverSocket(port)
      close(s)
      # The node also binds port + 1 (ZeroMQ).
      s2 <- serverSocket(port + 1L)
      close(s2)
      TRUE
    }, error = function(e) FALSE, warning = function(w) FALSE)
    if (ok) return(port)
  }
  shoal_abort("connection_error", "Could not find a free port to start a Shoal node on.")
}

.python <- function() {
  p <- Sys.getenv("SHOAL_PYTHON", "")
  if (nzchar(p)) return(p)
  getOption("shoal.python", "python3")
}

.start_node <- function(port, args = character(), timeout = 120, call = .user_call()) {
  log <- file.path(tempdir(), sprintf("shoal-node-%d.log", port))
  cmd <- .python()
  argv <- c("-m", "shoal_server", "--port", as.character(port),
            "--parent-pid", as.character(Sys.getpid()), args)
  # Through sh so we learn the pid (base R's system2(wait = FALSE) does not return it): the
  # node runs in the background with its output in `log`, and sh exits at once.
  line <- sprintf("%s %s %s < /dev/null > %s 2>&1 & echo $!", .child_env(), shQuote(cmd),
                  paste(shQuote(argv), collapse = " "), shQuote(log))
  pid <- suppressWarnings(as.integer(system(line, intern = TRUE)))
  url <- sprintf("http://127.0.0.1:%d", port)
  deadline <- Sys.time() + as.numeric(timeout)
  fail <- function(why) {
    tail_log <- if (file.exists(log)) paste(utils::tail(readLines(log, warn = FALSE), 20L), collapse = "\n") else ""
    if (length(pid) == 1L && !is.na(pid)) tools::pskill(pid)
    shoal_abort("connection_error",
                sprintf("Started `%s -m shoal_server --port %d` but %s. Log (%s):\n%s",
                        cmd, port, why, log, tail_log),
                list(url = url, log = log), call = call)
  }
  repeat {
    if (!is.null(.health(url, timeout = 1))) break
    if (length(pid) == 1L && !is.na(pid) && !.alive(pid)) fail("it exited")
    if (Sys.time() > deadline) fail(sprintf("it did not answer at %s within %s s", url, timeout))
    Sys.sleep(0.2)
  }
  list(url = url, log = log, pid = pid)
}

# R's start-up script prepends its own library directories (R_HOME/lib, the system lib dir,
# the JVM) to LD_LIBRARY_PATH; a Python started from R then loads the system's libpython
# instead of its own and loses its site-packages. Give the node the path without them.
.child_env <- function() {
  ld <- Sys.getenv("LD_LIBRARY_PATH", "")
  if (!nzchar(ld)) return("env")
  parts <- strsplit(ld, ":", fixed = TRUE)[[1L]]
  r_added <- parts %in% c(file.path(R.home(), "lib"), "/usr/lib/R/lib", "/usr/lib/x86_64-linux-gnu",
                          "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib") |
    grepl("/jvm/", parts, fixed = TRUE) | !nzchar(parts)
  keep <- parts[!r_added]
  if (!length(keep)) return("env -u LD_LIBRARY_PATH")
  paste0("env LD_LIBRARY_PATH=", shQuote(paste(keep, collapse = ":")))
}

.alive <- function(pid) isTRUE(tools::pskill(pid, signal = 0L))

# Stop the node this session started (if any): ask it to shut down, then make sure.
.stop_owned <- function() {
  owned <- .shoal$owned
  if (is.null(owned)) return(invisible(FALSE))
  .shoal$owned <- NULL
  h <- .handle(.new_conn(owned$url, owned$token), timeout = 5,
               headers = c("Content-Type" = "application/json"))
  curl::handle_setopt(h, postfields = "{}")
  try(curl::curl_fetch_memory(paste0(owned$url, .api_prefix, "/shutdown"), handle = h),
      silent = TRUE)
  # Wait for the process to be gone (not only for the HTTP port to close), then make sure.
  has_pid <- length(owned$pid) == 1L && !is.na(owned$pid)
  deadline <- Sys.time() + 10
  while (Sys.time() < deadline &&
         (if (has_pid) .alive(owned$pid) else !is.null(.health(owned$url, owned$token, 0.5)))) {
    Sys.sleep(0.1)
  }
  if (has_pid && .alive(owned$pid)) tools::pskill(owned$pid)
  invisible(TRUE)
}

#' Connect to a Shoal node, or start one
#'
#' With no arguments, connects to a node at `http://127.0.0.1:54330` (or the URL in the
#' environment variable `SHOAL_URL`); if none answers and `start` is TRUE, starts a local
#' node (`python3 -m shoal_server`, or the interpreter named by the environment variable
#' `SHOAL_PYTHON` / option `shoal.python`) on `port` if given, else on a free port, and
#' connects to it. A node started here is stopped by [shoal_shutdown()] and when R exits.
#' The arguments mirror the Python client's `shoal.init()`.
#'
#' @param url URL of a running node (`"http://host:port"`); never starts one.
#' @param ip address to look for a node on (default `"127.0.0.1"`).
#' @param port HTTP port to look for a node on (default 54330, or option `shoal.port`).
#' @param start start a local node when none answers.
#' @param token bearer token for nodes started with `--auth-token-file` (default: the
#'   environment variable `SHOAL_TOKEN`).
#' @param data_roots directories a started node may import from (default: the current
#'   directory).
#' @param threads,memory_budget,name passed to a started node (`--threads`,
#'   `--memory-budget`, `--name`).
#' @param server_args further command-line arguments for a started node.
#' @param start_timeout seconds to wait for a started node to answer.
#' @param verbose print where we connected.
#' @return the cluster status (see [shoal_cluster_status()]), invisibly.
#' @export
shoal_init <- function(url = NULL, ip = NULL, port = NULL, start = TRUE, token = NULL,
                       data_roots = NULL, threads = NULL, memory_budget = NULL, name = NULL,
                       server_args = character(), start_timeout = 120, verbose = TRUE) {
  call <- .user_call()
  if (is.null(token)) token <- Sys.getenv("SHOAL_TOKEN", "")
  if (is.null(url) && is.null(ip) && is.null(port) && nzchar(Sys.getenv("SHOAL_URL", ""))) {
    url <- Sys.getenv("SHOAL_URL")
  }
  if (!is.null(url)) {
    url <- sub("/+$", "", url)
    if (is.null(.health(url, token))) {
      shoal_abort("connection_error", sprintf("No Shoal node answers at %s.", url),
                  list(url = url), call = call)
    }
  } else {
    if (is.null(ip)) ip <- "127.0.0.1"
    probe <- if (is.null(port)) as.integer(getOption("shoal.port", .default_port)) else as.integer(port)
    url <- sprintf("http://%s:%d", ip, probe)
    if (is.null(.health(url, token))) {
      if (!isTRUE(start)) {
        shoal_abort("connection_error",
                    sprintf("No Shoal node answers at %s (and start = FALSE).", url),
                    list(url = url), call = call)
      }
      if (!(ip %in% c("127.0.0.1", "localhost"))) {
        shoal_abort("connection_error",
                    sprintf("No Shoal node answers at %s; a node can only be started on this machine (ip = \"127.0.0.1\").", url),
                    list(url = url), call = call)
      }
      p <- if (is.null(port)) .free_port() else as.integer(port)
      args <- c("--bind", ip)
      for (root in data_roots) args <- c(args, "--data-root", normalizePath(root, mustWork = FALSE))
      if (!is.null(threads)) args <- c(args, "--threads", as.character(threads))
      if (!is.null(memory_budget)) args <- c(args, "--memory-budget", format(memory_budget, scientific = FALSE))
      if (!is.null(name)) args <- c(args, "--name", name)
      .stop_owned()
      started <- .start_node(p, args = c(args, server_args), timeout = start_timeout, call = call)
      url <- started$url
      .shoal$owned <- list(url = url, token = if (nzchar(token)) token else NULL,
                           log = started$log, pid = started$pid)
      .register_finalizer()
    }
  }
  .shoal$conn <- .new_conn(url, token)
  status <- shoal_request("GET", paste0(.api_prefix, "/cluster"), call = call)
  if (isTRUE(verbose) && !isTRUE(getOption("shoal.quiet", FALSE))) {
    cl <- status$cluster
    message(sprintf("Connected to Shoal %s at %s: cluster '%s', %s node(s), %s cores.",
                    cl$version %||% "", url, cl$name %||% "?", cl$size %||% 1,
                    status$node$cores %||% "?"))
  }
  invisible(status)
}

.register_finalizer <- function() {
  if (isTRUE(.shoal$finalizer)) return(invisible())
  .shoal$finalizer <- TRUE
  reg.finalizer(.shoal, function(e) .stop_owned(), onexit = TRUE)
  invisible()
}

#' The current connection
#'
#' @return a list with `url` and `token`, or NULL when not connected.
#' @export
shoal_connection <- function() .shoal$conn
