package invert

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// servePanic runs pool.serve and returns what it panicked with, if anything.
func servePanic(p *handlerPool, h http.HandlerFunc) (v any) {
	defer func() { v = recover() }()
	p.serve(h, httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	return nil
}

func TestHandlerPool(t *testing.T) {
	p := newHandlerPool()
	t.Cleanup(p.close)

	t.Run("serves and reuses workers", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := httptest.NewRecorder()
				p.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-N", r.URL.Query().Get("n"))
				}), w, httptest.NewRequest(http.MethodGet, "/?n="+strings.Repeat("x", i), nil))
				if got := w.Header().Get("X-N"); got != strings.Repeat("x", i) {
					t.Errorf("request %d: the handler saw %q", i, got)
				}
			}()
		}
		wg.Wait()
		if n := p.idle.Load(); n < 1 || n > maxIdleHandlers {
			t.Errorf("%d idle workers after the requests", n)
		}
	})

	t.Run("ErrAbortHandler reaches the server as is", func(t *testing.T) {
		v := servePanic(p, func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
		if v != http.ErrAbortHandler {
			t.Errorf("panicked with %v, want http.ErrAbortHandler", v)
		}
	})

	t.Run("other panics keep the handler's stack", func(t *testing.T) {
		v := servePanic(p, func(http.ResponseWriter, *http.Request) { panic("boom") })
		s, _ := v.(string)
		if !strings.HasPrefix(s, "boom") || !strings.Contains(s, "TestHandlerPool") {
			t.Errorf("panicked with %q, want boom and the handler's stack", s)
		}
	})

	t.Run("Goexit ends the stream's goroutine", func(t *testing.T) {
		returned := make(chan bool, 1)
		go func() {
			defer func() { returned <- recover() == nil }()
			p.serve(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { runtime.Goexit() }),
				httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			t.Error("serve returned after the handler called runtime.Goexit")
		}()
		if !<-returned {
			t.Error("serve panicked after the handler called runtime.Goexit")
		}
	})

	t.Run("still serves after panics", func(t *testing.T) {
		if v := servePanic(p, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }); v != nil {
			t.Errorf("panicked with %v", v)
		}
	})
}
