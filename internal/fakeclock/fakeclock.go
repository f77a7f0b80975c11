// Package fakeclock is a clock for tests: it stands still until the test
// moves it, so what a test sees does not depend on when or how fast it
// runs. Pass its Now wherever a component takes a clock (Options.Now).
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a fake clock, safe for concurrent use. It always reads in UTC.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock standing at t.
func New(t time.Time) *Clock { return &Clock{t: t.UTC()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t, forwards or back.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t.UTC()
}

// Advance moves the clock d forwards (backwards when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
