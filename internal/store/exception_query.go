package store

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/moments-cs/moments/internal/vocab"
	"strconv"
	"strings"
	"time"
)

// HealthFilter narrows the health reports. Empty fields match everything,
// except that churned accounts are left out unless Stage asks for them.
type HealthFilter struct {
	Owner   string
	Segment string
	Stage   string
}

// where returns the filter's conditions on accounts a, after " AND ",
// with their parameters numbered after args.
func (f HealthFilter) where(args []any) (string, []any) {
	return f.whereOn("a", args)
}

// whereOn is where on the table of alias t, which has the columns owner,
// segment and lifecycle_stage (accounts, or account_health's copies).
func (f HealthFilter) whereOn(t string, args []any) (string, []any) {
	w := where{args: args}
	w.eq(t+".owner", f.Owner)
	w.eq(t+".segment", f.Segment)
	w.eq(t+".lifecycle_stage", f.Stage)
	if f.Stage == "" {
		// Lost customers are not at risk any more: reports are about the
		// accounts a team can still keep, unless asked for churned ones.
		w.add(t + ".lifecycle_stage <> '" + vocab.StageChurned + "'")
	}
	return w.and(" AND "), w.args
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
	// ExceptionCandidates); 0 returns them all.
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
	// DaysToRenewal counts the whole calendar days (UTC) from the day of
	// the report to the renewal date, negative when it is past; nil
	// without a renewal date.
	DaysToRenewal *int
	// Priority is ARR × renewal proximity, unrounded: the rank's first
	// key.
	Priority float64
	// Warnings are the warnings the account's health raised when last
	// scored (see SaveHealthWarningsTx).
	Warnings HealthWarnings
}

// Renewal proximity, as the exception report ranks by it: ARR × 90 ÷ (90 +
// days to renewal), 1 when the renewal is due, 0.25 without a renewal date.
const (
	RenewalHorizonDays      = 90
	UnknownRenewalProximity = 0.25
)

// ExceptionCandidates returns the exception candidates (accounts behind
// their path, with a usage drop, a falling score, an overdue task, or a
// health warning), from the stored health state, ranked by priority (ARR ×
// renewal proximity), then ARR, then the number of rules met, then id, and
// the number of candidates in all. This is the one place the priority is
// computed: ranking in the database lets a report of the first hundred rows
// at 100,000 accounts read only those rows.
//
// The ranking reads account_health alone: it keeps copies of the account's
// ARR, renewal day, owner, segment and stage, whether a warning is raised
// and from when an open task is overdue, which triggers maintain (migration
// 00028_exception_rank); joining accounts, health_warnings and the tasks for
// every account was most of the report's time. The rows returned are read
// whole from the tables themselves.
func (s *Store) ExceptionCandidates(ctx context.Context, q ExceptionQuery) ([]ExceptionCandidate, int, error) {
	d := s.dialect
	now := q.Now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400
	args := []any{micros(q.DueBefore), q.ScoreDrop, today, micros(q.Now)}
	conds := []string{"h.next_due_at <= $1", "h.usage_drop = 1", "h.combined_baseline - h.combined >= $2",
		"h.overdue_from <= $4", "h.warned = 1"}
	var met []string
	for _, c := range conds {
		met = append(met, "CASE WHEN "+c+" THEN 1 ELSE 0 END")
	}
	// Whole calendar days (UTC) from today to the renewal date, NULL
	// without one.
	daysTo := "h.renewal_day - $3"
	proximity := fmt.Sprintf("CASE WHEN h.renewal_day IS NULL THEN %g ELSE %d.0 / (%d.0 + %s) END",
		UnknownRenewalProximity, RenewalHorizonDays, RenewalHorizonDays, d.greatest(daysTo, "0"))
	filter, args := q.HealthFilter.whereOn("h", args)
	// A scored account with a row in accounts (arr is NULL without one)
	// that meets a rule.
	cond := ` FROM account_health h WHERE h.version > 0 AND h.arr IS NOT NULL AND (` + strings.Join(conds, " OR ") + `)` + filter
	// The overdue tasks are counted only for the accounts that have one.
	overdue := "CASE WHEN h.overdue_from <= $4 THEN (SELECT %s FROM tasks t WHERE t.account_id = h.account_id AND " +
		overdueTaskSQL + ") END"
	cols := `SELECT a.id, a.name, a.plan, a.segment, a.owner, a.lifecycle_stage, a.arr, a.renewal_date,
		COALESCE(` + fmt.Sprintf(overdue, "COUNT(*)") + `, 0), ` + fmt.Sprintf(overdue, "MIN(t.due_at)") + `,
		COALESCE(w.codes, ''), COALESCE(w.texts, '[]'), ` + healthCols + `, ` + daysTo
	tables := ` FROM account_health h JOIN accounts a ON a.id = h.account_id
		LEFT JOIN health_warnings w ON w.account_id = h.account_id`
	ranking := `h.arr * (` + proximity + `) AS priority, ` + strings.Join(met, " + ") + ` AS met`
	var (
		total int
		query string
	)
	if q.Limit > 0 {
		// Two passes over account_health alone: one counts the candidates,
		// the other keeps the first rows by rank; only those are read whole.
		query = cols + `, r.priority, r.met, (SELECT COUNT(*)` + cond + `)
			FROM (SELECT h.account_id AS rid, h.arr AS rarr, ` + ranking + cond + `
				ORDER BY priority DESC, rarr DESC, met DESC, rid LIMIT ` + strconv.Itoa(q.Limit) + `) r
			JOIN account_health h ON h.account_id = r.rid JOIN accounts a ON a.id = r.rid
			LEFT JOIN health_warnings w ON w.account_id = r.rid
			ORDER BY r.priority DESC, r.rarr DESC, r.met DESC, r.rid`
	} else {
		// ($3, the day, and $4, the time, are selected only so that
		// PostgreSQL learns their types.)
		var today, at int64
		if err := s.read.QueryRowContext(ctx, "SELECT COUNT(*), CAST($3 AS BIGINT), CAST($4 AS BIGINT)"+cond, args...).Scan(&total, &today, &at); err != nil {
			return nil, 0, fmt.Errorf("count exceptions: %w", err)
		}
		query = cols + `, ` + ranking + tables + strings.TrimPrefix(cond, " FROM account_health h") +
			` ORDER BY priority DESC, h.arr DESC, met DESC, h.account_id`
	}
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("read exceptions: %w", err)
	}
	defer rows.Close()
	var out []ExceptionCandidate
	for rows.Next() {
		var (
			c      ExceptionCandidate
			oldest sql.NullInt64
			daysTo sql.NullInt64
			met    int
			codes  string
			texts  string
		)
		a := &c.Account
		dest, fill := healthDest(&c.Health)
		dest = append([]any{&a.ID, &a.Name, &a.Plan, &a.Segment, &a.Owner, &a.LifecycleStage, &a.ARR, &a.RenewalDate,
			&c.OverdueTasks, &oldest, &codes, &texts}, dest...)
		dest = append(dest, &daysTo, &c.Priority, &met)
		if q.Limit > 0 {
			dest = append(dest, &total)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, 0, err
		}
		if c.Warnings, err = decodeWarnings(a.ID, codes, texts); err != nil {
			return nil, 0, err
		}
		fill()
		c.Health.AccountID = a.ID
		c.OldestOverdue = timePtr(oldest)
		if daysTo.Valid {
			n := int(daysTo.Int64)
			c.DaysToRenewal = &n
		}
		out = append(out, c)
	}
	return out, total, rows.Err()
}

// overdueTaskSQL is the condition that a task t is open and overdue at
// $4, the time of the report (the account_health.overdue_from the
// triggers of migration 00028_exception_rank keep is the first time it
// holds for one of an account's tasks).
const overdueTaskSQL = `t.status NOT IN ('done', 'cancelled', 'canceled') AND t.due_at IS NOT NULL AND t.due_at < $4
	AND (t.snoozed_until IS NULL OR t.snoozed_until <= $4)`

// QuadrantTotal is one line of the health report: the accounts of a
// quadrant ("" for accounts not scored yet) and their ARR.
type QuadrantTotal struct {
	Quadrant string
	Accounts int
	ARR      float64
}

// QuadrantTotals counts accounts and sums ARR per quadrant.
func (s *Store) QuadrantTotals(ctx context.Context, f HealthFilter) ([]QuadrantTotal, error) {
	filter, args := f.where(nil)
	rows, err := s.read.QueryContext(ctx, `SELECT COALESCE(h.quadrant, ''), COUNT(*), COALESCE(SUM(a.arr), 0)
		FROM accounts a LEFT JOIN account_health h ON h.account_id = a.id AND h.version > 0
		WHERE 1 = 1`+filter+` GROUP BY COALESCE(h.quadrant, '')`, args...)
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
