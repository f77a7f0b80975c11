package journey

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/moments-cs/moments/internal/store"
)

// ErrNoMap means no journey map was ever applied.
var ErrNoMap = errors.New("no journey map has been applied yet: run `moments map apply examples/b2b-saas.yaml`")

// Live is the installation's live journey map and its history, stored in
// the database. Every component that acts on the map (triggers, playbooks,
// health, reports, the UI) reads it through Live, so a new version takes
// effect everywhere within refreshEvery, on every server process.
type Live struct {
	st *store.Store
	mu sync.Mutex
	// versions caches parsed versions by number; a version never changes.
	versions map[int]*Map
	live     int
	checked  time.Time
	now      func() time.Time
}

// refreshEvery is how often Get asks the database whether a newer version
// was applied (possibly by another process).
const refreshEvery = 2 * time.Second

// NewLive returns the live map of st.
func NewLive(st *store.Store) *Live {
	return &Live{st: st, versions: map[int]*Map{}, now: time.Now}
}

// Get returns the live map (as applied, without defaults) and its version.
func (l *Live) Get(ctx context.Context) (*Map, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live == 0 || l.now().Sub(l.checked) > refreshEvery {
		n, err := l.st.LiveJourneyNumber(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("read the live journey map: %w", err)
		}
		l.live, l.checked = n, l.now()
	}
	if l.live == 0 {
		return nil, 0, ErrNoMap
	}
	m, err := l.versionLocked(ctx, l.live)
	return m, l.live, err
}

// Version returns version n: runs keep the version they started with.
func (l *Live) Version(ctx context.Context, n int) (*Map, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.versionLocked(ctx, n)
}

func (l *Live) versionLocked(ctx context.Context, n int) (*Map, error) {
	if m, ok := l.versions[n]; ok {
		return m, nil
	}
	v, err := l.st.JourneyVersionByNumber(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("read journey map version %d: %w", n, err)
	}
	m, diags := Parse(fmt.Sprintf("version %d", n), v.Content)
	if HasErrors(diags) {
		return nil, fmt.Errorf("stored journey map version %d does not parse: %s", n, diags[0])
	}
	l.versions[n] = m
	return m, nil
}

// ApplyResult says what an apply did.
type ApplyResult struct {
	// Version is the live version after the apply.
	Version int `json:"version"`
	// Changed is false when the content was identical to the live version.
	Changed bool `json:"changed"`
	// Changes lists what changed against the previous live version.
	Changes []Change `json:"changes"`
	// Diagnostics are the lint findings; with errors nothing was applied.
	Diagnostics []Diagnostic `json:"diagnostics"`
}

// Apply lints data and, when it has no errors, stores it as the next
// version atomically; identical content creates no version.
func (l *Live) Apply(ctx context.Context, filename string, data []byte, by string) (ApplyResult, error) {
	m, diags := Lint(filename, data)
	res := ApplyResult{Diagnostics: diags}
	if HasErrors(diags) {
		return res, nil
	}
	return l.applyMap(ctx, m, filename, by, res)
}

// Preview reports what applying data would change, without applying it.
func (l *Live) Preview(ctx context.Context, filename string, data []byte) (ApplyResult, error) {
	m, diags := Lint(filename, data)
	res := ApplyResult{Diagnostics: diags}
	if HasErrors(diags) {
		return res, nil
	}
	old, n, err := l.Get(ctx)
	if err != nil && !errors.Is(err, ErrNoMap) {
		return res, err
	}
	res.Version = n
	res.Changes = Diff(old, m)
	res.Changed = old == nil || Hash(old) != Hash(m)
	return res, nil
}

func (l *Live) applyMap(ctx context.Context, m *Map, source, by string, res ApplyResult) (ApplyResult, error) {
	content, err := Marshal(m)
	if err != nil {
		return res, err
	}
	old, _, err := l.Get(ctx)
	if err != nil && !errors.Is(err, ErrNoMap) {
		return res, err
	}
	v, created, err := l.st.SaveJourneyVersion(ctx, store.JourneyVersion{
		Hash: Hash(m), Content: content, Source: source, AppliedBy: by, AppliedAt: l.now().UTC(),
	})
	if err != nil {
		return res, err
	}
	res.Version, res.Changed = v.Number, created
	if created {
		res.Changes = Diff(old, m)
		l.mu.Lock()
		l.live, l.checked = v.Number, l.now()
		l.mu.Unlock()
	}
	return res, nil
}
