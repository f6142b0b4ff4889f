package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/devproxy/devproxy/internal/body"
	"github.com/devproxy/devproxy/internal/match"
	"github.com/devproxy/devproxy/internal/record"
	"github.com/devproxy/devproxy/internal/session"
)

// recordingFile is a file of recorded exchanges that view, export and
// replay read: a HAR file, read whole, or a session, opened read-only and
// read one exchange at a time, so that a session of any size need not fit
// in memory. Another process may be writing the session meanwhile.
type recordingFile struct {
	path  string
	har   []record.Exchange // a HAR file's entries
	store *session.Store    // a session; nil for a HAR file
}

// openRecording opens path, a session file or else a HAR file.
func openRecording(path string) (*recordingFile, error) {
	if isSessionFile(path) {
		store, err := session.Open(path, session.Options{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		return &recordingFile{path: path, store: store}, nil
	}
	xs, err := readHARFile(path)
	if err != nil {
		return nil, err
	}
	return &recordingFile{path: path, har: xs}, nil
}

// Close closes a session; a HAR file has nothing open.
func (f *recordingFile) Close() error {
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
// always have them). key names an exchange for load. An error from fn
// stops the walk and is returned.
func (f *recordingFile) each(filter *match.Matcher, bodies bool, fn func(key uint64, x *record.Exchange) error) (total int, err error) {
	env := filterEnv()
	if f.store == nil {
		for i := range f.har {
			if filter.Match(&f.har[i], env) {
				if err := fn(uint64(i), &f.har[i]); err != nil {
					return len(f.har), err
				}
			}
		}
		return len(f.har), nil
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
// session no longer holds it (evicted meanwhile by its writer).
func (f *recordingFile) load(key uint64) (x record.Exchange, ok bool, err error) {
	if f.store == nil {
		if key >= uint64(len(f.har)) {
			return x, false, fmt.Errorf("%s: no entry %d", f.path, key)
		}
		return f.har[key], true, nil
	}
	x, err = f.store.Load(key)
	if errors.Is(err, session.ErrNotFound) {
		return x, false, nil
	}
	return x, err == nil, err
}
