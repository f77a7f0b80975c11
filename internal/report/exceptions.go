// Package report builds the reports a CS team reads across accounts: the
// exception report (struggling customers, ranked by revenue at risk and
// renewal proximity) and the health report (accounts and ARR per quadrant).
// Reports read the health state that ingestion keeps (internal/health/
// tracker), never raw events, so they stay fast as events grow.
package report

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/store"
)

// DefaultBehindDays is how many days behind its success path an account
// must be to be an exception, unless the report asks otherwise.
const DefaultBehindDays = 7

// Reason codes of an exception.
const (
	ReasonOffPath      = "off_path"
	ReasonUsageGap     = "usage_gap"
	ReasonOverdueTask  = "overdue_task"
	ReasonFallingScore = "falling_score"
	// The reasons health raises by itself (see health.Warnings), as
	// recorded when the account was last scored.
	ReasonLowHealth      = health.WarningLowHealth
	ReasonDecliningUsage = health.WarningDecliningUsage
	ReasonSponsorLeft    = health.WarningSponsorLeft
	// ReasonUnansweredSurveys is raised from the surveys Moments sent (see
	// health.UnansweredSurveys), recorded with the warnings.
	ReasonUnansweredSurveys = health.WarningUnansweredSurveys
)

// RenewalHorizonDays shapes the renewal proximity: a renewal this many days
// away weighs half as much as one due today.
const RenewalHorizonDays = store.RenewalHorizonDays

// Ranking explains the order of the report, for its readers.
const Ranking = "priority = ARR at risk × renewal proximity, where proximity = 90 ÷ (90 + days to renewal): 1 when the renewal is today or past, 0.5 at 90 days, 0.2 at a year; 0.25 when the renewal date is unknown"

// ExceptionFilter narrows the exception report.
type ExceptionFilter struct {
	store.HealthFilter
	// BehindDays is how many whole days behind the next milestone's due
	// date an account must be to be off its path; 0 means
	// DefaultBehindDays.
	BehindDays int
	// Limit bounds the rows returned (the total is still counted); 0 means
	// every row.
	Limit int
}

// Reason is one reason an account is an exception.
type Reason struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// Exception is one row of the exception report.
type Exception struct {
	Rank          int      `json:"rank"`
	AccountID     string   `json:"account_id"`
	AccountName   string   `json:"account_name"`
	Owner         string   `json:"owner"`
	Segment       string   `json:"segment"`
	Stage         string   `json:"stage"`
	ARRAtRisk     float64  `json:"arr_at_risk"`
	RenewalDate   string   `json:"renewal_date"`
	DaysToRenewal *int     `json:"days_to_renewal"`
	Priority      float64  `json:"priority"`
	Quadrant      string   `json:"quadrant"`
	Combined      *float64 `json:"combined"`
	DaysBehind    int      `json:"days_behind"`
	NextMilestone string   `json:"next_milestone"`
	Reasons       []Reason `json:"reasons"`
}

// ExceptionReport is the exception report.
type ExceptionReport struct {
	At         time.Time   `json:"at"`
	BehindDays int         `json:"behind_days"`
	Ranking    string      `json:"ranking"`
	Total      int         `json:"total"`
	Exceptions []Exception `json:"exceptions"`
}

// Exceptions builds the exception report at now: accounts behind their
// success path by at least BehindDays, with a usage gap (the usage_drop
// signal), with an overdue task, or whose combined score fell by
// tracker.FallingScorePoints or more over tracker.FallingScoreDays, or
// whose health raised a warning when last scored (low health, declining
// usage, sponsor left, unanswered surveys); each with its reasons, ranked by priority (see
// Ranking).
func Exceptions(ctx context.Context, st *store.Store, f ExceptionFilter, now time.Time) (ExceptionReport, error) {
	behind := f.BehindDays
	if behind <= 0 {
		behind = DefaultBehindDays
	}
	rep := ExceptionReport{At: now, BehindDays: behind, Ranking: Ranking, Exceptions: []Exception{}}
	const day = 24 * time.Hour
	cands, total, err := st.ExceptionCandidates(ctx, store.ExceptionQuery{
		HealthFilter: f.HealthFilter, Now: now,
		DueBefore: now.Add(-time.Duration(behind) * day),
		ScoreDrop: tracker.FallingScorePoints,
		Limit:     f.Limit,
	})
	if err != nil {
		return rep, err
	}
	for _, c := range cands {
		h := c.Health
		e := Exception{
			AccountID: c.Account.ID, AccountName: c.Account.Name, Owner: c.Account.Owner, Segment: c.Account.Segment,
			Stage: c.Account.LifecycleStage, ARRAtRisk: c.Account.ARR, RenewalDate: c.Account.RenewalDate,
			Quadrant: h.Quadrant, Combined: h.Combined, DaysBehind: h.DaysBehind(now), NextMilestone: h.NextMilestone,
		}
		if e.DaysBehind >= behind {
			name := h.NextMilestoneName
			if name == "" {
				name = h.NextMilestone
			}
			e.Reasons = append(e.Reasons, Reason{ReasonOffPath, fmt.Sprintf("%s behind on %q (due %s, path %s)",
				days(e.DaysBehind), name, h.NextDueAt.Format(time.DateOnly), h.PathID)})
		}
		if h.UsageDrop {
			e.Reasons = append(e.Reasons, Reason{ReasonUsageGap, fmt.Sprintf(
				"usage fell: %d events in the last window against %d in the one before", h.UsageLast, h.UsagePrevious)})
		}
		if c.OverdueTasks > 0 {
			text := fmt.Sprintf("%d overdue %s", c.OverdueTasks, plural(c.OverdueTasks, "task", "tasks"))
			if c.OldestOverdue != nil {
				text += fmt.Sprintf(", the oldest due %s", c.OldestOverdue.Format(time.DateOnly))
			}
			e.Reasons = append(e.Reasons, Reason{ReasonOverdueTask, text})
		}
		if h.Combined != nil && h.CombinedBaseline != nil && *h.CombinedBaseline-*h.Combined >= tracker.FallingScorePoints {
			e.Reasons = append(e.Reasons, Reason{ReasonFallingScore, fmt.Sprintf(
				"combined health fell %.0f points in %d days (%.0f → %.0f)", *h.CombinedBaseline-*h.Combined,
				tracker.FallingScoreDays, *h.CombinedBaseline, *h.Combined)})
		}
		for i, code := range c.Warnings.Codes {
			text := ""
			if i < len(c.Warnings.Texts) {
				text = c.Warnings.Texts[i]
			}
			e.Reasons = append(e.Reasons, Reason{code, text})
		}
		if len(e.Reasons) == 0 {
			// Unreachable: the store selects exactly the accounts that meet
			// a rule. Kept so that a disagreement shows as a missing row,
			// not a row without a reason.
			total--
			continue
		}
		// The store ranks the candidates and computes their priority; the
		// report shows it to the cent.
		e.DaysToRenewal = c.DaysToRenewal
		e.Priority = math.Round(c.Priority*100) / 100
		rep.Exceptions = append(rep.Exceptions, e)
	}
	rep.Total = total
	for i := range rep.Exceptions {
		rep.Exceptions[i].Rank = i + 1
	}
	return rep, nil
}

func days(n int) string { return strconv.Itoa(n) + " " + plural(n, "day", "days") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ExceptionColumns are the CSV columns of the exception report.
var ExceptionColumns = []string{"rank", "account_id", "account_name", "owner", "segment", "stage", "arr_at_risk",
	"renewal_date", "days_to_renewal", "priority", "quadrant", "combined", "days_behind", "next_milestone", "reasons"}

// WriteExceptionsCSV writes the report as CSV with a header row; reasons
// are joined with "; ".
func WriteExceptionsCSV(w io.Writer, rep ExceptionReport) error {
	cw := NewCSVWriter(w)
	if err := cw.Write(ExceptionColumns); err != nil {
		return err
	}
	for _, e := range rep.Exceptions {
		if err := cw.Write(exceptionRecord(e)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func exceptionRecord(e Exception) []string {
	var reasons []string
	for _, r := range e.Reasons {
		reasons = append(reasons, r.Text)
	}
	return []string{strconv.Itoa(e.Rank), e.AccountID, e.AccountName, e.Owner, e.Segment, e.Stage, money(e.ARRAtRisk),
		e.RenewalDate, intPtr(e.DaysToRenewal), money(e.Priority), e.Quadrant, score(e.Combined), strconv.Itoa(e.DaysBehind),
		e.NextMilestone, strings.Join(reasons, "; ")}
}

func money(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func intPtr(v *int) string {
	if v == nil {
		return ""
	}
	return strconv.Itoa(*v)
}

func score(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(math.Round(*v), 'f', 0, 64)
}

// QuadrantLabel names a quadrant for people; "" (an account not scored
// yet) is "not scored".
func QuadrantLabel(q string) string {
	if q == "" {
		return "not scored"
	}
	return health.Quadrant(q).Label()
}
