package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/moments-cs/moments/internal/vocab"
	"sort"
	"time"
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
	// decoded, plus "id", once DecodeTraits has run (HealthRecordsTx leaves
	// the decoding to the caller, which may know them already).
	RawTraits []byte
	Traits    map[string]any
	Aggregate []byte
	// Recent is the JSON list of [day, combined] of the last days.
	Recent []byte
	// SameTrend tells SaveHealthRecordsTx that the day's trend row already holds
	// this state's scores and quadrant (the state was last written that
	// day with them), so it is not written again.
	SameTrend bool
	// stored is the success path state as read (empty for a new record):
	// SaveHealthRecordsTx clears the moment analytics of an account whose
	// state it changes (their day summaries keep it; see Occurrence.Path).
	stored OccurrencePath
	// storedAggregate and storedRecent are the bytes read (nil when the
	// account had none): SaveHealthRecordsTx writes the aggregate and the
	// recent scores only when they differ. A day's recompute finds most
	// aggregates as the ingest stages left them.
	storedAggregate, storedRecent []byte
	// summed says that the stored aggregate was read as its digest and
	// size only (HealthRecordsAhead): storedAggregate is then nil.
	summed              bool
	storedAggregateSum  [2]uint64
	storedAggregateSize int
	// warnings are the stored warnings, when read with the record
	// (HealthRecordsAhead; nil otherwise).
	warnings *storedWarnings
}

// StoredAggregateSize is the size of the aggregate as stored (0 for
// none), which a new one rarely outgrows by much.
func (r *HealthRecord) StoredAggregateSize() int {
	if r.summed {
		return r.storedAggregateSize
	}
	return len(r.storedAggregate)
}

// path is the record's success path state.
func (r *HealthRecord) path() OccurrencePath {
	return OccurrencePath{PathID: r.PathID, TimeToValue: r.TimeToValue, TimeToImplementation: r.TimeToImplementation}
}

// HealthTrendPoint is one day of an account's health trend.
type HealthTrendPoint struct {
	Day         time.Time `json:"day"`
	Behavioural *float64  `json:"behavioural"`
	Emotional   *float64  `json:"emotional"`
	Combined    *float64  `json:"combined"`
	Quadrant    string    `json:"quadrant"`
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

// HealthRecordsTx reads the stored health of the accounts, with their traits,
// in the transaction tx (see healthChunks for how the accounts are split
// into statements). On PostgreSQL the state rows are locked (FOR UPDATE),
// so that concurrent writers of one account (several server processes, or
// a recompute) take turns: those that exist in sorted order, then, created
// where missing, the others in sorted order. Accounts that do not exist get
// a record with only "id" in Traits.
func (s *Store) HealthRecordsTx(ctx context.Context, tx Querier, ids []string) (map[string]*HealthRecord, error) {
	ids = sortedUnique(ids)
	out := make(map[string]*HealthRecord, len(ids))
	if err := s.loadHealthRecords(ctx, tx, ids, out); err != nil {
		return nil, err
	}
	if s.dialect.locksRows() {
		// FOR UPDATE cannot lock a row that does not exist: the accounts
		// without one (new to health) get their rows created, then read
		// and locked. Created with ON CONFLICT DO NOTHING, so that two
		// processes creating one account's row at once do not both
		// believe it new: the second waits for the first's transaction,
		// then reads its row. Most rounds find every row and pay no
		// second statement.
		var missing []string
		for _, id := range ids {
			if _, ok := out[id]; !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			if err := s.createHealthRows(ctx, tx, missing); err != nil {
				return nil, err
			}
			if err := s.loadHealthRecords(ctx, tx, missing, out); err != nil {
				return nil, err
			}
		}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			out[id] = &HealthRecord{AccountHealth: AccountHealth{AccountID: id}}
		}
	}
	return out, nil
}

// loadHealthRecords reads the stored health of the accounts ids (sorted,
// unique) into out, in statements of the sizes of healthChunks; on
// PostgreSQL only accounts with a state row, which it locks.
func (s *Store) loadHealthRecords(ctx context.Context, tx Querier, ids []string, out map[string]*HealthRecord) error {
	args := make([]any, 0, min(len(ids), healthSizes[0]))
	start := 0
	for _, n := range healthChunks(len(ids)) {
		chunk := ids[start : start+n]
		start += n
		args = args[:0]
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := s.healthQuery(ctx, tx, s.healthSQL(loadHealth, n), args...)
		if err != nil {
			return fmt.Errorf("read health state: %w", err)
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
				return err
			}
			r := &HealthRecord{RawTraits: traits, Aggregate: agg, Recent: recent, storedAggregate: agg, storedRecent: recent}
			r.AccountID = id
			hs.fill(&r.AccountHealth)
			r.Exists = r.Version > 0
			r.stored = r.path()
			out[r.AccountID] = r
		}
		if err := closeRows(rows); err != nil {
			return err
		}
	}
	return nil
}

// createHealthRows inserts empty state rows for the accounts ids (sorted,
// unique), leaving rows that exist as they are.
func (s *Store) createHealthRows(ctx context.Context, tx Querier, ids []string) error {
	var args []any
	start := 0
	for _, n := range healthChunks(len(ids)) {
		args = args[:0]
		for _, id := range ids[start : start+n] {
			args = append(args, id, int64(0))
		}
		start += n
		if _, err := s.healthExec(ctx, tx, s.healthSQL(createHealthRows, n), args...); err != nil {
			return fmt.Errorf("create health rows: %w", err)
		}
	}
	return nil
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

const accountHealthCols = `account_id, behavioural, emotional, combined, quadrant, previous_quadrant, quadrant_changed_at,
	quadrant_version, combined_baseline, usage_drop, usage_last, usage_previous, last_activity_at, path_id, path_progress,
	milestones_reached, milestones_total, next_milestone, next_milestone_name, next_due_at, contract_start, time_to_value,
	time_to_implementation, version, updated_at`

const accountHealthColumns = 25

// SaveHealthRecordsTx writes the records' states, their aggregates and
// recent scores where they changed, and the trend row of day (a UTC day
// number, Unix days) in tx: multi-row upserts of the statement sizes of
// healthChunks. The caller sets every field, Version included.
func (s *Store) SaveHealthRecordsTx(ctx context.Context, tx Querier, recs []*HealthRecord, day int64) error {
	sort.Slice(recs, func(i, j int) bool { return recs[i].AccountID < recs[j].AccountID })
	var aggs, recents [][2]string
	for _, r := range recs {
		changed := r.storedAggregate == nil || !bytes.Equal(r.Aggregate, r.storedAggregate)
		if r.summed {
			changed = len(r.Aggregate) != r.storedAggregateSize || aggregateBytesSum(r.Aggregate) != r.storedAggregateSum
		}
		if changed {
			aggs = append(aggs, [2]string{r.AccountID, string(r.Aggregate)})
		}
		r.storedAggregate, r.summed = r.Aggregate, false
		recent := r.Recent
		if len(recent) == 0 {
			recent = []byte("[]")
		}
		if r.storedRecent == nil || !bytes.Equal(recent, r.storedRecent) {
			recents = append(recents, [2]string{r.AccountID, string(recent)})
			r.storedRecent = recent
		}
	}
	if err := s.savePairs(ctx, tx, saveAggregates, aggs); err != nil {
		return fmt.Errorf("write health aggregates: %w", err)
	}
	if err := s.savePairs(ctx, tx, saveRecent, recents); err != nil {
		return fmt.Errorf("write recent health scores: %w", err)
	}
	size := min(len(recs), healthSizes[0])
	stateArgs := make([]any, 0, accountHealthColumns*size)
	start := 0
	for _, n := range healthChunks(len(recs)) {
		chunk := recs[start : start+n]
		start += n
		stateArgs = stateArgs[:0]
		for _, r := range chunk {
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
		if _, err := s.healthExec(ctx, tx, s.healthSQL(saveStates, n), stateArgs...); err != nil {
			return fmt.Errorf("write health state: %w", err)
		}
	}
	for _, r := range recs {
		if p := r.path(); !p.Equal(r.stored) {
			if err := staleAccountDays(ctx, tx, r.AccountID); err != nil {
				return err
			}
			r.stored = p
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

// savePairs upserts (account id, value) rows with the health statement
// of kind, in the statement sizes of healthChunks.
func (s *Store) savePairs(ctx context.Context, tx Querier, kind healthStatement, rows [][2]string) error {
	args := make([]any, 0, 2*min(len(rows), healthSizes[0]))
	start := 0
	for _, n := range healthChunks(len(rows)) {
		args = args[:0]
		for _, r := range rows[start : start+n] {
			args = append(args, r[0], r[1])
		}
		start += n
		if _, err := s.healthExec(ctx, tx, s.healthSQL(kind, n), args...); err != nil {
			return err
		}
	}
	return nil
}

// RecordMilestonesTx stores milestones reached: a "Milestone Reached" event
// on the account (so that a recompute from events finds it again, and the
// timeline shows it) and the reach time in health_milestones, keeping the
// earliest. The event's messageId names account, milestone and time, so
// recording the same reach twice stores one event per distinct time.
// Callers hold the accounts' health rows (HealthRecordsTx) in tx.
func (s *Store) RecordMilestonesTx(ctx context.Context, tx Querier, reaches []MilestoneReach, now time.Time) error {
	// Partitions are kept half a span ahead of the ingested ids; a
	// recompute's milestones may need more (partitions.go).
	if n := int64(len(reaches)); !s.dialect.embedded() && n > s.partitionSpan/4 {
		if err := s.ensurePartitions(ctx, s.partitionSpan/2+n); err != nil {
			return fmt.Errorf("record milestones: %w", err)
		}
	}
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
			args = append(args, msgID, MessageKey(SystemWriteKey, msgID), SystemWriteKey, "track", vocab.EventMilestoneReached,
				"", "", r.AccountID, micros(r.At), nil, nil, micros(now), string(props), `{"library":{"name":"moments"}}`, "{}")
			mArgs = append(mArgs, r.AccountID, r.MilestoneID, r.PathID, micros(r.At))
		}
		rows, err := tx.QueryContext(ctx, s.insertEventsSQL(len(chunk)), args...)
		if err != nil {
			return fmt.Errorf("record milestones: %w", err)
		}
		if err := closeRows(rows); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.dialect.rows("INSERT INTO health_milestones (account_id, milestone_id, path_id, reached_at) VALUES ", len(chunk), 4,
			` ON CONFLICT (account_id, milestone_id) DO UPDATE SET path_id = excluded.path_id,
			reached_at = CASE WHEN excluded.reached_at < health_milestones.reached_at THEN excluded.reached_at ELSE health_milestones.reached_at END`),
			mArgs...); err != nil {
			return fmt.Errorf("record milestones: %w", err)
		}
		if err := s.keepAccountMilestones(ctx, tx, chunk); err != nil {
			return fmt.Errorf("record milestones: %w", err)
		}
	}
	return nil
}

// keepAccountMilestones rewrites the account_milestones rows of the
// accounts of reaches from their health_milestones rows, just written in
// the same transaction: the row an account's milestone funnel reads is
// always its milestones gathered (migration 00027). The row is rebuilt
// from what this transaction sees, so two transactions recording one
// account's milestones at once on PostgreSQL must take turns, or the later
// commit would drop the other's reach from the row: every caller holds
// the account's health row first (HealthRecordsTx locks it FOR UPDATE),
// and a statement after that wait sees the other's committed reaches.
func (s *Store) keepAccountMilestones(ctx context.Context, tx Querier, reaches []MilestoneReach) error {
	accounts := make([]any, 0, len(reaches))
	seen := make(map[string]bool, len(reaches))
	for _, r := range reaches {
		if !seen[r.AccountID] {
			seen[r.AccountID] = true
			accounts = append(accounts, r.AccountID)
		}
	}
	_, err := tx.ExecContext(ctx, s.gatherMilestonesSQL(`WHERE account_id IN (`+s.dialect.placeholders(1, len(accounts))+`)`), accounts...)
	return err
}

// RebuildAccountMilestones rewrites every account's account_milestones row
// from its health_milestones rows, as migration 00027 filled them: for
// milestones written into health_milestones directly (tests, the
// benchmarks' data sets) and as a repair.
func (s *Store) RebuildAccountMilestones(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, s.gatherMilestonesSQL("WHERE true")); err != nil {
		return fmt.Errorf("rebuild the accounts' milestones: %w", err)
	}
	return nil
}

// gatherMilestonesSQL upserts the account_milestones rows of the
// health_milestones rows that where selects: "<milestone id>:<Unix
// microseconds>" entries joined by commas, in no particular order.
func (s *Store) gatherMilestonesSQL(where string) string {
	gather := "group_concat"
	if !s.dialect.embedded() {
		gather = "string_agg"
	}
	return `INSERT INTO account_milestones (account_id, reaches)
		SELECT account_id, ` + gather + `(milestone_id || ':' || reached_at, ',') FROM health_milestones
		` + where + ` GROUP BY account_id
		ON CONFLICT (account_id) DO UPDATE SET reaches = excluded.reaches`
}

// AccountHealthTx returns an account's stored health in tx, for components
// that act in the ingestion transaction after the health hook (triggers:
// the `health` variable, the quadrant_drop signal). ErrNotFound when the
// account has no health yet.
func (s *Store) AccountHealthTx(ctx context.Context, tx Querier, accountID string) (AccountHealth, error) {
	return s.accountHealth(ctx, tx, accountID)
}

// AccountHealth returns an account's stored health; ErrNotFound when it has
// none yet.
func (s *Store) AccountHealth(ctx context.Context, accountID string) (AccountHealth, error) {
	return s.accountHealth(ctx, s.read, accountID)
}

func (s *Store) accountHealth(ctx context.Context, q Querier, accountID string) (AccountHealth, error) {
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

// AccountHealthVersionPage returns up to limit account ids after `after`, in id
// order, with the version of their stored health (0 when none): the pages a
// recompute walks.
func (s *Store) AccountHealthVersionPage(ctx context.Context, after string, limit int) ([]string, map[string]int64, error) {
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

// AccountHealthVersions returns every account id, in id order, with the version
// of its stored health (0 when none).
func (s *Store) AccountHealthVersions(ctx context.Context) ([]string, map[string]int64, error) {
	var (
		ids      []string
		versions = map[string]int64{}
		after    string
	)
	for {
		page, vs, err := s.AccountHealthVersionPage(ctx, after, 50_000)
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
