package session

import (
	"errors"
	"testing"
)

func TestAbandonedAndRemove(t *testing.T) {
	// Written now: neither abandoned nor removable.
	path := newPath(t)
	s := open(t, path, Options{})
	s.Offer(exchange(1, nil))
	s.Flush()
	if ok, err := Abandoned(path); ok || err != nil {
		t.Errorf("a session being written: Abandoned = %v, %v", ok, err)
	}
	var le *LockedError
	if err := Remove(path); !errors.As(err, &le) {
		t.Errorf("Remove of a session being written = %v", err)
	}
	if n, err := s.Count(); err != nil || n != 1 {
		t.Fatalf("after the refused Remove: Count = %d, %v", n, err)
	}
	// Closed: not abandoned.
	s.Close()
	if ok, err := Abandoned(path); ok || err != nil {
		t.Errorf("a closed session: Abandoned = %v, %v", ok, err)
	}

	// Left by a writer that was killed: abandoned, and removed whole.
	path = newPath(t)
	cmd, _, out := child(t, "hold", path)
	if line := within(t, lines(out), "the child to open the file"); line != "ready" {
		t.Fatalf("child: %s", line)
	}
	if ok, err := Abandoned(path); ok || err != nil {
		t.Errorf("a session held by another process: Abandoned = %v, %v", ok, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if ok, err := Abandoned(path); !ok || err != nil {
		t.Fatalf("a session whose writer was killed: Abandoned = %v, %v", ok, err)
	}
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if left := filesBeside(t, path); len(left) != 0 {
		t.Errorf("Remove left %v", left)
	}
	if ok, err := Abandoned(path); ok || err != nil {
		t.Errorf("a removed session: Abandoned = %v, %v", ok, err)
	}
}
