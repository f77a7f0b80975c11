package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/moments-cs/moments/internal/vocab"
	"strconv"
	"time"
)

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

// AccountEventsTx calls fn with every event of the accounts whose health
// effects are stored (the ingest stages consumed it; see consumedCond),
// account by account (in id order) and in arrival order within each,
// reading through the index of events by account (byAccount). With tx nil it reads from the
// read pool. Properties are read only for events whose properties scoring
// uses (survey answers, milestones, and events with a "feature"
// property), and the contact's role only for survey answers.
func (s *Store) AccountEventsTx(ctx context.Context, tx Querier, accountIDs []string, fn func(*HealthEvent) error) error {
	return s.accountEvents(ctx, tx, accountIDs, " AND "+s.dialect.consumedCond(), fn)
}

// AccountHistoryEvents is AccountEventsTx over every stored event, whether
// or not the ingest stages have consumed it yet, from the read pool: for
// scores rebuilt as they stood in the past (a backtest), which read the
// events and nothing the stages keep.
func (s *Store) AccountHistoryEvents(ctx context.Context, accountIDs []string, fn func(*HealthEvent) error) error {
	return s.accountEvents(ctx, nil, accountIDs, "", fn)
}

func (s *Store) accountEvents(ctx context.Context, tx Querier, accountIDs []string, cond string, fn func(*HealthEvent) error) error {
	q := tx
	if q == nil {
		// Reading an account's events jumps around the events table (it is
		// kept in arrival order): memory-mapped reads help most here.
		conn, release, err := s.mappedReader(ctx)
		if err != nil {
			return fmt.Errorf("read events to recompute health: %w", err)
		}
		defer release()
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
			CASE WHEN e.name = '`+vocab.EventSurveyResponded+`' THEN (SELECT c.role FROM contacts c WHERE c.id = e.user_id) END
			FROM events e WHERE `+s.dialect.byAccount("account_id IN ("+s.dialect.numbered(1, len(chunk))+")")+` AND `+s.healthTypesSQL()+cond+`
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

// HealthScanRange is how many event ids a ScanAccountEvents query covers:
// each range is its own short read, so a scan of millions of events never
// holds one read transaction open for long (which on SQLite would keep the
// WAL from being checkpointed while ingestion goes on).
const HealthScanRange = 200_000

// ScanAccountEvents calls fn with every event that health reads (track,
// page and screen calls attributed to an account) with an id after `after`
// and up to through, in id order — the order the events table is stored
// in, so the table is read from start to end instead of jumping from
// account to account. Properties and roles are read as AccountEventsTx
// reads them. The HealthEvent passed to fn is reused: copy what is kept.
func (s *Store) ScanAccountEvents(ctx context.Context, after, through int64, fn func(*HealthEvent) error) error {
	q, release, err := s.mappedReader(ctx)
	if err != nil {
		return fmt.Errorf("read events to recompute health: %w", err)
	}
	defer release()
	query := `SELECT e.id, e.account_id, e.type, e.name, e.user_id, e.timestamp, ` + s.healthPropsSQL() + `,
		CASE WHEN e.name = '` + vocab.EventSurveyResponded + `' THEN (SELECT c.role FROM contacts c WHERE c.id = e.user_id) END
		FROM events e WHERE e.id > $1 AND e.id <= $2 AND e.account_id <> '' AND ` + s.healthTypesSQL() + `
		AND ` + s.dialect.consumedCond() + `
		ORDER BY e.id`
	for from := after; from < through; from += HealthScanRange {
		rows, err := q.QueryContext(ctx, query, from, min(from+HealthScanRange, through))
		if err != nil {
			return fmt.Errorf("read events to recompute health: %w", err)
		}
		if err := eachHealthEvent(rows, fn); err != nil {
			return fmt.Errorf("read events to recompute health: %w", err)
		}
	}
	return nil
}

// mappedReader returns a reader for a recompute's reads of the events
// table and a function that gives it back. On SQLite it is a connection of
// the read pool with memory-mapped reads, which cost no system call and no
// copy per page and made a recompute ~2× faster; the setting is per
// connection, so release resets it before the connection goes back to the
// pool. On PostgreSQL it is the read pool.
func (s *Store) mappedReader(ctx context.Context) (Querier, func(), error) {
	if !s.dialect.embedded() {
		return s.read, func() {}, nil
	}
	conn, err := s.read.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA mmap_size = "+strconv.FormatInt(healthMmapBytes, 10)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	release := func() {
		conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA mmap_size = 0") //nolint:errcheck // best effort
		conn.Close()
	}
	return conn, release, nil
}

// healthMmapBytes is the memory map size of a recompute's reads (address
// space, not memory: pages are shared with the OS page cache).
const healthMmapBytes = 1 << 36

// healthTypesSQL selects the events health reads: track, page and screen
// calls, and identify calls that set the role trait (a sponsor or champion
// named, or leaving the role).
func (s *Store) healthTypesSQL() string {
	return "(e.type IN ('track', 'page', 'screen') OR (e.type = 'identify' AND " + s.dialect.jsonHasKey("e.properties", "role") + "))"
}

// healthPropsSQL selects the properties scoring reads, and NULL for the
// rest, so a recompute does not move and decode the properties of every
// event.
func (s *Store) healthPropsSQL() string {
	d := s.dialect
	return "CASE WHEN e.type = 'identify' OR e.name IN ('" + vocab.EventSurveyResponded + "', '" + vocab.EventMilestoneReached + "') OR " +
		d.jsonHasKey("e.properties", "feature") + " THEN " + d.jsonText("e.properties") + " END"
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

// consumedCond keeps, of the events e, those whose health effects are
// stored: the events the ingest stages have consumed (and whose
// reattribution to an account they have handed over), those the fast
// lane consumed ahead of the stages' progress (fastlane.go), and the
// events the stages recorded themselves (milestones reached), which are
// effects.
// Health rebuilt from events reads no others: their effects are still to
// be applied by the stages (stages.go), and counting them here too would
// count them twice.
func (d Dialect) consumedCond() string {
	return "((e.write_key_id = '" + SystemWriteKey + "' AND e.name = '" + vocab.EventMilestoneReached + "') OR (" + d.consumedSQL("e") +
		" AND NOT EXISTS (SELECT 1 FROM reattributed_events r WHERE r.event_id = e.id)) OR e.id IN (SELECT event_id FROM ingest_fast_lane))"
}
