package trigger

import (
	"sync"
	"time"
)

// evalLogEvery is how often one moment's failing condition is logged: a
// condition that fails on every event would otherwise write a log line,
// with its whole text, per event.
const evalLogEvery = time.Minute

// maxLoggedCondition bounds the condition text in a log line.
const maxLoggedCondition = 120

// evalFailures throttles the log of conditions that cannot be evaluated,
// per moment, counting the failures it did not log.
type evalFailures struct {
	mu   sync.Mutex
	last map[string]time.Time
	// quiet counts the failures since the last logged one, per moment.
	quiet map[string]int
}

// note records a failure of moment's condition at now and reports whether
// to log it, with how many failures went unlogged since the last line.
func (f *evalFailures) note(moment string, now time.Time) (log bool, unlogged int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last, f.quiet = map[string]time.Time{}, map[string]int{}
	}
	if t, ok := f.last[moment]; ok && now.Sub(t) < evalLogEvery {
		f.quiet[moment]++
		return false, 0
	}
	unlogged = f.quiet[moment]
	f.last[moment], f.quiet[moment] = now, 0
	return true, unlogged
}

// shortCondition cuts a condition for a log line.
func shortCondition(expr string) string {
	if r := []rune(expr); len(r) > maxLoggedCondition {
		return string(r[:maxLoggedCondition]) + "…"
	}
	return expr
}
