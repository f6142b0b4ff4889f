package route

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// checker runs the active health checks of one pool.
type checker struct {
	pool     *Pool
	client   *http.Client
	path     *url.URL // path and query to request
	interval time.Duration
	timeout  time.Duration
	expect   statusSet
	expectS  string
}

func newChecker(p *Pool, h HealthSpec, client *http.Client) (*checker, error) {
	c := &checker{pool: p, client: client, interval: h.Interval, timeout: h.Timeout, expectS: h.Expect}
	if c.interval == 0 {
		c.interval = DefaultHealthInterval
	}
	if c.timeout == 0 {
		c.timeout = min(DefaultHealthTimeout, c.interval)
	}
	if c.expectS == "" {
		c.expectS = "2xx"
	}
	var err error
	if c.expect, err = parseStatus(c.expectS); err != nil {
		return nil, fmt.Errorf("health.expect: %w", err)
	}
	path := h.Path
	if path == "" {
		path = "/"
	}
	if c.path, err = url.Parse(path); err != nil || c.path.Host != "" {
		return nil, fmt.Errorf("health.path: %q is not a path", h.Path)
	}
	return c, nil
}

// start checks every member of the pool at once and then every interval,
// each in its own goroutine, until ctx ends.
func (c *checker) start(ctx context.Context, wg *sync.WaitGroup) {
	for _, m := range c.pool.Members() {
		wg.Go(func() {
			t := time.NewTicker(c.interval)
			defer t.Stop()
			for {
				ok, reason := c.check(ctx, m)
				if ctx.Err() != nil {
					return
				}
				c.pool.setActive(m, ok, reason)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
}

// check sends one health check to m: a GET of the health path, without the
// route, its stages or the recorder.
func (c *checker) check(ctx context.Context, m *Member) (ok bool, reason string) {
	u := *m.URL
	u.Path = strings.TrimSuffix(u.Path, "/") + c.path.Path
	u.RawPath = ""
	u.RawQuery = c.path.RawQuery
	what := "GET " + c.path.RequestURI()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, what + ": " + err.Error()
	}
	req.Header.Set("User-Agent", "devproxy-health-check")
	res, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return false, fmt.Sprintf("%s: no answer within %v", what, c.timeout)
		}
		return false, what + ": " + shortErr(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	if !c.expect.has(res.StatusCode) {
		return false, fmt.Sprintf("%s: %s (expected %s)", what, res.Status, c.expectS)
	}
	return true, what + ": " + res.Status
}
