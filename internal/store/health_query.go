package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"
)

// AccountHealth is an account's stored health and success path state, as
// the last incremental update or recompute left it (see internal/health
// and internal/health/tracker). Scores are nil when unknown.
type AccountHealth struct {
	AccountID   string   `json:"account_id"`
	Behavioural *float64 `json:"behavioural"`
	Emotional   *float64 `json:"emotional"`
	Combined    *float64 `json:"combined"`
	Quadrant    string   `json:"quadrant"`
	// PreviousQuadrant is the quadrant before the last move, "" before the
	// first; QuadrantChangedAt is when it moved. QuadrantVersion is the
	// Version of the write that moved it: within the transaction of that
	// write (an ingest hook after the health hook), QuadrantMoved reports
	// true.
	PreviousQuadrant  string     `json:"previous_quadrant"`
	QuadrantChangedAt *time.Time `json:"quadrant_changed_at"`
	QuadrantVersion   int64      `json:"-"`
	// CombinedBaseline is the combined score 14 days earlier (or the
	// oldest known within those 14 days), for the falling-score exception.
	CombinedBaseline *float64 `json:"combined_baseline"`
	// UsageDrop is the usage_drop signal as of UpdatedAt, with the activity
	// counts of the last and the previous window.
	UsageDrop      bool       `json:"usage_drop"`
	UsageLast      int        `json:"usage_last"`
	UsagePrevious  int        `json:"usage_previous"`
	LastActivityAt *time.Time `json:"last_activity_at"`
	// PathID is the success path the account follows, "" for none.
	PathID            string   `json:"path_id"`
	PathProgress      *float64 `json:"path_progress"`
	MilestonesReached int      `json:"milestones_reached"`
	MilestonesTotal   int      `json:"milestones_total"`
	// NextMilestone is the id of the first milestone not reached;
	// NextDueAt its due time (nil when the contract start is unknown).
	NextMilestone        string         `json:"next_milestone"`
	NextMilestoneName    string         `json:"next_milestone_name"`
	NextDueAt            *time.Time     `json:"next_due_at"`
	ContractStart        *time.Time     `json:"contract_start"`
	TimeToValue          *time.Duration `json:"time_to_value"`
	TimeToImplementation *time.Duration `json:"time_to_implementation"`
	// Version grows by one with every write of the state.
	Version   int64     `json:"-"`
	UpdatedAt time.Time `json:"updated_at"`
}

// QuadrantMoved reports whether the write that produced this state moved
// the quadrant: read in the ingestion transaction after the health hook, it
// says that this batch moved the account from PreviousQuadrant to Quadrant.
func (h AccountHealth) QuadrantMoved() bool {
	return h.Version > 0 && h.QuadrantVersion == h.Version && h.PreviousQuadrant != ""
}

// Vars returns the state as the `health` variable of CEL conditions:
// behavioural, emotional and combined (0–100, left out when unknown),
// quadrant, previous_quadrant, usage_drop, path, path_progress (0–1, left
// out without a path), next_milestone and days_behind at now.
func (h AccountHealth) Vars(now time.Time) map[string]any {
	m := map[string]any{
		"quadrant":          h.Quadrant,
		"previous_quadrant": h.PreviousQuadrant,
		"usage_drop":        h.UsageDrop,
		"path":              h.PathID,
		"next_milestone":    h.NextMilestone,
		"days_behind":       int64(h.DaysBehind(now)),
	}
	if m["quadrant"] == "" {
		m["quadrant"] = "unknown"
	}
	put := func(k string, v *float64) {
		if v != nil {
			m[k] = *v
		}
	}
	put("behavioural", h.Behavioural)
	put("emotional", h.Emotional)
	put("combined", h.Combined)
	put("path_progress", h.PathProgress)
	return m
}

// DaysBehind counts the whole days the next milestone is past due at now.
func (h AccountHealth) DaysBehind(now time.Time) int {
	if h.NextDueAt == nil || !now.After(*h.NextDueAt) {
		return 0
	}
	return int(now.Sub(*h.NextDueAt) / (24 * time.Hour))
}

// HealthRecord is what an incremental update or a recompute reads and
// writes for one account: the account's traits, the stored aggregate (JSON,
// internal/health's format), the recent daily combined scores and the
// state.
type HealthRecord struct {
	AccountHealth
	// Exists is false for an account with no stored health yet.
	Exists bool
	// RawTraits are the account's traits as stored (JSON); Traits the same
	// decoded, plus "id", once DecodeTraits has run (LoadHealthTx leaves
	// the decoding to the caller, which may know them already).
	RawTraits []byte
	Traits    map[string]any
	Aggregate []byte
	// Recent is the JSON list of [day, combined] of the last days.
	Recent []byte
	// SameTrend tells SaveHealthTx that the day's trend row already holds
	// this state's scores and quadrant (the state was last written that
	// day with them), so it is not written again.
	SameTrend bool
}

// HealthTrendPoint is one day of an account's health trend.
type HealthTrendPoint struct {
	Day         time.Time `json:"day"`
	Behavioural *float64  `json:"behavioural"`
	Emotional   *float64  `json:"emotional"`
	Combined    *float64  `json:"combined"`
	Quadrant    string    `json:"quadrant"`
}

// HealthEvent is an event as health reads it back for a recompute: only the
// columns scoring needs. Properties are left empty (nil) for events whose
// properties scoring does not read (see healthPropsSQL).
type HealthEvent struct {
	ID          int64
	AccountID   string
	Type        string
	Name        string
	UserID      string
	Timestamp   time.Time
	Properties  json.RawMessage
	ContactRole string
}

// MilestoneReach records that an account reached a success path milestone.
type MilestoneReach struct {
	AccountID   string
	PathID      string
	MilestoneID string
	Name        string
	At          time.Time
}

// SystemWriteKey is the write key id of events Moments records itself (a
// milestone reached): no API key has an empty id, so their dedupe keys
// cannot collide with a customer's.
const SystemWriteKey = ""

// Event names health records itself and reads back.
const (
	eventMilestoneReached = "Milestone Reached"
	eventSurveyResponded  = "Survey Responded"
)

type healthDB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const healthCols = `h.behavioural, h.emotional, h.combined, h.quadrant, h.previous_quadrant, h.quadrant_changed_at,
	h.quadrant_version, h.combined_baseline, h.usage_drop, h.usage_last, h.usage_previous, h.last_activity_at, h.path_id,
	h.path_progress, h.milestones_reached, h.milestones_total, h.next_milestone, h.next_milestone_name, h.next_due_at,
	h.contract_start, h.time_to_value, h.time_to_implementation, h.version, h.updated_at`

// healthDest returns scan destinations for healthCols and a function that
// fills h from them; with nullable set, every column may be NULL (an
// outer join found no row).
func healthDest(h *AccountHealth) ([]any, func()) {
	hs := &healthScan{}
	return hs.dest(nil), func() { hs.fill(h) }
}

// healthScan holds the scan destinations of healthCols, reused from row to
// row by queries that read many.
type healthScan struct {
	b, e, c, base, prog                      sql.NullFloat64
	quad, prev, path, next, nextName         sql.NullString
	changed, due, start, ttv, tti, last, upd sql.NullInt64
	qver, drop, ul, up, reached, total, ver  sql.NullInt64
}

// dest returns the destinations of healthCols after those of lead.
func (hs *healthScan) dest(lead []any) []any {
	return append(lead, &hs.b, &hs.e, &hs.c, &hs.quad, &hs.prev, &hs.changed, &hs.qver, &hs.base, &hs.drop, &hs.ul, &hs.up,
		&hs.last, &hs.path, &hs.prog, &hs.reached, &hs.total, &hs.next, &hs.nextName, &hs.due, &hs.start, &hs.ttv, &hs.tti,
		&hs.ver, &hs.upd)
}

// fill sets h from the last row scanned.
func (hs *healthScan) fill(h *AccountHealth) {
	h.Behavioural, h.Emotional, h.Combined = floatPtr(hs.b), floatPtr(hs.e), floatPtr(hs.c)
	h.Quadrant, h.PreviousQuadrant = hs.quad.String, hs.prev.String
	h.QuadrantChangedAt, h.QuadrantVersion = timePtr(hs.changed), hs.qver.Int64
	h.CombinedBaseline = floatPtr(hs.base)
	h.UsageDrop, h.UsageLast, h.UsagePrevious = hs.drop.Int64 != 0, int(hs.ul.Int64), int(hs.up.Int64)
	h.LastActivityAt = timePtr(hs.last)
	h.PathID, h.PathProgress = hs.path.String, floatPtr(hs.prog)
	h.MilestonesReached, h.MilestonesTotal = int(hs.reached.Int64), int(hs.total.Int64)
	h.NextMilestone, h.NextMilestoneName, h.NextDueAt = hs.next.String, hs.nextName.String, timePtr(hs.due)
	h.ContractStart, h.TimeToValue, h.TimeToImplementation = timePtr(hs.start), durPtr(hs.ttv), durPtr(hs.tti)
	h.Version = hs.ver.Int64
	h.UpdatedAt = time.Time{}
	if hs.upd.Valid {
		h.UpdatedAt = fromMicros(hs.upd.Int64)
	}
}

func floatPtr(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	f := v.Float64
	return &f
}

func durPtr(v sql.NullInt64) *time.Duration {
	if !v.Valid {
		return nil
	}
	d := time.Duration(v.Int64) * time.Microsecond
	return &d
}

// floatArg, timeArg and durArg are the driver values of a nullable float,
// time (Unix microseconds; the zero time is NULL, as nullMicros has it) and
// duration (microseconds).
func floatArg(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func timeArg(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func durArg(d *time.Duration) any {
	if d == nil {
		return nil
	}
	return d.Microseconds()
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// LoadHealthTx reads the stored health of the accounts, with their traits,
// in the transaction tx (see healthChunks for how the accounts are split
// into statements). On PostgreSQL the state rows are created if missing
// and locked (FOR UPDATE), so that concurrent writers of one account
// (several server processes, or a recompute) take turns; ids are locked in
// sorted order so they cannot deadlock. Accounts that do not exist get a
// record with only "id" in Traits.
func (s *Store) LoadHealthTx(ctx context.Context, tx *sql.Tx, ids []string) (map[string]*HealthRecord, error) {
	ids = sortedUnique(ids)
	out := make(map[string]*HealthRecord, len(ids))
	args := make([]any, 0, min(len(ids), healthSizes[0]))
	insArgs := []any(nil)
	start := 0
	for _, n := range healthChunks(len(ids)) {
		chunk := ids[start : start+n]
		start += n
		args = args[:0]
		for _, id := range chunk {
			args = append(args, id)
		}
		if s.dialect == Postgres {
			// Create missing rows first: FOR UPDATE cannot lock a row that
			// does not exist, and two processes creating one account's row
			// at once would otherwise both believe it new.
			insArgs = insArgs[:0]
			for _, id := range chunk {
				insArgs = append(insArgs, id, int64(0))
			}
			if _, err := s.healthExec(ctx, tx, s.healthSQL(createHealthRows, n), insArgs...); err != nil {
				return nil, fmt.Errorf("create health rows: %w", err)
			}
		}
		rows, err := s.healthQuery(ctx, tx, s.healthSQL(loadHealth, n), args...)
		if err != nil {
			return nil, fmt.Errorf("read health state: %w", err)
		}
		var (
			hs                  healthScan
			id                  string
			traits, agg, recent []byte
		)
		dest := hs.dest([]any{&id, &traits, &agg, &recent})
		for rows.Next() {
			// Scanning into []byte copies, so each row's bytes are its own.
			traits, agg, recent = nil, nil, nil
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, err
			}
			r := &HealthRecord{RawTraits: traits, Aggregate: agg, Recent: recent}
			r.AccountID = id
			hs.fill(&r.AccountHealth)
			r.Exists = r.Version > 0
			out[r.AccountID] = r
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = &HealthRecord{AccountHealth: AccountHealth{AccountID: id}}
		}
	}
	return out, nil
}

// DecodeTraits fills r.Traits from r.RawTraits, plus "id". A caller that
// already knows the traits (they are unchanged since it last decoded them)
// sets Traits itself and skips this.
func (r *HealthRecord) DecodeTraits() error {
	r.Traits = map[string]any{}
	if len(r.RawTraits) > 0 {
		if err := json.Unmarshal(r.RawTraits, &r.Traits); err != nil {
			return fmt.Errorf("account %q has unreadable traits: %w", r.AccountID, err)
		}
	}
	r.Traits["id"] = r.AccountID
	return nil
}

func sortedUnique(ids []string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	n := 0
	for i, id := range out {
		if i > 0 && id == out[n-1] {
			continue
		}
		out[n] = id
		n++
	}
	return out[:n]
}

const accountHealthCols = `account_id, behavioural, emotional, combined, quadrant, previous_quadrant, quadrant_changed_at,
	quadrant_version, combined_baseline, usage_drop, usage_last, usage_previous, last_activity_at, path_id, path_progress,
	milestones_reached, milestones_total, next_milestone, next_milestone_name, next_due_at, contract_start, time_to_value,
	time_to_implementation, version, updated_at`

const accountHealthColumns = 25

// SaveHealthTx writes the records' aggregates, states and the trend row of
// day (a UTC day number, Unix days) in tx: multi-row upserts of the
// statement sizes of healthChunks. The caller sets every field, Version
// included.
func (s *Store) SaveHealthTx(ctx context.Context, tx *sql.Tx, recs []*HealthRecord, day int64) error {
	sort.Slice(recs, func(i, j int) bool { return recs[i].AccountID < recs[j].AccountID })
	size := min(len(recs), healthSizes[0])
	aggArgs := make([]any, 0, 3*size)
	stateArgs := make([]any, 0, accountHealthColumns*size)
	start := 0
	for _, n := range healthChunks(len(recs)) {
		chunk := recs[start : start+n]
		start += n
		aggArgs, stateArgs = aggArgs[:0], stateArgs[:0]
		for _, r := range chunk {
			recent := r.Recent
			if len(recent) == 0 {
				recent = []byte("[]")
			}
			aggArgs = append(aggArgs, r.AccountID, string(r.Aggregate), string(recent))
			// Arguments in the driver's own types (nil, int64, float64,
			// string) skip database/sql's conversions, which cost as much as
			// binding them: a write has 25 per account.
			h := &r.AccountHealth
			stateArgs = append(stateArgs, r.AccountID, floatArg(h.Behavioural), floatArg(h.Emotional), floatArg(h.Combined),
				h.Quadrant, h.PreviousQuadrant, timeArg(h.QuadrantChangedAt), h.QuadrantVersion, floatArg(h.CombinedBaseline),
				boolInt(h.UsageDrop), int64(h.UsageLast), int64(h.UsagePrevious), timeArg(h.LastActivityAt), h.PathID,
				floatArg(h.PathProgress), int64(h.MilestonesReached), int64(h.MilestonesTotal), h.NextMilestone, h.NextMilestoneName,
				timeArg(h.NextDueAt), timeArg(h.ContractStart), durArg(h.TimeToValue), durArg(h.TimeToImplementation), h.Version,
				micros(h.UpdatedAt))
		}
		if _, err := s.healthExec(ctx, tx, s.healthSQL(saveAggregates, n), aggArgs...); err != nil {
			return fmt.Errorf("write health aggregates: %w", err)
		}
		if _, err := s.healthExec(ctx, tx, s.healthSQL(saveStates, n), stateArgs...); err != nil {
			return fmt.Errorf("write health state: %w", err)
		}
	}
	trend := make([]*HealthRecord, 0, len(recs))
	for _, r := range recs {
		if !r.SameTrend {
			trend = append(trend, r)
		}
	}
	trendArgs := make([]any, 0, 6*min(len(trend), healthSizes[0]))
	start = 0
	for _, n := range healthChunks(len(trend)) {
		chunk := trend[start : start+n]
		start += n
		trendArgs = trendArgs[:0]
		for _, r := range chunk {
			h := &r.AccountHealth
			trendArgs = append(trendArgs, r.AccountID, day, floatArg(h.Behavioural), floatArg(h.Emotional), floatArg(h.Combined), h.Quadrant)
		}
		if _, err := s.healthExec(ctx, tx, s.healthSQL(saveTrend, n), trendArgs...); err != nil {
			return fmt.Errorf("write health trend: %w", err)
		}
	}
	return nil
}

// healthSizes are the sizes, in accounts, of the health statements,
// largest first (account_health has 25 columns; both dialects' parameter
// limits are far above 25 × 256).
var healthSizes = []int{256, 128, 64, 32, 16, 8, 4, 2, 1}

// healthChunks splits n accounts into statement sizes: 550 = 256 + 256 +
// 32 + 4 + 2. So only nine statements of each kind ever occur, rather than
// one of every size: on SQLite each is parsed once and kept prepared
// (modernc's SQLite does not cache statements, and parsing a multi-row
// upsert cost more than running it: a third of the health hook's time); on
// PostgreSQL they stay in pgx's statement cache.
func healthChunks(n int) []int {
	var out []int
	for _, size := range healthSizes {
		for n >= size {
			out = append(out, size)
			n -= size
		}
	}
	return out
}

// healthStatement is a kind of health statement, of any size.
type healthStatement int

const (
	loadHealth healthStatement = iota
	createHealthRows
	saveAggregates
	saveStates
	saveTrend
)

type healthSQLKey struct {
	dialect Dialect
	kind    healthStatement
	n       int
}

// healthSQLs caches the text of the health statements, which depends only
// on the dialect, the kind and the size.
var healthSQLs sync.Map // healthSQLKey → string

// healthSQL returns the statement of the kind for n accounts.
func (s *Store) healthSQL(kind healthStatement, n int) string {
	k := healthSQLKey{s.dialect, kind, n}
	if q, ok := healthSQLs.Load(k); ok {
		return q.(string)
	}
	var q string
	switch kind {
	case loadHealth:
		if s.dialect == Postgres {
			q = `SELECT h.account_id, a.traits::text, g.aggregate, g.recent, ` + healthCols + `
				FROM account_health h LEFT JOIN accounts a ON a.id = h.account_id
				LEFT JOIN health_aggregates g ON g.account_id = h.account_id
				WHERE h.account_id IN (` + s.placeholders(1, n) + `) ORDER BY h.account_id FOR UPDATE OF h`
		} else {
			q = `SELECT a.id, a.traits, g.aggregate, g.recent, ` + healthCols + `
				FROM accounts a LEFT JOIN account_health h ON h.account_id = a.id
				LEFT JOIN health_aggregates g ON g.account_id = a.id
				WHERE a.id IN (` + s.placeholders(1, n) + `)`
		}
	case createHealthRows:
		q = s.rowsSQL("INSERT INTO account_health (account_id, updated_at) VALUES ", n, 2, " ON CONFLICT (account_id) DO NOTHING")
	case saveAggregates:
		q = s.rowsSQL("INSERT INTO health_aggregates (account_id, aggregate, recent) VALUES ", n, 3,
			" ON CONFLICT (account_id) DO UPDATE SET aggregate = excluded.aggregate, recent = excluded.recent")
	case saveStates:
		var set []string
		for _, c := range strings.Split(accountHealthCols, ",") {
			c = strings.TrimSpace(c)
			if c != "account_id" {
				set = append(set, c+" = excluded."+c)
			}
		}
		q = s.rowsSQL("INSERT INTO account_health ("+accountHealthCols+") VALUES ", n, accountHealthColumns,
			" ON CONFLICT (account_id) DO UPDATE SET "+strings.Join(set, ", "))
	case saveTrend:
		q = s.rowsSQL("INSERT INTO health_trend (account_id, day, behavioural, emotional, combined, quadrant) VALUES ", n, 6,
			" ON CONFLICT (account_id, day) DO UPDATE SET behavioural = excluded.behavioural, emotional = excluded.emotional,"+
				" combined = excluded.combined, quadrant = excluded.quadrant")
	}
	healthSQLs.Store(k, q)
	return q
}

// healthStmts holds a store's prepared health statements (SQLite only).
type healthStmts struct {
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	warming bool
}

// healthStmtsOf maps each SQLite store to its prepared health statements.
// It is keyed by a weak pointer, and the entry is dropped when the store is
// garbage collected, so that tests opening many stores do not keep them.
var healthStmtsOf sync.Map // weak.Pointer[Store] → *healthStmts

// preparedHealth returns the prepared statement of q, or nil when it is
// not prepared (yet). The first call on a SQLite store starts preparing
// every health statement in the background: they cannot be prepared in
// the calling transaction's stead, because the write pool's only
// connection is the transaction's until it ends; the background
// preparation takes the connection between transactions.
func (s *Store) preparedHealth(q string) *sql.Stmt {
	if s.dialect != SQLite {
		return nil
	}
	k := weak.Make(s)
	v, ok := healthStmtsOf.Load(k)
	if !ok {
		var loaded bool
		v, loaded = healthStmtsOf.LoadOrStore(k, &healthStmts{stmts: map[string]*sql.Stmt{}})
		if !loaded {
			runtime.AddCleanup(s, func(k weak.Pointer[Store]) { healthStmtsOf.Delete(k) }, k)
		}
	}
	c := v.(*healthStmts)
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[q]; st != nil {
		return st
	}
	if !c.warming {
		c.warming = true
		go s.prepareHealth(c)
	}
	return nil
}

// prepareHealth prepares every health statement on the write pool, one at
// a time. An error (the store was closed) ends it: the statements not
// prepared run unprepared, as before.
func (s *Store) prepareHealth(c *healthStmts) {
	ctx := context.Background()
	for _, kind := range []healthStatement{loadHealth, saveAggregates, saveStates, saveTrend} {
		for _, n := range healthSizes {
			q := s.healthSQL(kind, n)
			st, err := s.write.PrepareContext(ctx, q)
			if err != nil {
				return
			}
			c.mu.Lock()
			c.stmts[q] = st
			c.mu.Unlock()
		}
	}
}

func (s *Store) healthExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.preparedHealth(q); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

func (s *Store) healthQuery(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if st := s.preparedHealth(q); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, q, args...)
}

// ContactRolesTx returns the role of each of the contacts that has one.
func (s *Store) ContactRolesTx(ctx context.Context, q healthDB, ids []string) (map[string]string, error) {
	ids = sortedUnique(ids)
	out := make(map[string]string, len(ids))
	for start := 0; start < len(ids); start += keyChunk {
		chunk := ids[start:min(start+keyChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, "SELECT id, role FROM contacts WHERE role <> '' AND id IN ("+s.placeholders(1, len(chunk))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("read contact roles: %w", err)
		}
		for rows.Next() {
			var id, role string
			if err := rows.Scan(&id, &role); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = role
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RecordMilestonesTx stores milestones reached: a "Milestone Reached" event
// on the account (so that a recompute from events finds it again, and the
// timeline shows it) and the reach time in health_milestones, keeping the
// earliest. The event's messageId names account, milestone and time, so
// recording the same reach twice stores one event per distinct time.
func (s *Store) RecordMilestonesTx(ctx context.Context, tx *sql.Tx, reaches []MilestoneReach, now time.Time) error {
	for start := 0; start < len(reaches); start += eventChunk {
		chunk := reaches[start:min(start+eventChunk, len(reaches))]
		args := make([]any, 0, eventColumns*len(chunk))
		mArgs := make([]any, 0, 4*len(chunk))
		for _, r := range chunk {
			props, err := json.Marshal(map[string]any{"milestone_id": r.MilestoneID, "milestone": r.Name, "path_id": r.PathID})
			if err != nil {
				return err
			}
			msgID := fmt.Sprintf("moments-milestone:%s:%s:%d", r.AccountID, r.MilestoneID, r.At.UnixMicro())
			args = append(args, msgID, MessageKey(SystemWriteKey, msgID), SystemWriteKey, "track", eventMilestoneReached,
				"", "", r.AccountID, micros(r.At), nil, nil, micros(now), string(props), `{"library":{"name":"moments"}}`, "{}")
			mArgs = append(mArgs, r.AccountID, r.MilestoneID, r.PathID, micros(r.At))
		}
		rows, err := tx.QueryContext(ctx, s.insertEventsSQL(len(chunk)), args...)
		if err != nil {
			return fmt.Errorf("record milestones: %w", err)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rowsSQL("INSERT INTO health_milestones (account_id, milestone_id, path_id, reached_at) VALUES ", len(chunk), 4,
			` ON CONFLICT (account_id, milestone_id) DO UPDATE SET path_id = excluded.path_id,
			reached_at = CASE WHEN excluded.reached_at < health_milestones.reached_at THEN excluded.reached_at ELSE health_milestones.reached_at END`),
			mArgs...); err != nil {
			return fmt.Errorf("record milestones: %w", err)
		}
	}
	return nil
}

// AccountHealthTx returns an account's stored health in tx, for components
// that act in the ingestion transaction after the health hook (triggers:
// the `health` variable, the quadrant_drop signal). ErrNotFound when the
// account has no health yet.
func (s *Store) AccountHealthTx(ctx context.Context, tx *sql.Tx, accountID string) (AccountHealth, error) {
	return s.accountHealth(ctx, tx, accountID)
}

// AccountHealth returns an account's stored health; ErrNotFound when it has
// none yet.
func (s *Store) AccountHealth(ctx context.Context, accountID string) (AccountHealth, error) {
	return s.accountHealth(ctx, s.read, accountID)
}

func (s *Store) accountHealth(ctx context.Context, q healthDB, accountID string) (AccountHealth, error) {
	h := AccountHealth{AccountID: accountID}
	dest, fill := healthDest(&h)
	err := q.QueryRowContext(ctx, "SELECT "+healthCols+" FROM account_health h WHERE h.account_id = $1 AND h.version > 0", accountID).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return h, ErrNotFound
	}
	if err != nil {
		return h, fmt.Errorf("read health of %q: %w", accountID, err)
	}
	fill()
	return h, nil
}

// HealthAggregate returns an account's stored aggregate (JSON); ErrNotFound
// when it has none.
func (s *Store) HealthAggregate(ctx context.Context, accountID string) ([]byte, error) {
	var agg string
	err := s.read.QueryRowContext(ctx, "SELECT aggregate FROM health_aggregates WHERE account_id = $1", accountID).Scan(&agg)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read health aggregate of %q: %w", accountID, err)
	}
	return []byte(agg), nil
}

// HealthTrend returns an account's daily trend from day `from` (a UTC day
// number) on, oldest first.
func (s *Store) HealthTrend(ctx context.Context, accountID string, from int64) ([]HealthTrendPoint, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT day, behavioural, emotional, combined, quadrant FROM health_trend
		WHERE account_id = $1 AND day >= $2 ORDER BY day`, accountID, from)
	if err != nil {
		return nil, fmt.Errorf("read health trend: %w", err)
	}
	defer rows.Close()
	var out []HealthTrendPoint
	for rows.Next() {
		var (
			p       HealthTrendPoint
			day     int64
			b, e, c sql.NullFloat64
		)
		if err := rows.Scan(&day, &b, &e, &c, &p.Quadrant); err != nil {
			return nil, err
		}
		p.Day = time.Unix(day*86400, 0).UTC()
		p.Behavioural, p.Emotional, p.Combined = floatPtr(b), floatPtr(e), floatPtr(c)
		out = append(out, p)
	}
	return out, rows.Err()
}

// PruneHealthTrend deletes trend rows of days before `before`.
func (s *Store) PruneHealthTrend(ctx context.Context, before int64) (int64, error) {
	res, err := s.write.ExecContext(ctx, "DELETE FROM health_trend WHERE day < $1", before)
	if err != nil {
		return 0, fmt.Errorf("prune health trend: %w", err)
	}
	return res.RowsAffected()
}

// HealthAccountPage returns up to limit account ids after `after`, in id
// order, with the version of their stored health (0 when none): the pages a
// recompute walks.
func (s *Store) HealthAccountPage(ctx context.Context, after string, limit int) ([]string, map[string]int64, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT a.id, COALESCE(h.version, 0) FROM accounts a
		LEFT JOIN account_health h ON h.account_id = a.id WHERE a.id > $1 ORDER BY a.id LIMIT $2`, after, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("list accounts to recompute: %w", err)
	}
	defer rows.Close()
	var ids []string
	versions := map[string]int64{}
	for rows.Next() {
		var (
			id string
			v  int64
		)
		if err := rows.Scan(&id, &v); err != nil {
			return nil, nil, err
		}
		ids = append(ids, id)
		versions[id] = v
	}
	return ids, versions, rows.Err()
}

// readHandle returns the read pool as a healthDB.
func (s *Store) readHandle() healthDB { return s.read }

// HealthEvents calls fn with every event of the accounts, account by
// account (in id order) and in arrival order within each, reading through
// the events_account index. With tx nil it reads from the read pool.
// Properties are read only for events whose properties scoring uses
// (survey answers, milestones, and events with a "feature" property), and
// the contact's role only for survey answers.
func (s *Store) HealthEvents(ctx context.Context, tx *sql.Tx, accountIDs []string, fn func(*HealthEvent) error) error {
	var q healthDB = s.readHandle()
	if tx != nil {
		q = tx
	} else if s.dialect == SQLite {
		// Reading an account's events jumps around the events table (it is
		// kept in arrival order); memory-mapped reads of those pages cost
		// no system call and no copy, which made a recompute ~2× faster.
		// The setting is per connection, so this one is reset before it
		// goes back to the pool.
		conn, err := s.read.Conn(ctx)
		if err != nil {
			return fmt.Errorf("read events to recompute health: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "PRAGMA mmap_size = "+strconv.FormatInt(healthMmapBytes, 10)); err != nil {
			return fmt.Errorf("read events to recompute health: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA mmap_size = 0") //nolint:errcheck // best effort
		q = conn
	}
	ids := sortedUnique(accountIDs)
	for start := 0; start < len(ids); start += keyChunk {
		chunk := ids[start:min(start+keyChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, `SELECT e.id, e.account_id, e.type, e.name, e.user_id, e.timestamp, `+s.healthPropsSQL()+`,
			CASE WHEN e.name = '`+eventSurveyResponded+`' THEN (SELECT c.role FROM contacts c WHERE c.id = e.user_id) END
			FROM events e WHERE e.account_id IN (`+s.placeholders(1, len(chunk))+`) AND e.type IN ('track', 'page', 'screen')
			ORDER BY e.account_id, e.id`, args...)
		if err != nil {
			return fmt.Errorf("read events to recompute health: %w", err)
		}
		if err := eachHealthEvent(rows, fn); err != nil {
			return err
		}
	}
	return nil
}

// HealthScanRange is how many event ids a ScanHealthEvents query covers:
// each range is its own short read, so a scan of millions of events never
// holds one read transaction open for long (which on SQLite would keep the
// WAL from being checkpointed while ingestion goes on).
const HealthScanRange = 200_000

// ScanHealthEvents calls fn with every event that health reads (track,
// page and screen calls attributed to an account), in id order — the
// order the events table is stored in, so the table is read from start to
// end instead of jumping from account to account — up to the largest id
// stored when the scan starts. Properties and roles are read as
// HealthEvents reads them. The HealthEvent passed to fn is reused: copy
// what is kept.
func (s *Store) ScanHealthEvents(ctx context.Context, fn func(*HealthEvent) error) error {
	var q healthDB = s.readHandle()
	if s.dialect == SQLite {
		// Memory-mapped reads cost no system call and no copy per page.
		conn, err := s.read.Conn(ctx)
		if err != nil {
			return fmt.Errorf("read events to recompute health: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "PRAGMA mmap_size = "+strconv.FormatInt(healthMmapBytes, 10)); err != nil {
			return fmt.Errorf("read events to recompute health: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA mmap_size = 0") //nolint:errcheck // best effort
		q = conn
	}
	var last sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT MAX(id) FROM events").Scan(&last); err != nil {
		return fmt.Errorf("read events to recompute health: %w", err)
	}
	query := `SELECT e.id, e.account_id, e.type, e.name, e.user_id, e.timestamp, ` + s.healthPropsSQL() + `,
		CASE WHEN e.name = '` + eventSurveyResponded + `' THEN (SELECT c.role FROM contacts c WHERE c.id = e.user_id) END
		FROM events e WHERE e.id > $1 AND e.id <= $2 AND e.account_id <> '' AND e.type IN ('track', 'page', 'screen')
		ORDER BY e.id`
	for from := int64(0); from < last.Int64; from += HealthScanRange {
		rows, err := q.QueryContext(ctx, query, from, min(from+HealthScanRange, last.Int64))
		if err != nil {
			return fmt.Errorf("read events to recompute health: %w", err)
		}
		if err := eachHealthEvent(rows, fn); err != nil {
			return fmt.Errorf("read events to recompute health: %w", err)
		}
	}
	return nil
}

// HealthAccounts returns every account id, in id order, with the version
// of its stored health (0 when none).
func (s *Store) HealthAccounts(ctx context.Context) ([]string, map[string]int64, error) {
	var (
		ids      []string
		versions = map[string]int64{}
		after    string
	)
	for {
		page, vs, err := s.HealthAccountPage(ctx, after, 50_000)
		if err != nil {
			return nil, nil, err
		}
		if len(page) == 0 {
			return ids, versions, nil
		}
		ids = append(ids, page...)
		for id, v := range vs {
			versions[id] = v
		}
		after = page[len(page)-1]
	}
}

// healthMmapBytes is the memory map size of a recompute's reads (address
// space, not memory: pages are shared with the OS page cache).
const healthMmapBytes = 1 << 36

// healthPropsSQL selects the properties scoring reads, and NULL for the
// rest, so a recompute does not move and decode the properties of every
// event.
func (s *Store) healthPropsSQL() string {
	names := "e.name IN ('" + eventSurveyResponded + "', '" + eventMilestoneReached + "')"
	if s.dialect == Postgres {
		return "CASE WHEN " + names + " OR e.properties ? 'feature' THEN e.properties::text END"
	}
	return "CASE WHEN " + names + ` OR instr(e.properties, '"feature"') > 0 THEN e.properties END`
}

// ClaimHealthRun records that the named daily job runs for day (a UTC day
// number) and reports whether this call claimed it: false when it already
// ran that day, here or in another server process.
func (s *Store) ClaimHealthRun(ctx context.Context, name string, day int64, now time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `INSERT INTO health_runs (name, day, at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET day = excluded.day, at = excluded.at WHERE health_runs.day < excluded.day`,
		name, day, micros(now))
	if err != nil {
		return false, fmt.Errorf("claim the daily health run: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// ChurnedStage is the lifecycle_stage of an account that was lost; the
// health reports leave such accounts out unless their stage is asked for.
const ChurnedStage = "churned"

// HealthFilter narrows the health reports. Empty fields match everything,
// except that churned accounts are left out unless Stage asks for them.
type HealthFilter struct {
	Owner   string
	Segment string
	Stage   string
}

func (f HealthFilter) where(args *[]any) string {
	var conds []string
	add := func(col, v string) {
		if v != "" {
			*args = append(*args, v)
			conds = append(conds, fmt.Sprintf("%s = $%d", col, len(*args)))
		}
	}
	add("a.owner", f.Owner)
	add("a.segment", f.Segment)
	add("a.lifecycle_stage", f.Stage)
	if f.Stage == "" {
		// Lost customers are not at risk any more: reports are about the
		// accounts a team can still keep, unless asked for churned ones.
		conds = append(conds, "a.lifecycle_stage <> '"+ChurnedStage+"'")
	}
	if len(conds) == 0 {
		return ""
	}
	return " AND " + strings.Join(conds, " AND ")
}

// ExceptionQuery selects exception candidates: accounts whose next
// milestone was due on or before DueBefore, or with a usage drop, or whose
// combined score fell by at least ScoreDrop points against its baseline,
// or with an open task due before Now.
type ExceptionQuery struct {
	HealthFilter
	Now       time.Time
	DueBefore time.Time
	ScoreDrop float64
	// Limit bounds the candidates returned, best ranked first (see
	// HealthExceptions); 0 returns them all.
	Limit int
}

// ExceptionCandidate is an account that meets at least one exception rule,
// with what the report needs to explain and rank it.
type ExceptionCandidate struct {
	Account      Account
	Health       AccountHealth
	OverdueTasks int
	// OldestOverdue is the due time of the oldest overdue task.
	OldestOverdue *time.Time
}

// Renewal proximity, as the exception report ranks by it: ARR × 90 ÷ (90 +
// days to renewal), 1 when the renewal is due, 0.25 without a renewal date.
const (
	RenewalHorizonDays      = 90
	UnknownRenewalProximity = 0.25
)

// HealthExceptions returns the exception candidates, from the stored health
// state (one scan of account_health, no events read), ranked by ARR ×
// renewal proximity, then ARR, then the number of rules met, then id, and
// the number of candidates in all. Ranking in the database lets a report
// of the first hundred rows at 100,000 accounts read only those rows.
func (s *Store) HealthExceptions(ctx context.Context, q ExceptionQuery) ([]ExceptionCandidate, int, error) {
	args := []any{micros(q.DueBefore), q.ScoreDrop, q.Now.UTC().Format(time.DateOnly)}
	tasks, err := s.overdueTasksSQL(ctx)
	if err != nil {
		return nil, 0, err
	}
	overdue, join := "0, NULL", ""
	conds := []string{"h.next_due_at <= $1", "h.usage_drop = 1", "h.combined_baseline - h.combined >= $2"}
	if tasks != "" {
		args = append(args, micros(q.Now))
		join = " LEFT JOIN (" + strings.ReplaceAll(tasks, "$NOW", fmt.Sprintf("$%d", len(args))) + ") t ON t.account_id = h.account_id"
		overdue = "COALESCE(t.n, 0), t.oldest"
		conds = append(conds, "t.n > 0")
	}
	var met []string
	for _, c := range conds {
		met = append(met, "CASE WHEN "+c+" THEN 1 ELSE 0 END")
	}
	ahead := "MAX(CAST(julianday(a.renewal_date) - julianday($3) AS INTEGER), 0)"
	if s.dialect == Postgres {
		ahead = "GREATEST(a.renewal_date::date - $3::date, 0)"
	}
	proximity := fmt.Sprintf("CASE WHEN a.renewal_date = '' THEN %g ELSE %d.0 / (%d.0 + %s) END",
		UnknownRenewalProximity, RenewalHorizonDays, RenewalHorizonDays, ahead)
	where := q.HealthFilter.where(&args)
	limit := ""
	if q.Limit > 0 {
		limit = " LIMIT " + strconv.Itoa(q.Limit)
	}
	from := ` FROM account_health h JOIN accounts a ON a.id = h.account_id` + join + `
		WHERE h.version > 0 AND (` + strings.Join(conds, " OR ") + `)` + where
	// Counting apart lets the ranked query keep only the first rows in its
	// sort (a window count would make it keep them all).
	// ($3, the date, is selected only so that PostgreSQL learns its type.)
	var (
		total int
		today string
	)
	if err := s.read.QueryRowContext(ctx, "SELECT COUNT(*), CAST($3 AS TEXT)"+from, args...).Scan(&total, &today); err != nil {
		return nil, 0, fmt.Errorf("count exceptions: %w", err)
	}
	query := `SELECT a.id, a.name, a.plan, a.segment, a.owner, a.lifecycle_stage, a.arr, a.renewal_date,
		` + overdue + `, ` + healthCols + `, a.arr * (` + proximity + `) AS priority, ` + strings.Join(met, " + ") + ` AS met` + from + `
		ORDER BY priority DESC, a.arr DESC, met DESC, a.id`
	if limit != "" {
		// Rank on the few columns ranking needs, then read the whole rows
		// of the first ones only: a sort carries every selected column of
		// every candidate, and reading some forty columns of each of
		// 86,000 candidates was most of the report's time.
		query = `SELECT a.id, a.name, a.plan, a.segment, a.owner, a.lifecycle_stage, a.arr, a.renewal_date,
			` + overdue + `, ` + healthCols + `, r.priority, r.met
			FROM (SELECT h.account_id AS rid, a.arr AS rarr, a.arr * (` + proximity + `) AS priority, ` + strings.Join(met, " + ") + ` AS met` +
			from + ` ORDER BY priority DESC, a.arr DESC, met DESC, a.id` + limit + `) r
			JOIN account_health h ON h.account_id = r.rid JOIN accounts a ON a.id = r.rid` + join + `
			ORDER BY r.priority DESC, r.rarr DESC, r.met DESC, r.rid`
	}
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("read exceptions: %w", err)
	}
	defer rows.Close()
	var out []ExceptionCandidate
	for rows.Next() {
		var (
			c        ExceptionCandidate
			oldest   sql.NullInt64
			priority float64
			met      int
		)
		a := &c.Account
		dest, fill := healthDest(&c.Health)
		dest = append([]any{&a.ID, &a.Name, &a.Plan, &a.Segment, &a.Owner, &a.LifecycleStage, &a.ARR, &a.RenewalDate,
			&c.OverdueTasks, &oldest}, dest...)
		if err := rows.Scan(append(dest, &priority, &met)...); err != nil {
			return nil, 0, err
		}
		fill()
		c.Health.AccountID = a.ID
		c.OldestOverdue = timePtr(oldest)
		out = append(out, c)
	}
	return out, total, rows.Err()
}

// tasksProbe caches, per store, whether the playbook's tasks table exists
// (it arrives with its own migration).
var tasksProbe sync.Map // *Store → bool

// overdueTasksSQL returns a query of (account_id, n, oldest) over open tasks
// due before $NOW, or "" when this database has no tasks table.
func (s *Store) overdueTasksSQL(ctx context.Context) (string, error) {
	has, ok := tasksProbe.Load(s)
	if !ok {
		var q string
		if s.dialect == Postgres {
			q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'tasks'"
		} else {
			q = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'tasks'"
		}
		var n int
		if err := s.read.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return "", fmt.Errorf("look for the tasks table: %w", err)
		}
		has = n > 0
		tasksProbe.Store(s, has)
	}
	if !has.(bool) {
		return "", nil
	}
	return `SELECT account_id, COUNT(*) AS n, MIN(due_at) AS oldest FROM tasks
		WHERE status NOT IN ('done', 'cancelled', 'canceled') AND due_at IS NOT NULL AND due_at < $NOW
		AND (snoozed_until IS NULL OR snoozed_until <= $NOW) GROUP BY account_id`, nil
}

// QuadrantTotal is one line of the health report: the accounts of a
// quadrant ("" for accounts not scored yet) and their ARR.
type QuadrantTotal struct {
	Quadrant string
	Accounts int
	ARR      float64
}

// HealthSummary counts accounts and sums ARR per quadrant.
func (s *Store) HealthSummary(ctx context.Context, f HealthFilter) ([]QuadrantTotal, error) {
	var args []any
	where := f.where(&args)
	rows, err := s.read.QueryContext(ctx, `SELECT COALESCE(h.quadrant, ''), COUNT(*), COALESCE(SUM(a.arr), 0)
		FROM accounts a LEFT JOIN account_health h ON h.account_id = a.id AND h.version > 0
		WHERE 1 = 1`+where+` GROUP BY COALESCE(h.quadrant, '')`, args...)
	if err != nil {
		return nil, fmt.Errorf("read the health summary: %w", err)
	}
	defer rows.Close()
	var out []QuadrantTotal
	for rows.Next() {
		var t QuadrantTotal
		if err := rows.Scan(&t.Quadrant, &t.Accounts, &t.ARR); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// eachHealthEvent calls fn with each row of a health event query (id,
// account, type, name, user, timestamp, properties, contact role), in one
// reused HealthEvent, and closes rows.
func eachHealthEvent(rows *sql.Rows, fn func(*HealthEvent) error) error {
	defer rows.Close()
	var ev HealthEvent
	for rows.Next() {
		var (
			ts          int64
			props, role sql.NullString
		)
		if err := rows.Scan(&ev.ID, &ev.AccountID, &ev.Type, &ev.Name, &ev.UserID, &ts, &props, &role); err != nil {
			return err
		}
		ev.Timestamp = fromMicros(ts)
		ev.Properties = nil
		if props.Valid && props.String != "" {
			ev.Properties = json.RawMessage(props.String)
		}
		ev.ContactRole = role.String
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return rows.Err()
}
