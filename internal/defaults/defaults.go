// Package defaults supplies what a component uses when its options leave
// it out: a logger that discards, and the wall clock in UTC. Every
// constructor that takes an optional logger or clock defaults them here, so
// "no logger" and "no clock" mean the same everywhere.
package defaults

import (
	"log/slog"
	"time"
)

// Logger returns l, or a logger that discards everything when l is nil.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Clock returns now, or Now when now is nil.
func Clock(now func() time.Time) func() time.Time {
	if now == nil {
		return Now
	}
	return now
}

// Now is the wall clock in UTC, the time every stored timestamp is in.
func Now() time.Time { return time.Now().UTC() }
