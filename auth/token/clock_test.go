package token

import (
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test advances; After channels fire when it
// passes their deadline.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// Advance moves time on and fires the due channels.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// waitWaiting blocks until someone waits on the clock (the loop is idle).
func (c *fakeClock) waitWaiting(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(catchHang)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		n := len(c.waiters)
		c.mu.Unlock()
		if n > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the refresh loop never waited on the clock")
}

// nextDeadline is how far away the earliest waiter is.
func (c *fakeClock) nextDeadline() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d time.Duration = -1
	for _, w := range c.waiters {
		if x := w.at.Sub(c.now); d < 0 || x < d {
			d = x
		}
	}
	return d
}

// makeJWT builds a compact JWS with the given claims (signature not valid:
// esgate does not verify it).
func makeJWT(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln"
}
