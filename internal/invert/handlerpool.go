package invert

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// handlerPool runs the agent's handler for HTTP/2 streams on goroutines
// that outlive a request. Go's HTTP/2 server starts a goroutine per stream,
// whose stack starts small and is copied each time it doubles on its way to
// the depth of the proxy engine and its transport: 7 % of the agent's CPU
// with 1 KiB responses (an HTTP/1.1 server keeps one goroutine, and its
// stack, per connection). A pooled goroutine keeps its stack from one
// request to the next (the garbage collector shrinks an idle one's).
//
// The stream's goroutine waits while a worker serves it, so the handler
// sees the ResponseWriter and Request as usual; a panic in the handler
// (http.ErrAbortHandler among them) is raised again on the stream's
// goroutine, where the server handles it.
type handlerPool struct {
	jobs   chan *handlerJob // unbuffered: a send succeeds when a worker waits
	idle   atomic.Int32     // workers waiting on jobs
	closed chan struct{}
	once   sync.Once
}

// maxIdleHandlers is how many workers wait for the next request; more are
// started when more requests run at once, and those leave when done.
const maxIdleHandlers = 256

func newHandlerPool() *handlerPool {
	return &handlerPool{jobs: make(chan *handlerJob), closed: make(chan struct{})}
}

type handlerJob struct {
	h    http.Handler
	w    http.ResponseWriter
	r    *http.Request
	done chan handlerEnd
}

// handlerEnd is how a handler ended: returned (nothing set), panicked
// (panicked and value), or called runtime.Goexit (goexit).
type handlerEnd struct {
	panicked bool
	value    any
	goexit   bool
}

var handlerJobs = sync.Pool{New: func() any { return &handlerJob{done: make(chan handlerEnd, 1)} }}

// serve runs h.ServeHTTP(w, r) on a worker and returns when it does.
func (p *handlerPool) serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	j := handlerJobs.Get().(*handlerJob)
	j.h, j.w, j.r = h, w, r
	select {
	case p.jobs <- j:
	default:
		go p.work(j)
	}
	end := <-j.done
	j.h, j.w, j.r = nil, nil, nil
	handlerJobs.Put(j)
	switch {
	case end.goexit:
		runtime.Goexit()
	case end.panicked:
		panic(end.value)
	}
}

// work runs j, then the jobs that come while it waits, until there are
// enough idle workers or the pool closes.
func (p *handlerPool) work(j *handlerJob) {
	for {
		if !j.run() {
			return // the handler called runtime.Goexit; so does this goroutine
		}
		if p.idle.Add(1) > maxIdleHandlers {
			p.idle.Add(-1)
			return
		}
		select {
		case j = <-p.jobs:
			p.idle.Add(-1)
		case <-p.closed:
			p.idle.Add(-1)
			return
		}
	}
}

// run serves the job and reports how it ended; false when the handler
// called runtime.Goexit (the worker then exits with it).
func (j *handlerJob) run() (ok bool) {
	returned := false
	defer func() {
		if returned {
			j.done <- handlerEnd{}
			return
		}
		v := recover()
		if v == nil {
			j.done <- handlerEnd{goexit: true}
			return
		}
		if v != http.ErrAbortHandler {
			// The stream's goroutine raises it again and the server logs
			// its own stack: keep the handler's.
			v = fmt.Sprintf("%v\n\nhandler goroutine:\n%s", v, debug.Stack())
		}
		j.done <- handlerEnd{panicked: true, value: v}
		ok = true
	}()
	j.h.ServeHTTP(j.w, j.r)
	returned = true
	return true
}

// close lets the idle workers go.
func (p *handlerPool) close() { p.once.Do(func() { close(p.closed) }) }
