package main

import (
	"bytes"
	"io"
	"sync"
)

// heldLog is where the session's log lines go: straight to the terminal,
// except while the terminal UI owns the screen, when they are kept (the
// last heldLogMax bytes) and printed once the UI has ended, so that a log
// line never tears the UI.
type heldLog struct {
	mu      sync.Mutex
	out     io.Writer
	holding bool
	held    bytes.Buffer
	dropped bool
}

const heldLogMax = 64 << 10

func (l *heldLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.holding {
		return l.out.Write(p)
	}
	l.held.Write(p)
	if over := l.held.Len() - heldLogMax; over > 0 {
		b := l.held.Bytes()[over:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
		rest := append([]byte(nil), b...)
		l.held.Reset()
		l.held.Write(rest)
		l.dropped = true
	}
	return len(p), nil
}

// hold keeps log lines from now on.
func (l *heldLog) hold() {
	l.mu.Lock()
	l.holding = true
	l.mu.Unlock()
}

// release prints what was kept and writes through again.
func (l *heldLog) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holding = false
	if l.dropped {
		_, _ = io.WriteString(l.out, "devproxy: (older log lines from while the UI ran were dropped)\n")
	}
	_, _ = l.out.Write(l.held.Bytes())
	l.held.Reset()
	l.dropped = false
}
