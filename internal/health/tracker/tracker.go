// Package tracker keeps every account's health and success path state in
// the store up to date, on top of the pure scoring of internal/health and
// internal/paths:
//
//   - incrementally, in the ingestion transaction (OnIngest): per account
//     touched by a batch, one read of its state, the batch's events applied
//     to its aggregate, milestones detected and recorded, the account
//     rescored, and one write of its state and today's trend row;
//   - in full, on a schedule (Start) or on demand (Recompute): every
//     account's aggregate rebuilt from its stored events, which gives the
//     same answer as the incremental updates (Apply is commutative), and
//     every account rescored, so that scores decay on days without events.
//
// It also computes the live views the API shows (Account, Path).
package tracker

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moments-cs/moments/internal/defaults"
	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/paths"
	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
)

// ContractStartTrait is the account trait holding the contract start date
// (2006-01-02 or RFC 3339): milestones are due relative to it, and time to
// value and time to implementation are measured from it.
const ContractStartTrait = "contract_start"

// TrendDays is how many days of daily trend the API shows; TrendRetentionDays
// how many the daily job keeps.
const (
	TrendDays          = 90
	TrendRetentionDays = 100
)

// FallingScoreDays and FallingScorePoints define a falling score: the
// combined score down by at least FallingScorePoints against its value
// FallingScoreDays days earlier.
const (
	FallingScoreDays   = 14
	FallingScorePoints = 10
)

// QuadrantDrop is called, inside the recompute's write transaction, for
// every account whose quadrant became worse (health.Worse) in a recompute or
// daily refresh, where no event is being ingested. Moves caused by ingested
// events are visible to later ingest hooks through
// store.AccountHealthTx (QuadrantMoved, PreviousQuadrant).
type QuadrantDrop func(ctx context.Context, tx *sql.Tx, accountID string, from, to health.Quadrant) error

// Options configure a Tracker.
type Options struct {
	Logger *slog.Logger
	// Now is the clock; default time.Now (UTC).
	Now func() time.Time
	// Every is the period of the scheduled full recompute; default 24 h
	// (once per UTC day). Several server processes on one PostgreSQL
	// database run it once per period between them.
	Every time.Duration
}

// Tracker keeps health state. It is safe for concurrent use.
type Tracker struct {
	st    *store.Store
	live  *journey.Live
	log   *slog.Logger
	now   func() time.Time
	every time.Duration

	mu    sync.Mutex
	model *model
	drops []QuadrantDrop
	memo  memo
	segs  segmentRefs

	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
}

// New returns a tracker of st, reading the health model and success paths
// from live. Register its hook with st.OnIngest(t.OnIngest) before the
// first event is ingested.
func New(st *store.Store, live *journey.Live, o Options) *Tracker {
	t := &Tracker{st: st, live: live, log: o.Logger, now: o.Now, every: o.Every}
	t.log, t.now = defaults.Logger(t.log), defaults.Clock(t.now)
	if t.every <= 0 {
		t.every = 24 * time.Hour
	}
	return t
}

// model is what scoring needs from one version of the live map, with its
// conditions compiled once.
type model struct {
	version int
	health  journey.HealthModel
	paths   []journey.SuccessPath
	// programs holds the compiled path and milestone conditions by their
	// text; a condition that does not compile is absent (never holds).
	programs map[string]*rules.Program
	// milestoneEvents lists the event names any milestone listens to.
	milestoneEvents map[string]bool
	// pathsReadTraitsOnly is set when no path condition reads health or
	// the clock, so an account's path follows from its traits alone and
	// can be remembered while they do not change.
	pathsReadTraitsOnly bool
	// fingerprint names what aggregates built under the model depend on
	// (see fingerprintOf).
	fingerprint string
}

// currentModel returns the model of the live map, or the defaults when no
// map has been applied.
func (t *Tracker) currentModel(ctx context.Context) (*model, error) {
	var (
		m   *journey.Map
		ver int
		err error
	)
	if t.live != nil {
		m, ver, err = t.live.Get(ctx)
		if err != nil && !errors.Is(err, journey.ErrNoMap) {
			return nil, err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.model != nil && t.model.version == ver {
		return t.model, nil
	}
	md := &model{version: ver, health: health.Defaults(journey.HealthModel{}), programs: map[string]*rules.Program{},
		milestoneEvents: map[string]bool{}}
	if m != nil {
		d := m.WithDefaults()
		md.health = health.Defaults(d.Health)
		md.paths = d.SuccessPaths
	}
	compile := func(expr string) {
		if expr == "" {
			return
		}
		if _, ok := md.programs[expr]; ok {
			return
		}
		p, err := rules.Compile(expr)
		if err != nil {
			t.log.Warn("a success path condition does not compile; it never holds until the map is fixed",
				"condition", expr, "err", err)
			return
		}
		md.programs[expr] = p
	}
	md.pathsReadTraitsOnly = true
	for _, p := range md.paths {
		if mentions(p.When, rules.VarHealth) || mentions(p.When, rules.VarNow) {
			md.pathsReadTraitsOnly = false
		}
		compile(p.When)
		for _, ms := range p.Milestones {
			compile(ms.When)
			for _, e := range ms.Events {
				md.milestoneEvents[e] = true
			}
		}
	}
	md.fingerprint = fingerprintOf(md)
	t.model = md
	return md, nil
}

// eval evaluates a compiled condition; one that is missing, fails or reads
// a missing key does not hold.
func (md *model) eval(ctx context.Context, expr string, account, healthVars map[string]any, now time.Time) bool {
	p := md.programs[expr]
	if p == nil {
		return false
	}
	ok, err := p.Eval(ctx, rules.Vars{Account: account, Health: healthVars, Now: now})
	return err == nil && ok
}

// rebuild is one account's aggregate being brought up to date.
type rebuild struct {
	agg *health.Aggregate
	// first is the earliest time (Unix seconds) of each event name that a
	// milestone listens to.
	first map[string]int64
	// backed is the earliest recorded "Milestone Reached" per milestone:
	// a reach no earlier than it needs no new record.
	backed map[string]int64
	// latest is the latest timestamp among the events applied now.
	latest int64

	// Set in a recompute (see base.go): the account, the event id its
	// starting base covers (through) and the one its new base is to cover
	// (settled); dirty says events up to settled were applied since the
	// stored base, snapped that the new base was taken, base is it (nil
	// when the stored one stands).
	account          string
	through, settled int64
	dirty, snapped   bool
	base             *store.HealthBase
	// encoded is agg's JSON while agg is unchanged since it was decoded
	// from a stored base or taken as the new base (nil once it changes), so
	// that finish need not encode it again: most accounts of a daily
	// recompute end with the aggregate of their base.
	encoded []byte
}

// newRebuild starts a rebuild of agg. Its maps are made when first
// written: a recompute holds one rebuild per account.
func newRebuild(agg *health.Aggregate) *rebuild {
	r := &rebuild{agg: agg}
	if len(agg.Milestones) > 0 {
		r.backed = make(map[string]int64, len(agg.Milestones))
		for id, at := range agg.Milestones {
			r.backed[id] = at
		}
	}
	return r
}

func (r *rebuild) apply(md *model, ev health.Event) {
	r.encoded = nil
	r.agg.Apply(ev, md.health)
	if ev.Timestamp.IsZero() || ev.Timestamp.Unix() <= 0 {
		return
	}
	at := ev.Timestamp.Unix()
	switch ev.Type {
	case "track", "page", "screen":
	default:
		return
	}
	r.latest = max(r.latest, at)
	if ev.Name == vocab.EventMilestoneReached {
		if id, _ := ev.Properties["milestone_id"].(string); id != "" {
			if old, ok := r.backed[id]; !ok || at < old {
				if r.backed == nil {
					r.backed = map[string]int64{}
				}
				r.backed[id] = at
			}
		}
		return
	}
	if md.milestoneEvents[ev.Name] {
		if old, ok := r.first[ev.Name]; !ok || at < old {
			if r.first == nil {
				r.first = map[string]int64{}
			}
			r.first[ev.Name] = at
		}
	}
}

// outcome is the result of finishing an account's update.
type outcome struct {
	result   health.Result
	progress *paths.Progress
	path     *journey.SuccessPath
	reaches  []store.MilestoneReach
}

// finish chooses the account's path, detects the milestones reached (by
// events, then by conditions, until nothing more is reached), scores the
// account and fills rec's state for writing. conditionAt is when a
// milestone reached by its condition counts as reached.
func (t *Tracker) finish(ctx context.Context, md *model, in *inputs, r *rebuild, now, conditionAt time.Time) outcome {
	var o outcome
	rec := in.rec
	if in.pathKnown {
		o.path = in.path
	} else {
		var prevVars map[string]any
		o.path = paths.Choose(md.paths, nil, func(expr string, _ map[string]any) (bool, error) {
			if prevVars == nil && mentions(expr, rules.VarHealth) {
				prevVars = health.Vars(rec.AccountHealth, now)
			}
			return md.eval(ctx, expr, in.traitsFor(expr), prevVars, now), nil
		})
	}
	if o.path != nil {
		for _, ms := range o.path.Milestones {
			at := int64(0)
			for _, name := range ms.Events {
				if f, ok := r.first[name]; ok && (at == 0 || f < at) {
					at = f
				}
			}
			if at == 0 {
				continue
			}
			if old, ok := r.agg.Milestones[ms.ID]; !ok || at < old {
				r.encoded = nil
				r.agg.Apply(health.MilestoneEvent(ms.ID, time.Unix(at, 0).UTC()), md.health)
			}
		}
	}

	info := health.AccountInfo{
		Seats:           in.seats,
		ContractStart:   in.start,
		PathProgress:    health.ProgressUnknown,
		SegmentFeatures: in.segmentFeatures,
	}
	for range 1 + maxMilestones(o.path) {
		if o.path != nil {
			p := paths.Compute(*o.path, r.agg.MilestoneTimes(), info.ContractStart, now)
			o.progress = &p
			info.PathProgress = p.Fraction
		}
		o.result = health.Scores(r.agg, info, md.health, now)
		if o.path == nil {
			break
		}
		var vars map[string]any
		reached := false
		for _, ms := range o.path.Milestones {
			if ms.When == "" {
				continue
			}
			if _, ok := r.agg.Milestones[ms.ID]; ok {
				continue
			}
			if vars == nil {
				vars = health.Vars(stateOf(rec.AccountID, o.result, o.progress, o.path, r.agg, md, now), now)
			}
			if md.eval(ctx, ms.When, in.traitsFor(ms.When), vars, now) {
				r.encoded = nil
				r.agg.Apply(health.MilestoneEvent(ms.ID, conditionAt), md.health)
				reached = true
			}
		}
		if !reached {
			break
		}
	}

	// Record every milestone reach not yet backed by a recorded event.
	if o.path != nil {
		names := map[string]string{}
		for _, ms := range o.path.Milestones {
			names[ms.ID] = ms.Name
		}
		for _, ms := range o.path.Milestones {
			at, ok := r.agg.Milestones[ms.ID]
			if !ok {
				continue
			}
			if b, ok := r.backed[ms.ID]; ok && b <= at {
				continue
			}
			o.reaches = append(o.reaches, store.MilestoneReach{AccountID: rec.AccountID, PathID: o.path.ID,
				MilestoneID: ms.ID, Name: names[ms.ID], At: time.Unix(at, 0).UTC()})
			if r.backed == nil {
				r.backed = map[string]int64{}
			}
			r.backed[ms.ID] = at
		}
	}

	// The new state.
	st := stateOf(rec.AccountID, o.result, o.progress, o.path, r.agg, md, now)
	old := rec.AccountHealth
	st.Version = old.Version + 1
	st.PreviousQuadrant, st.QuadrantChangedAt, st.QuadrantVersion = old.PreviousQuadrant, old.QuadrantChangedAt, old.QuadrantVersion
	if rec.Exists && old.Quadrant != st.Quadrant {
		at := now
		st.PreviousQuadrant, st.QuadrantChangedAt, st.QuadrantVersion = old.Quadrant, &at, st.Version
	}
	rec.Recent, st.CombinedBaseline = trackRecent(rec.Recent, st.Combined, now)
	// The trend row of a day is written with the state, so when the state
	// was last written today with these scores, today's row holds them.
	rec.SameTrend = rec.Exists && dayOf(old.UpdatedAt) == dayOf(now) && old.Quadrant == st.Quadrant &&
		sameValue(old.Behavioural, st.Behavioural) && sameValue(old.Emotional, st.Emotional) && sameValue(old.Combined, st.Combined)
	rec.AccountHealth = st
	r.agg.Format = health.AggregateFormat
	if r.encoded != nil {
		rec.Aggregate = r.encoded
		return o
	}
	// Sized from the stored aggregate, which the new one rarely outgrows
	// by much: growing the buffer step by step cost a third of encoding.
	size := max(len(rec.Aggregate), rec.StoredAggregateSize())
	rec.Aggregate = r.agg.AppendJSON(make([]byte, 0, size+size/4+256))
	return o
}

func sameValue(a, b *float64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func maxMilestones(p *journey.SuccessPath) int {
	if p == nil {
		return 0
	}
	return len(p.Milestones)
}

// stateOf turns a score and a path progress into the stored state (without
// the version and quadrant history, which finish fills).
func stateOf(accountID string, res health.Result, prog *paths.Progress, path *journey.SuccessPath, agg *health.Aggregate,
	md *model, now time.Time) store.AccountHealth {
	st := store.AccountHealth{AccountID: accountID, Quadrant: string(res.Quadrant), UpdatedAt: now}
	st.Behavioural, st.Emotional, st.Combined = valuePtr(res.Behavioural), valuePtr(res.Emotional), valuePtr(res.Combined)
	st.UsageDrop, st.UsageLast, st.UsagePrevious = health.UsageDrop(agg, md.health, now)
	if t := agg.LastActivityAt(); !t.IsZero() {
		st.LastActivityAt = &t
	}
	if path != nil && prog != nil {
		st.PathID = path.ID
		f := prog.Fraction
		st.PathProgress = &f
		st.MilestonesReached, st.MilestonesTotal = prog.Reached, prog.Total
		if prog.Next != nil {
			st.NextMilestone, st.NextMilestoneName = prog.Next.ID, prog.Next.Name
			for _, ms := range prog.Milestones {
				if ms.ID == prog.Next.ID && !ms.Due.IsZero() {
					due := ms.Due
					st.NextDueAt = &due
					break
				}
			}
		}
		st.TimeToValue, st.TimeToImplementation = prog.TimeToValue, prog.TimeToImplementation
	}
	return st
}

func valuePtr(v health.Value) *float64 {
	if !v.Known {
		return nil
	}
	f := math.Round(v.Score*100) / 100
	return &f
}

// trackRecent keeps the combined score of each of the last
// FallingScoreDays days ([[day, score], …], oldest first) and returns it
// with the baseline: the score FallingScoreDays days ago, or the oldest
// kept when the account is younger.
func trackRecent(raw []byte, combined *float64, now time.Time) ([]byte, *float64) {
	today := dayOf(now)
	recent, ok := parseRecent(raw)
	if !ok {
		recent = nil
		_ = json.Unmarshal(raw, &recent) // unreadable history only loses the baseline
	}
	kept := recent[:0]
	for _, p := range recent {
		d := int64(p[0])
		if d >= today-FallingScoreDays && d < today {
			kept = append(kept, p)
		}
	}
	var base *float64
	if len(kept) > 0 {
		b := kept[0][1]
		base = &b
	}
	if combined != nil {
		kept = append(kept, [2]float64{float64(today), *combined})
	}
	return appendRecent(make([]byte, 0, 2+len(kept)*20), kept), base
}

// parseRecent reads the [[day, score], …] list that appendRecent writes,
// without encoding/json's reflection (it ran for every account of every
// commit); ok is false for anything else, which encoding/json then reads.
func parseRecent(b []byte) (out [][2]float64, ok bool) {
	if len(b) == 0 {
		return nil, true
	}
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, false
	}
	b = b[1 : len(b)-1]
	for len(b) > 0 {
		if len(out) > 0 {
			if b[0] != ',' {
				return nil, false
			}
			b = b[1:]
		}
		end := bytes.IndexByte(b, ']')
		if len(b) < 2 || b[0] != '[' || end < 0 {
			return nil, false
		}
		day, score, found := bytes.Cut(b[1:end], []byte{','})
		if !found {
			return nil, false
		}
		d, err1 := strconv.ParseFloat(string(day), 64)
		v, err2 := strconv.ParseFloat(string(score), 64)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		out = append(out, [2]float64{d, v})
		b = b[end+1:]
	}
	return out, true
}

// appendRecent writes the list as encoding/json does: numbers in their
// shortest form, without an exponent in the range of days and scores
// (outside it, encoding/json writes the list).
func appendRecent(b []byte, recent [][2]float64) []byte {
	for _, p := range recent {
		if !plain(p[0]) || !plain(p[1]) {
			out, _ := json.Marshal(recent)
			return append(b, out...)
		}
	}
	b = append(b, '[')
	for i, p := range recent {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendFloat(b, p[0], 'f', -1, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, p[1], 'f', -1, 64)
		b = append(b, ']')
	}
	return append(b, ']')
}

// plain reports whether encoding/json writes f without an exponent.
func plain(f float64) bool {
	a := math.Abs(f)
	return a == 0 || (a >= 1e-6 && a < 1e21)
}

func dayOf(t time.Time) int64 { return int64(math.Floor(float64(t.Unix()) / 86400)) }

// seats reads the seats trait as a whole number.
func seats(traits map[string]any, trait string) int {
	switch v := traits[trait].(type) {
	case float64:
		if v > 0 && v < math.MaxInt32 {
			return int(v)
		}
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// contractStart reads the contract start trait, or the zero time.
func contractStart(traits map[string]any) time.Time {
	s, _ := traits[ContractStartTrait].(string)
	if d, ok := store.ParseDate(s); ok {
		return d
	}
	return time.Time{}
}

// healthEvent turns a stored event into the event health scores. The
// properties are decoded only where scoring reads them: survey answers and
// milestones whole, identify calls only for the role trait, other events
// only for a "feature" property.
func healthEvent(typ, name, userID, role string, ts time.Time, props json.RawMessage) health.Event {
	ev := health.Event{Name: name, Type: typ, UserID: userID, ContactRole: role, Timestamp: ts}
	if len(props) == 0 {
		return ev
	}
	if typ == "identify" {
		if bytes.Contains(props, []byte(`"role"`)) {
			var traits map[string]json.RawMessage
			_ = json.Unmarshal(props, &traits) // unreadable traits read as none
			if raw, ok := traits["role"]; ok {
				role := "" // null, or not text: no role
				_ = json.Unmarshal(raw, &role)
				ev.Properties = map[string]any{"role": role}
			}
		}
		return ev
	}
	switch name {
	case vocab.EventSurveyResponded, vocab.EventMilestoneReached:
		var m map[string]any
		if json.Unmarshal(props, &m) == nil {
			ev.Properties = m
		}
	default:
		if bytes.Contains(props, []byte(`"feature"`)) {
			var f struct {
				Feature any `json:"feature"`
			}
			if json.Unmarshal(props, &f) == nil && f.Feature != nil {
				ev.Properties = map[string]any{"feature": f.Feature}
			}
		}
	}
	return ev
}

// loadAggregate reads a stored aggregate; an unreadable one starts afresh
// (the next recompute rebuilds it from the events).
func (t *Tracker) loadAggregate(rec *store.HealthRecord) *health.Aggregate {
	agg := &health.Aggregate{}
	if len(rec.Aggregate) > 0 {
		if err := agg.UnmarshalJSON(rec.Aggregate); err != nil {
			t.log.Error("stored health aggregate is unreadable; starting it afresh until the next recompute",
				"account", rec.AccountID, "err", err)
			agg = &health.Aggregate{}
		}
	}
	return agg
}

// OnIngest is the ingest hook (store.IngestHook): it updates the health of
// every account the events touched, in the stage runner's transaction
// (which records its progress with the health it writes).
func (t *Tracker) OnIngest(ctx context.Context, tx *sql.Tx, events []store.Event) error {
	byAccount := map[string][]int{}
	var order []string
	var surveyUsers []string
	for i := range events {
		e := &events[i]
		if e.AccountID == "" {
			continue
		}
		if _, ok := byAccount[e.AccountID]; !ok {
			order = append(order, e.AccountID)
		}
		byAccount[e.AccountID] = append(byAccount[e.AccountID], i)
		if e.Name == vocab.EventSurveyResponded && e.UserID != "" {
			surveyUsers = append(surveyUsers, e.UserID)
		}
	}
	if len(order) == 0 {
		return nil
	}
	md, err := t.currentModel(ctx)
	if err != nil {
		return err
	}
	now := t.now()
	var roles map[string]string
	if len(surveyUsers) > 0 {
		if roles, err = t.st.ContactRolesTx(ctx, tx, surveyUsers); err != nil {
			return err
		}
	}
	recs, err := t.st.HealthRecordsTx(ctx, tx, order)
	if err != nil {
		return err
	}
	replies, err := t.surveyReplies(ctx, tx, order, now)
	if err != nil {
		return err
	}
	refs, err := t.segmentFeatures(ctx, tx, md)
	if err != nil {
		return err
	}
	out := make([]*store.HealthRecord, 0, len(order))
	warned := make([]store.HealthWarnings, 0, len(order))
	var reaches []store.MilestoneReach
	for _, id := range order {
		rec := recs[id]
		in, agg, err := t.inputsOf(md, rec, true)
		if err != nil {
			return err
		}
		in.segmentFeatures = refs[in.segment]
		if agg == nil {
			agg = t.loadAggregate(rec)
		}
		r := newRebuild(agg)
		for _, i := range byAccount[id] {
			e := &events[i]
			// The role only of a survey answer, as the full recompute
			// reads it, so that both build the same aggregate.
			role := ""
			if e.Name == vocab.EventSurveyResponded {
				role = roles[e.UserID]
			}
			r.apply(md, healthEvent(e.Type, e.Name, e.UserID, role, e.Timestamp, e.Properties))
		}
		// A milestone reached by its condition counts from the latest event
		// that brought it about (events may be replayed from the past), and
		// never later than now.
		at := now
		if r.latest > 0 && r.latest < now.Unix() {
			at = time.Unix(r.latest, 0).UTC()
		}
		o := t.finish(ctx, md, in, r, now, at)
		t.remember(md, in, o.path, r.agg, true)
		reaches = append(reaches, o.reaches...)
		warned = append(warned, warningsOf(id, o.result, replies[id], r.agg))
		out = append(out, rec)
	}
	if len(reaches) > 0 {
		if err := t.st.RecordMilestonesTx(ctx, tx, reaches, now); err != nil {
			return err
		}
	}
	if err := t.st.SaveHealthRecordsTx(ctx, tx, out, dayOf(now)); err != nil {
		return err
	}
	return t.st.SaveHealthWarningsTx(ctx, tx, warned, now)
}
