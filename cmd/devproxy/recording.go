package main

import (
	"errors"
	"fmt"
	"iter"
	"os"
	"time"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/har"
	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/session"
)

// recordingFile is a file of recorded exchanges that export and replay
// read (and view, for --har): a HAR file or a session, opened read-only.
// Either is read one exchange at a time, so that a file of any size need
// not fit in memory. Another process may be writing the session
// meanwhile.
type recordingFile struct {
	path  string
	har   *os.File       // a HAR file, read entry by entry; nil for a session
	store *session.Store // a session; nil for a HAR file
	// cursor reads a HAR file on from entry at, for load; nil until then.
	cursor *harCursor
}

// harCursor is a pass over a HAR file that load moves forwards.
type harCursor struct {
	next func() (record.Exchange, error, bool)
	stop func()
	at   uint64 // the index of the entry next returns
}

// openRecording opens path, a session file or else a HAR file. A HAR
// file's problems are found as it is read.
func openRecording(path string) (*recordingFile, error) {
	if isSessionFile(path) {
		store, err := session.Open(path, session.Options{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		return &recordingFile{path: path, store: store}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPathError(err))
	}
	return &recordingFile{path: path, har: f}, nil
}

// Close closes the file.
func (f *recordingFile) Close() error {
	if f.cursor != nil {
		f.cursor.stop()
	}
	if f.har != nil {
		return f.har.Close()
	}
	if f.store != nil {
		return f.store.Close()
	}
	return nil
}

// filterEnv is what a filter is evaluated with: bodies decoded by the
// standard decoder, durations of exchanges still in flight up to now.
func filterEnv() match.Env { return match.Env{Now: time.Now(), Bodies: body.Decoder{}} }

// each calls fn with every exchange filter selects (every one for a nil
// filter), in the file's order, and returns how many the file holds. The
// exchanges carry their body bytes and messages when bodies is set or the
// filter reads them; otherwise a session's come without (a HAR file's
// always have them). key names an exchange for load. An error from fn, or
// in a HAR file, stops the walk and is returned: fn may have seen
// entries of a HAR file that turns out to be broken further on.
func (f *recordingFile) each(filter *match.Matcher, bodies bool, fn func(key uint64, x *record.Exchange) error) (total int, err error) {
	env := filterEnv()
	if f.store == nil {
		for x, err := range har.Scan(f.har) {
			if err != nil {
				return total, fmt.Errorf("%s: %w", f.path, err)
			}
			key := uint64(total)
			total++
			if filter.Match(&x, env) {
				if err := fn(key, &x); err != nil {
					return total, err
				}
			}
		}
		return total, nil
	}
	needBodies := filter.NeedsBodies()
	var after uint64
	for {
		page, err := f.store.Range(after, sessionPage)
		if err != nil {
			return total, err
		}
		total += len(page)
		for i := range page {
			x := &page[i]
			if !needBodies && !filter.Match(x, env) {
				continue
			}
			if needBodies || bodies {
				whole, err := f.store.Load(x.ID)
				if errors.Is(err, session.ErrNotFound) {
					continue // evicted since the page was read
				}
				if err != nil {
					return total, err
				}
				x = &whole
			}
			if needBodies && !filter.Match(x, env) {
				continue
			}
			if err := fn(x.ID, x); err != nil {
				return total, err
			}
		}
		if len(page) < sessionPage {
			return total, nil
		}
		after = page[len(page)-1].ID
	}
}

// load returns the exchange each called key, whole; ok is false when a
// session no longer holds it (evicted meanwhile by its writer). A HAR
// file is read on from the last key loaded, so loading keys in order, as
// each gave them, reads it once.
func (f *recordingFile) load(key uint64) (x record.Exchange, ok bool, err error) {
	if f.store == nil {
		c := f.cursor
		if c == nil || key < c.at {
			if c != nil {
				c.stop()
			}
			next, stop := iter.Pull2(har.Scan(f.har))
			c = &harCursor{next: next, stop: stop}
			f.cursor = c
		}
		for {
			x, err, more := c.next()
			if !more {
				return x, false, fmt.Errorf("%s: no entry %d", f.path, key)
			}
			if err != nil {
				return x, false, fmt.Errorf("%s: %w", f.path, err)
			}
			if c.at++; c.at-1 == key {
				return x, true, nil
			}
		}
	}
	x, err = f.store.Load(key)
	if errors.Is(err, session.ErrNotFound) {
		return x, false, nil
	}
	return x, err == nil, err
}
