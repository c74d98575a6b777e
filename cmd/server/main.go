// Command server is bin/server: the HTTP service (no arguments), plus the
// exec and submit tools.
//
//	bin/server                       serve /execute, /pubsub, /healthz, /metrics and the IDE on $PORT
//	bin/server exec [flags] FILE     run one script through the sandbox, print the result JSON
//	bin/server submit --topic T ...  publish scripts as batch messages
//	bin/server probe                 print which isolation layers this host allows
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage:
  server                          serve on $PORT (default 8080)
  server exec [--input FILE|-] [--file PATH]... [--out DIR] [--timeout-ms N] [--memory-mb N] FILE
                                  run FILE once (main(input) with --input, a
                                  JSON file or - for stdin); prints the result JSON;
                                  exit 0 ok, 1 script error, 2 usage/internal
  server submit --topic T [--project P] [--id ID] [--input FILE] [--file PATH]... [--timeout-ms N] [--memory-mb N] FILE...
                                  [--wait 10m [--out DIR]]
                                  publish each FILE as a batch message
                                  (honours PUBSUB_EMULATOR_HOST); --wait waits
                                  for every result and prints a summary
  server results [--out DIR] ID...
                                  fetch results by id from RESULTS_BUCKET (or
                                  RESULTS_DIR): one to stdout, or a summary
  server probe                    try every isolation profile on this host for
                                  real; print what works as JSON (exit 1: none)
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return serve(stderr)
	}
	switch args[0] {
	case "serve":
		return serve(stderr)
	case "exec":
		return execCmd(args[1:], stdout, stderr)
	case "submit":
		return submitCmd(args[1:], stdout, stderr)
	case "results":
		return resultsCmd(args[1:], stdout, stderr)
	case "probe":
		return probeCmd(stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
		return 2
	}
}
