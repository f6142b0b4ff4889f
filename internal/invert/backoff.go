package invert

import (
	"math/rand/v2"
	"time"
)

// backoff yields exponentially growing waits with jitter.
type backoff struct {
	min, max time.Duration
	jitter   float64 // e.g. 0.1 for ±10 %
	next     time.Duration
}

func newBackoff(minWait, maxWait time.Duration, jitter float64) *backoff {
	return &backoff{min: minWait, max: maxWait, jitter: jitter, next: minWait}
}

// Next returns the wait before the next attempt and doubles it up to max.
func (b *backoff) Next() time.Duration {
	d := b.next
	b.next = min(b.next*2, b.max)
	if b.jitter > 0 {
		f := 1 + b.jitter*(2*rand.Float64()-1)
		d = time.Duration(float64(d) * f)
	}
	return d
}

// Reset starts over from the smallest wait.
func (b *backoff) Reset() { b.next = b.min }
