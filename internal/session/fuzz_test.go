package session

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen opens damaged session files: any bytes, and a valid session
// with bytes changed. Open must fail with an error or give a store whose
// reads fail with errors; nothing may panic.
func FuzzOpen(f *testing.F) {
	valid := validSession(f)
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte("SQLite format 3\x00"))
	f.Add(valid[:len(valid)/2])
	for _, at := range []int{18, 19, 60, 100, 4096, 8192 + 100, len(valid) - 200} {
		if at < len(valid) {
			b := append([]byte(nil), valid...)
			b[at] ^= 0xff
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "s.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{true, false} {
			s, err := Open(path, Options{ReadOnly: ro})
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error")
				}
				continue
			}
			exercise(s)
			s.Offer(exchange(99, []byte("after")))
			s.Flush()
			s.Close()
		}
	})
}

// exercise reads everything a viewer would.
func exercise(s *Store) {
	s.Count()
	s.MaxID()
	xs, _ := s.Range(0, 100)
	for _, x := range xs {
		s.Get(x.ID)
		s.Body(x.ID, RequestBody)
		s.Body(x.ID, ResponseBody)
		s.Messages(x.ID)
		s.Load(x.ID)
	}
	s.Search("hello", 10)
}

// validSession is the bytes of a small closed session file.
func validSession(f *testing.F) []byte {
	path := filepath.Join(f.TempDir(), "seed.db")
	s, err := Open(path, Options{})
	if err != nil {
		f.Fatal(err)
	}
	x := rich(1, 100, ChunkSize+10)
	x.Response.Body.Bytes = append([]byte("hello "), x.Response.Body.Bytes...)
	s.Offer(x)
	s.Offer(exchange(2, []byte("hello world")))
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
