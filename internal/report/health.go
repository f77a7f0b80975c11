package report

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/store"
)

// QuadrantLine is one quadrant of the health report.
type QuadrantLine struct {
	// Quadrant is champion, captive, dormant_fan, at_risk, unknown
	// (behaviour only) or not_scored (no health computed yet).
	Quadrant string  `json:"quadrant"`
	Label    string  `json:"label"`
	Accounts int     `json:"accounts"`
	ARR      float64 `json:"arr"`
}

// HealthReport counts accounts and ARR per quadrant.
type HealthReport struct {
	At        time.Time      `json:"at"`
	Accounts  int            `json:"accounts"`
	ARR       float64        `json:"arr"`
	Quadrants []QuadrantLine `json:"quadrants"`
}

// NotScored is the quadrant of accounts without health yet.
const NotScored = "not_scored"

// quadrantOrder lists every line of the report, best first.
var quadrantOrder = []string{string(health.QuadrantChampion), string(health.QuadrantCaptive), string(health.QuadrantDormantFan),
	string(health.QuadrantAtRisk), string(health.QuadrantUnknown), NotScored}

// Health builds the health report from the stored state.
func Health(ctx context.Context, st *store.Store, f store.HealthFilter, now time.Time) (HealthReport, error) {
	rep := HealthReport{At: now}
	totals, err := st.QuadrantTotals(ctx, f)
	if err != nil {
		return rep, err
	}
	by := map[string]store.QuadrantTotal{}
	for _, t := range totals {
		q := t.Quadrant
		if q == "" {
			q = NotScored
		}
		prev := by[q]
		by[q] = store.QuadrantTotal{Quadrant: q, Accounts: prev.Accounts + t.Accounts, ARR: prev.ARR + t.ARR}
	}
	for _, q := range quadrantOrder {
		t := by[q]
		label := "not scored"
		if q != NotScored {
			label = health.Quadrant(q).Label()
		}
		rep.Quadrants = append(rep.Quadrants, QuadrantLine{Quadrant: q, Label: label, Accounts: t.Accounts, ARR: t.ARR})
		rep.Accounts += t.Accounts
		rep.ARR += t.ARR
	}
	return rep, nil
}

// WriteHealthCSV writes the health report as CSV with a header row.
func WriteHealthCSV(w io.Writer, rep HealthReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"quadrant", "label", "accounts", "arr"}); err != nil {
		return err
	}
	for _, q := range rep.Quadrants {
		if err := cw.Write([]string{q.Quadrant, q.Label, strconv.Itoa(q.Accounts), money(q.ARR)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
