package trigger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moments-cs/moments/internal/defaults"
	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/store"
)

// Launcher launches playbook runs, exactly once per (account, moment,
// occurrence); *playbook.Engine is one.
type Launcher interface {
	LaunchTx(ctx context.Context, tx *sql.Tx, r playbook.RunRequest) (runID string, started bool, err error)
	Launch(ctx context.Context, r playbook.RunRequest) (runID string, started bool, err error)
}

// Options configure an Engine.
type Options struct {
	Store    *store.Store
	Journey  *journey.Live
	Launcher Launcher
	Logger   *slog.Logger
	// Now is the clock; default time.Now (UTC).
	Now func() time.Time
	// TickEvery is how often Run evaluates scheduled triggers; default one
	// minute.
	TickEvery time.Duration
	// MaxEventAge, when positive: an event whose timestamp is older than
	// this when it arrives starts no moment. Set it when replaying history
	// (a Segment replay, a backfill): old events then update accounts,
	// health and reports, but a CSM does not wake up to tasks for last
	// year's kickoffs. Zero (the default) starts moments for events of any
	// age.
	MaxEventAge time.Duration
}

// Engine detects moments and starts their runs.
type Engine struct {
	// maxAge is Options.MaxEventAge.
	maxAge   time.Duration
	st       *store.Store
	live     *journey.Live
	launcher atomic.Pointer[Launcher]
	log      *slog.Logger
	now      func() time.Time
	every    time.Duration

	mu    sync.Mutex
	cache *compiled

	watchMu   sync.Mutex
	watched   map[string]bool
	watchedAt time.Time

	rulesMu      sync.Mutex
	rules        map[string][]*listener // account id → personal rules
	rulesVersion int64
	rulesAt      time.Time
	// firedRules remembers condition-only personal rules that already
	// have their one run, so they are not evaluated again.
	firedRules sync.Map

	tickMu sync.Mutex

	// runMu guards the background ticks started by Start.
	runMu     sync.Mutex
	stopTicks context.CancelFunc
	ticksDone chan struct{}

	evaluations atomic.Int64
	fired       atomic.Int64
}

// New builds an Engine. Register its OnIngest with the store (internal/app
// does, as one stage of the ingest pipeline) and call Start (or Tick) for
// scheduled triggers.
func New(o Options) *Engine {
	e := &Engine{st: o.Store, live: o.Journey, log: o.Logger, now: o.Now, every: o.TickEvery, maxAge: o.MaxEventAge}
	e.log, e.now = defaults.Logger(e.log), defaults.Clock(e.now)
	if e.every <= 0 {
		e.every = time.Minute
	}
	if o.Launcher != nil {
		e.SetLauncher(o.Launcher)
	}
	return e
}

// ErrNoStarter means no playbook engine is connected yet.
var ErrNoStarter = errors.New("the playbook engine is not running on this server, so moments cannot start")

// SetLauncher connects the playbook engine that starts runs, when it is
// built after the trigger engine (whose ingest hook must be registered
// early, right after health's). Until then moments are detected and
// logged, not started, and the manual and broadcast starts fail with
// ErrNoStarter.
func (e *Engine) SetLauncher(s Launcher) { e.launcher.Store(&s) }

func (e *Engine) launcherOf() (Launcher, error) {
	p := e.launcher.Load()
	if p == nil || *p == nil {
		return nil, ErrNoStarter
	}
	return *p, nil
}

// Stats are counters for tests and metrics.
type Stats struct {
	// Evaluations counts trigger conditions evaluated (a listener whose
	// trigger has no condition counts too: it was considered).
	Evaluations int64
	// Fired counts runs started (not counting occurrences that already
	// had their run).
	Fired int64
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	return Stats{Evaluations: e.evaluations.Load(), Fired: e.fired.Load()}
}

// current returns the compiled triggers of the live map, compiling each
// version once; nil when no map was applied.
func (e *Engine) current(ctx context.Context) (*compiled, error) {
	m, v, err := e.live.Get(ctx)
	if errors.Is(err, journey.ErrNoMap) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cache != nil && e.cache.version == v {
		return e.cache, nil
	}
	c := compile(m, v)
	for _, p := range c.problems {
		e.log.Warn("trigger skipped: its condition does not compile", "map_version", v, "problem", p)
	}
	e.cache = c
	return c, nil
}

// eval evaluates a listener's condition; a condition that cannot be
// evaluated (a missing key, the cost limit) does not hold.
func (e *Engine) eval(ctx context.Context, p *rules.Program, vars rules.Vars, momentID string) bool {
	e.evaluations.Add(1)
	if p == nil {
		return true
	}
	ok, err := p.Eval(ctx, vars)
	if err != nil {
		if !errors.Is(err, rules.ErrMissingKey) {
			e.log.Warn("trigger condition could not be evaluated; treated as false", "moment", momentID,
				"condition", p.Expr(), "err", err)
		}
		return false
	}
	return ok
}

// start starts one run in tx; a request the playbook engine refuses as
// invalid is logged and skipped, so one bad moment cannot block ingestion.
func (e *Engine) start(ctx context.Context, tx *sql.Tx, r playbook.RunRequest) (string, bool, error) {
	st, err := e.launcherOf()
	if err != nil {
		// Only while an installation is assembled without playbooks (a
		// tool, a test of another component): failing ingestion there
		// would refuse every event that matches a moment.
		e.log.Warn("moment detected but not started: no playbook engine", "account", r.AccountID, "moment", r.MomentID,
			"occurrence", r.Occurrence)
		return "", false, nil
	}
	id, started, err := st.LaunchTx(ctx, tx, r)
	if err != nil {
		if errors.Is(err, playbook.ErrInvalidRequest) {
			e.log.Warn("run not started: the playbook engine refused it", "account", r.AccountID, "moment", r.MomentID,
				"occurrence", r.Occurrence, "err", err)
			return "", false, nil
		}
		return "", false, fmt.Errorf("start moment %q for account %q: %w", r.MomentID, r.AccountID, err)
	}
	if started {
		e.fired.Add(1)
		e.log.Debug("moment started", "account", r.AccountID, "moment", r.MomentID, "occurrence", r.Occurrence, "run", id)
	}
	return id, started, nil
}

// accountVars are the `account` variable: the traits plus id.
func accountVars(a store.Account) map[string]any {
	v := make(map[string]any, len(a.Traits)+2)
	for k, x := range a.Traits {
		v[k] = x
	}
	v["id"] = a.ID
	if _, ok := v["name"]; !ok {
		v["name"] = a.Name
	}
	return v
}

// contactVars are the `contact` variable: the traits plus id.
func contactVars(c store.Contact) map[string]any {
	v := make(map[string]any, len(c.Traits)+2)
	for k, x := range c.Traits {
		v[k] = x
	}
	v["id"] = c.ID
	v["account_id"] = c.AccountID
	return v
}

// eventVars are the `event` variable.
func eventVars(ev *store.Event) map[string]any {
	v := map[string]any{
		"id": ev.ID, "message_id": ev.MessageID, "name": ev.Name, "type": ev.Type,
		"user_id": ev.UserID, "anonymous_id": ev.AnonymousID, "account_id": ev.AccountID,
		"timestamp": ev.Timestamp, "received_at": ev.ReceivedAt,
	}
	v["properties"] = rawObject(ev.Properties)
	v["context"] = rawObject(ev.Context)
	return v
}

func rawObject(raw json.RawMessage) map[string]any {
	m := map[string]any{}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &m)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m
}

// traitText renders a trait value as text, as the accounts table does.
func traitText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	}
	return ""
}

// traitDate renders a date trait as YYYY-MM-DD, "" when it is not a date.
func traitDate(v any) string {
	s, ok := v.(string)
	if !ok {
		return ""
	}
	d, ok := store.ParseDate(s)
	if !ok {
		return ""
	}
	return d.Format(time.DateOnly)
}

// healthOf reads an account's stored health (internal/health/tracker
// keeps it, in the ingestion transaction before this hook runs); ok is
// false for an account not scored yet, whose `health` is an empty map.
func (e *Engine) healthOf(ctx context.Context, q store.Querier, account string) (store.AccountHealth, bool, error) {
	var (
		h   store.AccountHealth
		err error
	)
	if tx, isTx := q.(*sql.Tx); isTx {
		h, err = e.st.AccountHealthTx(ctx, tx, account)
	} else {
		h, err = e.st.AccountHealth(ctx, account)
	}
	if errors.Is(err, store.ErrNotFound) {
		return h, false, nil
	}
	return h, err == nil, err
}

// healthVars is the `health` variable of an account.
func (e *Engine) healthVars(ctx context.Context, q store.Querier, account string, now time.Time) (map[string]any, error) {
	h, ok, err := e.healthOf(ctx, q, account)
	if err != nil || !ok {
		return nil, err
	}
	return health.Vars(h, now), nil
}
