package session

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/goleak"
)

// childEnv names the role a re-executed test binary plays (see runChild):
// the crash and lock tests need a second process.
const childEnv = "DEVPROXY_SESSION_TEST_CHILD"

// TestMain runs a child role when asked, and otherwise the tests, failing
// the package if any leaves a goroutine running (the writer must stop),
// and removes what the benchmarks shared.
func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role, os.Getenv(childEnv+"_PATH")))
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeFixtures()
		os.Exit(code)
	}))
}

// runChild plays a second process on the session file at path:
//
//   - "hold" opens it for writing, prints "ready" and waits for its
//     standard input to close;
//   - "load" writes exchanges in batches of 10, printing "committed N" after
//     each commit, until it is killed.
func runChild(role, path string) int {
	fail := func(err error) int {
		fmt.Println("error:", err)
		return 1
	}
	switch role {
	case "hold":
		s, err := Open(path, Options{Command: "session-test hold"})
		if err != nil {
			return fail(err)
		}
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		return exit(s.Close())
	case "load":
		s, err := Open(path, Options{BatchSize: 10, BatchDelay: 1 << 62})
		if err != nil {
			return fail(err)
		}
		for id := uint64(1); ; id++ {
			s.Offer(exchange(id, fmt.Appendf(nil, "body of %d", id)))
			if id%10 == 0 {
				if err := s.Flush(); err != nil {
					return fail(err)
				}
				fmt.Println("committed", id)
			}
		}
	}
	return fail(fmt.Errorf("unknown role %q", role))
}

func exit(err error) int {
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return 0
}

// child starts the test binary as a child playing role on path, with its
// standard input and output piped; the test kills it at the end.
func child(t *testing.T, role, path string) (cmd *exec.Cmd, stdin *os.File, lines *bufio.Scanner) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, childEnv+"_PATH="+path)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = r
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() {
		w.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, w, bufio.NewScanner(out)
}

// committed parses a "committed N" line.
func committed(line string) (uint64, bool) {
	var n uint64
	if _, err := fmt.Sscanf(line, "committed %d", &n); err != nil {
		return 0, false
	}
	return n, true
}
