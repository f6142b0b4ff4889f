package limit

import (
	"container/list"
	"sync"

	"golang.org/x/time/rate"
)

// clients holds a bucket per client key, at most max of them; the least
// recently used is dropped to make room.
type clients struct {
	mu     sync.Mutex
	max    int
	order  list.List // of *client, most recently used first
	byKey  map[string]*list.Element
	bucket func() *rate.Limiter
}

type client struct {
	key string
	b   *rate.Limiter
}

func newClients(max int, bucket func() *rate.Limiter) *clients {
	return &clients{max: max, byKey: make(map[string]*list.Element), bucket: bucket}
}

// get returns key's bucket, making a full one for a key it does not hold.
func (c *clients) get(key string) *rate.Limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*client).b
	}
	if c.order.Len() >= c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*client).key)
	}
	cl := &client{key: key, b: c.bucket()}
	c.byKey[key] = c.order.PushFront(cl)
	return cl.b
}

// len is how many clients have a bucket.
func (c *clients) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
