package ui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/web"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
)

// uiReport is one report of the Reports section. The section is a list of
// these: a capability that adds a report (surveys, moment scorecards,
// funnels, drivers) appends one with its page and CSV, and it appears as a
// card on the index without a redesign.
type uiReport struct {
	ID          string
	Title       string
	Description string
	// Page renders the report's data for the "report_<ID>" template; CSV
	// writes it as CSV. Both get the filter of the request.
	Page func(s *Server, r *http.Request, f reportFilter) (any, error)
	CSV  func(s *Server, r *http.Request, f reportFilter, w io.Writer) error
}

// reportFilter is the filter every report accepts.
type reportFilter struct {
	Owner, Segment, Stage string
}

func (f reportFilter) health() store.HealthFilter {
	return store.HealthFilter{Owner: f.Owner, Segment: f.Segment, Stage: f.Stage}
}

func (f reportFilter) query() map[string]string {
	return map[string]string{"owner": f.Owner, "segment": f.Segment, "stage": f.Stage}
}

// matches reports whether a report counts account a: it matches the
// filter and, unless the filter names a stage, is not churned. That is the
// rule of store.HealthFilter, so that a report's headline counts, its
// chart and its table come from one set of accounts.
func (f reportFilter) matches(a store.Account) bool {
	if f.Stage == "" && a.LifecycleStage == vocab.StageChurned {
		return false
	}
	return (f.Owner == "" || strings.EqualFold(a.Owner, f.Owner)) && (f.Segment == "" || a.Segment == f.Segment) &&
		(f.Stage == "" || a.LifecycleStage == f.Stage)
}

// uiReports lists the reports, in the order of the index.
var uiReports = []uiReport{
	{ID: "exceptions", Title: "Exceptions",
		Description: "Struggling customers — off their success path, losing usage, with overdue tasks or falling health — ranked by ARR at risk and renewal proximity.",
		Page:        exceptionsReport, CSV: exceptionsCSV},
	{ID: "health", Title: "Health quadrant",
		Description: "Every account by behavioural and emotional score, sized by ARR; accounts and ARR per quadrant.",
		Page:        healthReport, CSV: healthCSV},
	{ID: "time-to-value", Title: "Time to value",
		Description: "How long accounts take from contract start to their first value milestone: median, spread and the slowest.",
		Page:        ttvReport, CSV: ttvCSV},
	{ID: "moments", Title: "Runs and tasks by moment",
		Description: "Per moment over the last 90 days: runs started and finished, share on time against the SLA, tasks open, overdue and escalated.",
		Page:        momentsReport, CSV: momentsCSV},
}

func findReport(id string) (uiReport, bool) {
	for _, r := range uiReports {
		if r.ID == id {
			return r, true
		}
	}
	return uiReport{}, false
}

type reportsIndexData struct {
	Reports []uiReport
}

func (s *Server) reportsPage(w http.ResponseWriter, r *http.Request) error {
	v := s.view(r, "reports", "Reports", reportsIndexData{Reports: uiReports})
	v.Subtitle = "Across all accounts; each report filters by owner, segment and stage and downloads as CSV"
	s.render(w, r, http.StatusOK, "reports", v)
	return nil
}

type reportPageData struct {
	Report  uiReport
	Filter  reportFilter
	Query   map[string]string
	CSVURL  string
	Owners  []string
	Segs    []string
	Stages  []string
	Content any
}

// reportPage renders one report, or its CSV when the last path segment
// ends in ".csv" (/reports/exceptions.csv).
func (s *Server) reportPage(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("report")
	id, asCSV := strings.CutSuffix(name, ".csv")
	rep, ok := findReport(id)
	if !ok {
		return uiNotFound("There is no report " + strconv.Quote(name) + ". See the list under Reports.")
	}
	q := r.URL.Query()
	f := reportFilter{Owner: q.Get("owner"), Segment: q.Get("segment"), Stage: q.Get("stage")}
	if asCSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="moments-%s-%s.csv"`, id, s.Now().Format("2006-01-02")))
		w.Header().Set("Cache-Control", "no-store")
		if err := rep.CSV(s, r, f, w); err != nil {
			// The header may be sent already; the log has the detail.
			s.Logger.ErrorContext(r.Context(), "csv report failed", "report", id, "err", err)
		}
		return nil
	}
	content, err := rep.Page(s, r, f)
	if errors.Is(err, errHealthOff) {
		return &web.Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "Health is not running on this server, so this report cannot be built."}
	}
	if err != nil {
		return err
	}
	d := reportPageData{Report: rep, Filter: f, Query: f.query(), Content: content}
	d.CSVURL = "/reports/" + id + ".csv" + strings.TrimPrefix(queryWith(d.Query), "?")
	if qs := queryWith(d.Query); qs != "?" {
		d.CSVURL = "/reports/" + id + ".csv" + qs
	} else {
		d.CSVURL = "/reports/" + id + ".csv"
	}
	if accts, err := s.ownedAccounts(r.Context(), ""); err == nil {
		o, sg, st := map[string]bool{}, map[string]bool{}, map[string]bool{}
		for _, a := range accts {
			o[a.Owner], sg[a.Segment], st[a.LifecycleStage] = true, true, true
		}
		d.Owners, d.Segs, d.Stages = keysOf(o), keysOf(sg), keysOf(st)
	}
	v := s.view(r, "reports", rep.Title, d)
	v.Subtitle = rep.Description
	s.render(w, r, http.StatusOK, "report_"+strings.ReplaceAll(id, "-", "_"), v)
	return nil
}

var errHealthOff = errors.New("health is not running")

// --- exceptions -----------------------------------------------------------------

type exceptionsData struct {
	Report report.ExceptionReport
	Chart  template.HTML
	ARR    float64
}

func exceptionsReport(s *Server, r *http.Request, f reportFilter) (any, error) {
	if s.Health == nil {
		return nil, errHealthOff
	}
	rep, err := report.Exceptions(r.Context(), s.Store, report.ExceptionFilter{HealthFilter: f.health()}, s.Now())
	if err != nil {
		return nil, err
	}
	d := exceptionsData{Report: rep}
	byReason := map[string]float64{}
	counts := map[string]int{}
	for _, e := range rep.Exceptions {
		d.ARR += e.ARRAtRisk
		for _, reason := range e.Reasons {
			byReason[reason.Code] += e.ARRAtRisk
			counts[reason.Code]++
		}
	}
	labels := map[string]string{report.ReasonOffPath: "off the success path", report.ReasonUsageGap: "usage gap",
		report.ReasonOverdueTask: "overdue task", report.ReasonFallingScore: "falling health",
		report.ReasonLowHealth: "low health", report.ReasonDecliningUsage: "declining usage", report.ReasonSponsorLeft: "sponsor left",
		report.ReasonUnansweredSurveys: "unanswered surveys"}
	var bars []bar
	for _, code := range []string{report.ReasonOffPath, report.ReasonUsageGap, report.ReasonOverdueTask, report.ReasonFallingScore,
		report.ReasonLowHealth, report.ReasonDecliningUsage, report.ReasonSponsorLeft, report.ReasonUnansweredSurveys} {
		bars = append(bars, bar{Label: fmt.Sprintf("%s (%d)", labels[code], counts[code]), Value: byReason[code],
			Text: money(byReason[code]) + " ARR", Class: "bar-poor"})
	}
	d.Chart = barChart("exc", "ARR at risk by reason (an account with two reasons counts under both)", bars)
	return d, nil
}

func exceptionsCSV(s *Server, r *http.Request, f reportFilter, w io.Writer) error {
	if s.Health == nil {
		return errHealthOff
	}
	rep, err := report.Exceptions(r.Context(), s.Store, report.ExceptionFilter{HealthFilter: f.health()}, s.Now())
	if err != nil {
		return err
	}
	return report.WriteExceptionsCSV(w, rep)
}

// --- health quadrant --------------------------------------------------------------

type healthData struct {
	Report   report.HealthReport
	Scatter  template.HTML
	Bars     template.HTML
	Plotted  int
	Unplaced int
	// Churned is how many churned accounts the report leaves out (when no
	// stage is chosen), from its counts, its chart and its table alike.
	Churned int
	BT, ET  float64
}

// accountHealths reads the stored health of the accounts that f matches;
// churned counts the churned accounts left out because f names no stage.
func (s *Server) accountHealths(ctx context.Context, f reportFilter) (accts []store.Account, hs map[string]store.AccountHealth, churned int, err error) {
	all, err := s.ownedAccounts(ctx, "")
	if err != nil {
		return nil, nil, 0, err
	}
	hs = map[string]store.AccountHealth{}
	for _, a := range all {
		if !f.matches(a) {
			if a.LifecycleStage == vocab.StageChurned && (reportFilter{Owner: f.Owner, Segment: f.Segment, Stage: vocab.StageChurned}).matches(a) {
				churned++
			}
			continue
		}
		accts = append(accts, a)
		h, err := s.Store.AccountHealth(ctx, a.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, 0, err
		}
		hs[a.ID] = h
	}
	return accts, hs, churned, nil
}

func (s *Server) quadrantThresholds(ctx context.Context) (float64, float64) {
	bt, et := float64(journey.DefaultQuadrantThreshold), float64(journey.DefaultQuadrantThreshold)
	if m, _, err := s.liveMap(ctx); err == nil && m != nil {
		if v := m.Health.Quadrant.Behavioural; v > 0 {
			bt = v
		}
		if v := m.Health.Quadrant.Emotional; v > 0 {
			et = v
		}
	}
	return bt, et
}

func healthReport(s *Server, r *http.Request, f reportFilter) (any, error) {
	if s.Health == nil {
		return nil, errHealthOff
	}
	ctx := r.Context()
	rep, err := report.Health(ctx, s.Store, f.health(), s.Now())
	if err != nil {
		return nil, err
	}
	accts, hs, churned, err := s.accountHealths(ctx, f)
	if err != nil {
		return nil, err
	}
	d := healthData{Report: rep, Churned: churned}
	d.BT, d.ET = s.quadrantThresholds(ctx)
	var pts []scatterPoint
	for _, a := range accts {
		h, ok := hs[a.ID]
		if !ok || h.Behavioural == nil || h.Emotional == nil {
			d.Unplaced++
			continue
		}
		pts = append(pts, scatterPoint{ID: a.ID, Name: cmp.Or(a.Name, a.ID), Behavioural: *h.Behavioural, Emotional: *h.Emotional,
			ARR: a.ARR, Quadrant: cmp.Or(h.Quadrant, "unknown")})
	}
	d.Plotted = len(pts)
	d.Scatter = healthScatter(pts, d.BT, d.ET)
	var bars []bar
	for _, q := range rep.Quadrants {
		bars = append(bars, bar{Label: q.Label, Value: q.ARR, Text: money(q.ARR) + " · " + plural(q.Accounts, "account", "accounts"), Class: "bar-" + q.Quadrant})
	}
	d.Bars = barChart("quad", "ARR per quadrant", bars)
	return d, nil
}

func fmtScore(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(math.Round(*p*10)/10, 'f', -1, 64)
}

func healthCSV(s *Server, r *http.Request, f reportFilter, out io.Writer) error {
	w := report.NewCSVWriter(out)
	defer w.Flush()
	accts, hs, _, err := s.accountHealths(r.Context(), f)
	if err != nil {
		return err
	}
	_ = w.Write([]string{"account_id", "account_name", "owner", "segment", "stage", "arr", "renewal_date",
		"behavioural", "emotional", "combined", "quadrant"})
	for _, a := range accts {
		h := hs[a.ID]
		q := h.Quadrant
		if _, ok := hs[a.ID]; !ok {
			q = report.NotScored
		}
		if err := w.Write([]string{a.ID, a.Name, a.Owner, a.Segment, a.LifecycleStage, strconv.FormatFloat(a.ARR, 'f', -1, 64),
			a.RenewalDate, fmtScore(h.Behavioural), fmtScore(h.Emotional), fmtScore(h.Combined), q}); err != nil {
			return err
		}
	}
	return nil
}

// --- time to value ------------------------------------------------------------------

type ttvRow struct {
	Account store.Account
	Days    float64
	Path    string
}

type ttvData struct {
	Rows        []ttvRow
	Slowest     []ttvRow
	Reached     int
	Waiting     int
	Median, P25 float64
	P75, P90    float64
	Chart       template.HTML
	PeriodNote  string
}

const day = 24 * time.Hour

func (s *Server) ttvRows(ctx context.Context, f reportFilter) ([]ttvRow, int, error) {
	accts, hs, _, err := s.accountHealths(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	var rows []ttvRow
	waiting := 0
	for _, a := range accts {
		h, ok := hs[a.ID]
		if !ok || h.PathID == "" {
			continue
		}
		if h.TimeToValue == nil {
			waiting++
			continue
		}
		rows = append(rows, ttvRow{Account: a, Days: float64(*h.TimeToValue) / float64(day), Path: h.PathID})
	}
	slices.SortFunc(rows, func(a, b ttvRow) int { return cmp.Compare(a.Days, b.Days) })
	return rows, waiting, nil
}

func quantile(sorted []ttvRow, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo].Days + (sorted[hi].Days-sorted[lo].Days)*(pos-float64(lo))
}

func ttvReport(s *Server, r *http.Request, f reportFilter) (any, error) {
	if s.Health == nil {
		return nil, errHealthOff
	}
	rows, waiting, err := s.ttvRows(r.Context(), f)
	if err != nil {
		return nil, err
	}
	d := ttvData{Rows: rows, Reached: len(rows), Waiting: waiting}
	if len(rows) > 0 {
		d.P25, d.Median, d.P75, d.P90 = quantile(rows, .25), quantile(rows, .5), quantile(rows, .75), quantile(rows, .9)
		// A histogram in weekly bins up to 12 weeks, then one "later" bin.
		bins := make([]int, 13)
		for _, row := range rows {
			bins[min(int(row.Days/7), 12)]++
		}
		var bars []bar
		for i, n := range bins {
			label := fmt.Sprintf("%d–%d days", i*7, i*7+6)
			if i == 12 {
				label = "84 days or more"
			}
			bars = append(bars, bar{Label: label, Value: float64(n), Text: plural(n, "account", "accounts")})
		}
		d.Chart = barChart("ttv", "Accounts by time to value, in weeks", bars)
		n := min(10, len(rows))
		d.Slowest = slices.Clone(rows[len(rows)-n:])
		slices.Reverse(d.Slowest)
	}
	return d, nil
}

func ttvCSV(s *Server, r *http.Request, f reportFilter, out io.Writer) error {
	w := report.NewCSVWriter(out)
	defer w.Flush()
	rows, _, err := s.ttvRows(r.Context(), f)
	if err != nil {
		return err
	}
	_ = w.Write([]string{"account_id", "account_name", "owner", "segment", "path", "time_to_value_days"})
	for _, row := range rows {
		if err := w.Write([]string{row.Account.ID, row.Account.Name, row.Account.Owner, row.Account.Segment, row.Path,
			strconv.FormatFloat(math.Round(row.Days*10)/10, 'f', -1, 64)}); err != nil {
			return err
		}
	}
	return nil
}

// --- runs and tasks by moment -------------------------------------------------------

type momentsData struct {
	Rows  []*momentDelivery
	Chart template.HTML
	Days  int
}

func (s *Server) deliveryRows(ctx context.Context) ([]*momentDelivery, error) {
	m, _, err := s.liveMap(ctx)
	if err != nil {
		return nil, err
	}
	byID, order, err := s.momentDeliveries(ctx, m)
	if err != nil {
		return nil, err
	}
	rows := make([]*momentDelivery, 0, len(order))
	for _, id := range order {
		rows = append(rows, byID[id])
	}
	return rows, nil
}

func momentsReport(s *Server, r *http.Request, _ reportFilter) (any, error) {
	rows, err := s.deliveryRows(r.Context())
	if err != nil {
		return nil, err
	}
	d := momentsData{Rows: rows, Days: deliveryDays}
	var bars []bar
	for _, row := range rows {
		if row.Runs == 0 {
			continue
		}
		text := plural(row.Runs, "run", "runs")
		if share := row.OnTimeShare(); share >= 0 {
			text += ", " + percent(share) + " on time"
		}
		bars = append(bars, bar{Label: row.Name, Value: float64(row.Runs), Text: text, Class: "bar-" + row.Grade()})
	}
	if len(bars) > 0 {
		d.Chart = barChart("mom", "Runs per moment in the last 90 days, coloured by delivery against the SLA", bars)
	}
	return d, nil
}

func momentsCSV(s *Server, r *http.Request, _ reportFilter, out io.Writer) error {
	w := report.NewCSVWriter(out)
	defer w.Flush()
	rows, err := s.deliveryRows(r.Context())
	if err != nil {
		return err
	}
	_ = w.Write([]string{"moment_id", "moment_name", "stage", "owner", "sla", "runs", "running", "done", "failed",
		"on_time", "late", "on_time_share", "tasks", "tasks_open", "tasks_overdue", "tasks_done", "tasks_escalated"})
	for _, d := range rows {
		share := ""
		if v := d.OnTimeShare(); v >= 0 {
			share = strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
		}
		i := strconv.Itoa
		if err := w.Write([]string{d.MomentID, d.Name, d.Stage, d.Owner, d.SLA, i(d.Runs), i(d.Running), i(d.Done), i(d.Failed),
			i(d.OnTime), i(d.Late), share, i(d.Tasks), i(d.TasksOpen), i(d.TasksOverdue), i(d.TasksDone), i(d.Escalated)}); err != nil {
			return err
		}
	}
	return nil
}
