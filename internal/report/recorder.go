package report

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

// Recorder is the moment analytics ingest stage: it keeps the aggregates
// the reports read (store.RecordAnalyticsTx), watching the event names the
// live journey map measures from the first batch after the map names them.
type Recorder struct {
	st   *store.Store
	live *journey.Live
	log  *slog.Logger

	mu      sync.Mutex
	version int
	names   []string
}

// NewRecorder returns the stage over the store and the live map; log may be
// nil.
func NewRecorder(st *store.Store, live *journey.Live, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{st: st, live: live, log: log}
}

// OnIngest is the store.IngestHook of the stage.
func (r *Recorder) OnIngest(ctx context.Context, tx *sql.Tx, events []store.Event) error {
	return r.st.RecordAnalyticsTx(ctx, tx, events, r.measured(ctx))
}

// measured returns the names the live map measures, computed once per map
// version. Without a readable map it returns the last names known: the
// events of names already watched are still copied.
func (r *Recorder) measured(ctx context.Context) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live == nil {
		return r.names
	}
	m, v, err := r.live.Get(ctx)
	switch {
	case errors.Is(err, journey.ErrNoMap):
		return r.names
	case err != nil:
		r.log.WarnContext(ctx, "moment analytics: the live journey map could not be read; new names wait for the next batch", "err", err)
		return r.names
	}
	if v != r.version {
		r.version, r.names = v, MeasuredNames(m)
	}
	return r.names
}
