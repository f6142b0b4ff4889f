package regstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// FileName is the registry file inside a relay's state directory.
const FileName = "backends.json"

// FileStore keeps the registry in one JSON file (FileName) in a state
// directory, rewritten atomically on every change, or in memory only. It
// is the store of a single relay: it assumes no other process writes the
// file while it is open, so Load returns what it read at open plus its own
// changes, and Changes is nil.
type FileStore struct {
	mu    sync.Mutex
	path  string // "" keeps everything in memory
	state State
}

var _ Store = (*FileStore)(nil)

// fileState is the file's form (version 1, the format relays have always
// written; older files read as they are).
type fileState struct {
	Version   int          `json:"version"`
	AdminHash string       `json:"adminTokenSha256,omitempty"`
	Backends  []fileRecord `json:"backends"`
}

type fileRecord struct {
	ID                string    `json:"id"`
	PathPrefixes      []string  `json:"pathPrefixes"`
	Hosts             []string  `json:"hosts,omitempty"`
	AgentAuth         string    `json:"agentAuth,omitempty"`
	Created           time.Time `json:"created"`
	AccessPublic      bool      `json:"accessPublic"`
	AccessTokenHashes []string  `json:"accessTokenSha256,omitempty"`
	AgentTokenHashes  []string  `json:"agentTokenSha256,omitempty"`
	Rules             []string  `json:"rules,omitempty"`
}

// fileVersion is the newest file format this package writes and reads.
const fileVersion = 1

// OpenFile opens the registry file in dir, creating dir if missing; the
// file itself is written on the first change. An empty dir keeps the
// registry in memory only. A corrupt file is an error naming it; it is
// never silently replaced.
func OpenFile(dir string) (*FileStore, error) {
	s := &FileStore{}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("relay state dir %s: %w", dir, err)
	}
	s.path = filepath.Join(dir, FileName)
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("relay state %s: %w", s.path, err)
	}
	var st fileState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("relay state %s is corrupt (%v); fix or move the file away (backends and the admin token would have to be registered again)", s.path, err)
	}
	if st.Version > fileVersion {
		return nil, fmt.Errorf("relay state %s has format version %d, newer than this devproxy reads (%d); upgrade devproxy", s.path, st.Version, fileVersion)
	}
	s.state.AdminHash = st.AdminHash
	for _, fr := range st.Backends {
		s.state.Backends = append(s.state.Backends, Record(fr).clone())
	}
	sortRecords(s.state.Backends)
	return s, nil
}

// String is the file's path, or "the relay's memory" without one.
func (s *FileStore) String() string {
	if s.path == "" {
		return "the relay's memory"
	}
	return "relay state " + s.path
}

// Path is the registry file ("" in memory).
func (s *FileStore) Path() string { return s.path }

// Load returns the registry as read at open and changed since.
func (s *FileStore) Load(context.Context) (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneState(s.state), nil
}

// InitAdminHash sets the admin hash if none is set and returns the stored one.
func (s *FileStore) InitAdminHash(_ context.Context, hash string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.AdminHash != "" {
		return s.state.AdminHash, nil
	}
	if err := s.changeLocked(func(st *State) error { st.AdminHash = hash; return nil }); err != nil {
		return "", err
	}
	return hash, nil
}

// SetAdminHash replaces the admin hash.
func (s *FileStore) SetAdminHash(_ context.Context, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changeLocked(func(st *State) error { st.AdminHash = hash; return nil })
}

// Create adds a backend.
func (s *FileStore) Create(_ context.Context, r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changeLocked(func(st *State) error {
		if indexOf(st.Backends, r.ID) >= 0 {
			return ErrExists
		}
		st.Backends = append(st.Backends, r.clone())
		sortRecords(st.Backends)
		return nil
	})
}

// Update replaces a backend.
func (s *FileStore) Update(_ context.Context, r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changeLocked(func(st *State) error {
		i := indexOf(st.Backends, r.ID)
		if i < 0 {
			return ErrNotFound
		}
		st.Backends[i] = r.clone()
		return nil
	})
}

// Delete removes a backend.
func (s *FileStore) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changeLocked(func(st *State) error {
		i := indexOf(st.Backends, id)
		if i < 0 {
			return ErrNotFound
		}
		st.Backends = slices.Delete(st.Backends, i, i+1)
		return nil
	})
}

// Changes is nil: nothing else writes the file.
func (s *FileStore) Changes() <-chan struct{} { return nil }

// Heartbeat does nothing: a file store serves one relay.
func (s *FileStore) Heartbeat(context.Context, Member) error { return nil }

// Members is nil: a file store knows no fleet.
func (s *FileStore) Members(context.Context, time.Duration) ([]Member, error) { return nil, nil }

// Leave does nothing.
func (s *FileStore) Leave(context.Context, string) error { return nil }

// Close does nothing: every change is on disk when its call returns.
func (s *FileStore) Close() error { return nil }

// changeLocked applies change to a copy of the state and writes it; the
// store keeps the old state when either fails. Callers hold s.mu.
func (s *FileStore) changeLocked(change func(*State) error) error {
	next := cloneState(s.state)
	if err := change(&next); err != nil {
		return err
	}
	if err := s.write(next); err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	s.state = next
	return nil
}

// write saves st atomically (nothing in memory-only mode).
func (s *FileStore) write(st State) error {
	if s.path == "" {
		return nil
	}
	fst := fileState{Version: fileVersion, AdminHash: st.AdminHash, Backends: []fileRecord{}}
	for _, r := range st.Backends {
		fst.Backends = append(fst.Backends, fileRecord(r))
	}
	data, err := json.MarshalIndent(fst, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, append(data, '\n'), 0o600)
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so readers see the old file or the new one.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func cloneState(st State) State {
	out := State{AdminHash: st.AdminHash}
	for _, r := range st.Backends {
		out.Backends = append(out.Backends, r.clone())
	}
	return out
}

func indexOf(rs []Record, id string) int {
	return slices.IndexFunc(rs, func(r Record) bool { return r.ID == id })
}

func sortRecords(rs []Record) {
	slices.SortFunc(rs, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
}
