package ui

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/web"
)

// The moment analytics pages: scorecards (with one moment's ideal process
// against the actual one at ?moment=), funnels by account and time to
// value as a survival curve. They join the Reports section through
// uiReports, so the index lists them without a redesign.
func init() {
	uiReports = append(uiReports,
		uiReport{ID: "scorecards", Title: "Moment scorecards",
			Description: "Every moment's quantity, quality, cost and time against the previous period, its ideal process against what actually happened, ranked by importance × gap: the one to fix next first.",
			Page:        scorecardsReport, CSV: scorecardsCSV},
		uiReport{ID: "funnel", Title: "Funnel by account",
			Description: "Accounts through a success path's milestones or any ordered events: conversion and median days between steps, by segment, plan or cohort.",
			Page:        funnelReport, CSV: funnelCSV},
		uiReport{ID: "survival", Title: "Time to value, counting those on the way",
			Description: "The share of accounts that reached value by each day since contract start (Kaplan–Meier), so accounts still on their way count instead of being dropped; by segment or cohort.",
			Page:        survivalReport, CSV: survivalCSV},
	)
}

// pctText shows a fraction as a whole percentage, "—" when unknown.
func pctText(v *float64) string {
	if v == nil {
		return "—"
	}
	return strconv.FormatFloat(*v*100, 'f', 0, 64) + "%"
}

// daysValue shows days with one decimal, "—" when unknown.
func daysValue(v *float64) string {
	if v == nil {
		return "—"
	}
	return strconv.FormatFloat(*v, 'f', 1, 64) + " d"
}

// reportQuery is the request's query without the report filter's empty
// values, for links that keep the page's choices (the CSV download).
func reportQuery(r *http.Request, path string) string {
	q := url.Values{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 && vs[0] != "" {
			q.Set(k, vs[0])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// scoreRow is one moment on the scorecards page, formatted.
type scoreRow struct {
	Rank                                        int
	ID, Name, Owner                             string
	Importance, Occurrences, Previous, Accounts int
	Conformance, Median, P90, NotReached, SLA   string
	NoEscalation, Score, Cost, Weakest, Slowest string
	Trend                                       string
}

// idealRow is one ideal step on a moment's page, formatted.
type idealRow struct {
	N                                      int
	Step, Owner, Within, Evidence          string
	Observable                             bool
	Due, OutOfOrder                        int
	Done, DoneRange, OnTime, Median, Delay string
}

type scorecardsData struct {
	Days int
	// PeriodChoices are the periods the page offers.
	PeriodChoices []int
	Period        string
	Rows          []scoreRow
	Chart         template.HTML
	CSV           string
	// Moment is set on one moment's page (?moment=).
	Moment     *report.Scorecard
	MomentRow  scoreRow
	IdealTable template.HTML
	IdealChart template.HTML
	NoMap      bool
}

func formatScore(s report.Scorecard) scoreRow {
	row := scoreRow{Rank: s.Rank, ID: s.Moment, Name: s.Name, Owner: s.Owner, Importance: s.Importance, Occurrences: s.Occurrences,
		Previous: s.Previous.Occurrences, Accounts: s.Quantity.Accounts, Conformance: pctText(s.Conformance.Conformance),
		Median: daysValue(s.Time.MedianDays), P90: daysValue(s.Time.P90Days), NotReached: pctText(s.Time.NotReachedShare),
		NoEscalation: pctText(s.Quality.WithoutEscalation.Share), Score: "—", Cost: "—", Weakest: s.Conformance.MostMissed,
		SLA: "—"}
	if s.Quality.SLA != nil {
		row.SLA = pctText(s.Quality.SLA.Share)
	}
	if s.Quality.Score != nil {
		row.Score = fmt.Sprintf("%.1f (n=%d)", *s.Quality.Score, s.Quality.Answers)
	}
	if s.Cost.PerOccurrence != nil {
		row.Cost = fmt.Sprintf("%.0f min", *s.Cost.PerOccurrence)
	}
	if s.Conformance.Slowest != "" {
		row.Slowest = s.Conformance.Slowest + " (" + s.Conformance.SlowestOwner + ")"
	}
	if s.Trend.Conformance != nil {
		row.Trend = fmt.Sprintf("%+.0f pts", *s.Trend.Conformance*100)
	}
	return row
}

func scorecardsReport(s *Server, r *http.Request, _ reportFilter) (any, error) {
	days, err := report.ScorecardParams(r.URL.Query())
	if err != nil {
		return nil, uiReportError(err)
	}
	m, _, err := s.liveMap(r.Context())
	if err != nil {
		return nil, err
	}
	d := scorecardsData{Days: days, PeriodChoices: periodChoices(days), CSV: reportQuery(r, "/reports/scorecards.csv"), NoMap: m == nil}
	if m == nil {
		return d, nil
	}
	now := s.Now().UTC()
	if id := r.URL.Query().Get("moment"); id != "" {
		sc, err := report.MomentScorecard(r.Context(), s.Store, m, id, days, now)
		if err != nil {
			return nil, uiReportError(err)
		}
		d.Moment, d.MomentRow = &sc, formatScore(sc)
		var rows []idealRow
		rows, d.IdealChart = idealRows(sc)
		d.IdealTable = idealTable(rows)
		return d, nil
	}
	rep, err := report.Scorecards(r.Context(), s.Store, m, days, now)
	if err != nil {
		return nil, err
	}
	d.Period = rep.Period.From.Format("2 Jan 2006") + " – " + rep.Period.To.Format("2 Jan 2006")
	var bars []bar
	for _, sc := range rep.Moments {
		d.Rows = append(d.Rows, formatScore(sc))
		if sc.Priority != nil && *sc.Priority > 0 {
			bars = append(bars, bar{Label: sc.Name, Value: *sc.Priority,
				Text: fmt.Sprintf("%.2f = %d/20 × %s gap", *sc.Priority, sc.Importance, pctText(sc.Gap)), Class: "bar-poor"})
		}
	}
	if len(bars) > 10 {
		bars = bars[:10]
	}
	if len(bars) > 0 {
		d.Chart = barChart("priority", "Moments to fix next: importance × gap", bars)
	}
	return d, nil
}

// periodChoices are the usual periods, plus the one asked for.
func periodChoices(days int) []int {
	out := []int{30, 90, 180, 365}
	if !slices.Contains(out, days) {
		out = append(out, days)
		slices.Sort(out)
	}
	return out
}

// idealRows formats a moment's ideal steps and charts their on-time
// shares.
func idealRows(sc report.Scorecard) ([]idealRow, template.HTML) {
	var rows []idealRow
	var bars []bar
	for i, st := range sc.Ideal {
		row := idealRow{N: i + 1, Step: st.Step, Owner: st.Owner, Within: st.Within, Evidence: st.Evidence,
			Observable: st.Observable, Due: st.Due, OutOfOrder: st.OutOfOrder, Done: pctText(st.DoneShare),
			OnTime: pctText(st.OnTimeShare), Median: daysValue(st.MedianDays), Delay: daysValue(st.MedianDelayDays)}
		if st.DoneLow != nil && st.DoneHigh != nil {
			row.DoneRange = pctText(st.DoneLow) + "–" + pctText(st.DoneHigh)
		}
		rows = append(rows, row)
		if st.Observable && st.OnTimeShare != nil {
			bars = append(bars, bar{Label: fmt.Sprintf("%d. %s", i+1, st.Step), Value: *st.OnTimeShare,
				Text:  fmt.Sprintf("%s on time, %s done (of %d)", pctText(st.OnTimeShare), pctText(st.DoneShare), st.Due),
				Class: gradeClass(*st.OnTimeShare)})
		}
	}
	if len(bars) == 0 {
		return rows, ""
	}
	return rows, shareChart("ideal", "On-time share of each ideal step", bars)
}

// idealTableHTML is the table of ideal steps against the actual figures,
// shown on a moment's page and its scorecard.
var idealTableHTML = template.Must(template.New("ideal").Parse(`<div class="table-wrap"><table>
<thead><tr><th scope="col">#</th><th scope="col">Ideal step</th><th scope="col">Owner</th><th scope="col">Within</th><th scope="col">Shown by</th><th scope="col" class="num">Due</th><th scope="col" class="num">Done</th><th scope="col" class="num">On time</th><th scope="col" class="num">Median</th><th scope="col" class="num">Delay vs target</th><th scope="col" class="num">Out of order</th></tr></thead>
<tbody>{{range .}}<tr><td>{{.N}}</td><td>{{.Step}}</td><td>{{.Owner}}</td><td>{{with .Within}}{{.}}{{else}}<span class="muted">—</span>{{end}}</td>
{{if .Observable}}<td><code>{{.Evidence}}</code></td><td class="num">{{.Due}}</td><td class="num">{{.Done}}{{with .DoneRange}}<div class="small muted">{{.}}</div>{{end}}</td><td class="num">{{.OnTime}}</td><td class="num">{{.Median}}</td><td class="num">{{.Delay}}</td><td class="num">{{.OutOfOrder}}</td>
{{else}}<td colspan="7"><span class="badge b-none">not observable</span> <span class="small muted">name an <code>event</code> or a <code>task</code> on this step in the map to measure it</span></td>{{end}}</tr>{{end}}</tbody></table></div>
<p class="small muted">An occurrence counts for a step once the step was done or its deadline (start + within) passed; "—" means no data yet.</p>`))

// idealTable renders the rows with idealTableHTML.
func idealTable(rows []idealRow) template.HTML {
	var b strings.Builder
	if err := idealTableHTML.Execute(&b, rows); err != nil {
		return template.HTML(template.HTMLEscapeString("The ideal steps could not be shown: " + err.Error()))
	}
	return template.HTML(b.String()) //nolint:gosec // produced by html/template
}

// momentIdeal is the ideal-against-actual section of a moment's page.
type momentIdeal struct {
	Days        int
	Occurrences int
	Conformance string
	MostMissed  string
	Slowest     string
	Table       template.HTML
	Chart       template.HTML
}

// momentIdealFigures computes the section, or nil when it cannot (the
// page still shows the moment; the log has the error).
func (s *Server) momentIdealFigures(r *http.Request, m *journey.Map, id string) *momentIdeal {
	sc, err := report.MomentScorecard(r.Context(), s.Store, m, id, report.DefaultDays, s.Now().UTC())
	if err != nil {
		s.Logger.WarnContext(r.Context(), "moment figures not computed", "moment", id, "err", err)
		return nil
	}
	mi := &momentIdeal{Days: report.DefaultDays, Occurrences: sc.Occurrences, Conformance: pctText(sc.Conformance.Conformance),
		MostMissed: sc.Conformance.MostMissed}
	if sc.Conformance.Slowest != "" {
		mi.Slowest = sc.Conformance.Slowest + " (" + sc.Conformance.SlowestOwner + ")"
	}
	var rows []idealRow
	rows, mi.Chart = idealRows(sc)
	mi.Table = idealTable(rows)
	return mi
}

// gradeClass colours an on-time share: good from 90 %, fair from 70 %.
func gradeClass(share float64) string {
	switch {
	case share >= 0.9:
		return "bar-good"
	case share >= 0.7:
		return "bar-fair"
	}
	return "bar-poor"
}

// shareChart draws horizontal bars of shares on a fixed 0–100 % scale, so
// a step done a quarter of the time never looks complete.
func shareChart(id, title string, bars []bar) template.HTML {
	const w, rowH, labelW, valueW = 640.0, 24.0, 220.0, 190.0
	plotW := w - labelW - valueW
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="%s-t" xmlns="http://www.w3.org/2000/svg">`,
		w, rowH*float64(len(bars))+8, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, id, template.HTMLEscapeString(title))
	for i, x := range bars {
		yy := 4 + float64(i)*rowH
		label := x.Label
		if len([]rune(label)) > 32 {
			label = string([]rune(label)[:31]) + "…"
		}
		bw := plotW * math.Min(1, math.Max(0, x.Value))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, labelW-8, yy+rowH/2+4, template.HTMLEscapeString(label))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="2" fill="none" stroke="#d0d7de"/>`, labelW, yy+4, plotW, rowH-8)
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="2"/>`, x.Class, labelW, yy+4, math.Max(bw, 1), rowH-8)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`, labelW+plotW+6, yy+rowH/2+4, template.HTMLEscapeString(x.Text))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func scorecardsCSV(s *Server, r *http.Request, _ reportFilter, w io.Writer) error {
	days, err := report.ScorecardParams(r.URL.Query())
	if err != nil {
		return err
	}
	m, _, err := s.liveMap(r.Context())
	if err != nil {
		return err
	}
	if id := r.URL.Query().Get("moment"); id != "" {
		sc, err := report.MomentScorecard(r.Context(), s.Store, m, id, days, s.Now().UTC())
		if err != nil {
			return err
		}
		return report.WriteIdealCSV(w, sc)
	}
	rep, err := report.Scorecards(r.Context(), s.Store, m, days, s.Now().UTC())
	if err != nil {
		return err
	}
	return report.WriteScorecardsCSV(w, rep)
}

// uiReportError shows a report parameter error as a 400 page that says what
// to fix, an unknown moment as a 404, and other errors as they are.
func uiReportError(err error) error {
	var pe *report.ParamError
	switch {
	case errors.As(err, &pe):
		return web.BadRequest("invalid_parameter", pe.Field, pe.Message)
	case errors.Is(err, report.ErrUnknownMoment):
		return uiNotFound("The live journey map has no such moment. See the list under Reports → Moment scorecards.")
	}
	return err
}

// funnelRow is one step of a funnel table, formatted.
type funnelRow struct {
	Group, Label                   string
	N, Accounts                    int
	Conversion, FromPrevious, Days string
}

type funnelData struct {
	Breakdowns []string
	// Entered counts the accounts at the first step.
	Entered int
	Request report.FunnelRequest
	Events  string
	Paths   []journey.SuccessPath
	Report  report.FunnelReport
	Rows    []funnelRow
	Chart   template.HTML
	CSV     string
	NoMap   bool
}

func funnelReport(s *Server, r *http.Request, _ reportFilter) (any, error) {
	req, err := report.FunnelParams(r.URL.Query())
	if err != nil {
		return nil, uiReportError(err)
	}
	m, _, err := s.liveMap(r.Context())
	if err != nil {
		return nil, err
	}
	d := funnelData{Breakdowns: report.Breakdowns, Request: req, Events: strings.Join(req.Events, ", "), CSV: reportQuery(r, "/reports/funnel.csv"), NoMap: m == nil}
	if m == nil && len(req.Events) == 0 {
		return d, nil
	}
	if m != nil {
		d.Paths = m.SuccessPaths
	}
	rep, err := report.Funnel(r.Context(), s.Store, m, req, s.Now().UTC())
	if err != nil {
		return nil, uiReportError(err)
	}
	d.Report = rep
	if len(rep.Steps) > 0 {
		d.Entered = rep.Steps[0].Accounts
	}
	add := func(group string, steps []report.FunnelStep) {
		for i, st := range steps {
			d.Rows = append(d.Rows, funnelRow{Group: group, N: i + 1, Label: st.Label, Accounts: st.Accounts,
				Conversion: pctText(st.Conversion), FromPrevious: pctText(st.FromPrevious), Days: daysValue(st.MedianDays)})
		}
	}
	add("all", rep.Steps)
	for _, g := range rep.Groups {
		add(g.Key, g.Steps)
	}
	var bars []bar
	for i, st := range rep.Steps {
		bars = append(bars, bar{Label: fmt.Sprintf("%d. %s", i+1, st.Label), Value: float64(st.Accounts),
			Text: fmt.Sprintf("%d accounts (%s)", st.Accounts, pctText(st.Conversion))})
	}
	if len(bars) > 0 && rep.Steps[0].Accounts > 0 {
		d.Chart = barChart("funnel", "Accounts at each step of the funnel", bars)
	}
	return d, nil
}

func funnelCSV(s *Server, r *http.Request, _ reportFilter, w io.Writer) error {
	req, err := report.FunnelParams(r.URL.Query())
	if err != nil {
		return err
	}
	m, _, err := s.liveMap(r.Context())
	if err != nil {
		return err
	}
	rep, err := report.Funnel(r.Context(), s.Store, m, req, s.Now().UTC())
	if err != nil {
		return err
	}
	return report.WriteFunnelCSV(w, rep)
}

// survivalRow is one group of the time-to-value table, formatted.
type survivalRow struct {
	Key                               string
	Accounts, Reached                 int
	Median, WithinTarget, WithinRange string
}

type survivalData struct {
	Breakdowns []string
	Path, By   string
	Paths      []journey.SuccessPath
	Report     report.TTVReport
	Rows       []survivalRow
	Chart      template.HTML
	CSV        string
	NoMap      bool
}

func survivalReport(s *Server, r *http.Request, _ reportFilter) (any, error) {
	path, by, err := report.TTVParams(r.URL.Query())
	if err != nil {
		return nil, uiReportError(err)
	}
	m, _, err := s.liveMap(r.Context())
	if err != nil {
		return nil, err
	}
	d := survivalData{Breakdowns: report.Breakdowns, Path: path, By: by, CSV: reportQuery(r, "/reports/survival.csv"), NoMap: m == nil}
	if m == nil {
		return d, nil
	}
	d.Paths = m.SuccessPaths
	rep, err := report.TTV(r.Context(), s.Store, m, path, by, s.Now().UTC())
	if err != nil {
		return nil, uiReportError(err)
	}
	d.Report = rep
	for _, g := range append([]report.TTVGroup{rep.All}, rep.Groups...) {
		row := survivalRow{Key: g.Key, Accounts: g.Accounts, Reached: g.Reached, Median: daysValue(g.MedianDays),
			WithinTarget: pctText(g.WithinTarget)}
		if g.WithinTargetLow != nil && g.WithinTargetHigh != nil {
			row.WithinRange = pctText(g.WithinTargetLow) + "–" + pctText(g.WithinTargetHigh)
		}
		d.Rows = append(d.Rows, row)
	}
	if rep.All.Accounts > 0 {
		d.Chart = survivalChart(rep)
	}
	return d, nil
}

func survivalCSV(s *Server, r *http.Request, _ reportFilter, w io.Writer) error {
	path, by, err := report.TTVParams(r.URL.Query())
	if err != nil {
		return err
	}
	m, _, err := s.liveMap(r.Context())
	if err != nil {
		return err
	}
	rep, err := report.TTV(r.Context(), s.Store, m, path, by, s.Now().UTC())
	if err != nil {
		return err
	}
	return report.WriteTTVCSV(w, rep)
}

// survivalChart draws the share of accounts that reached value by each
// day as step lines: all accounts with their 95 % band, each group as a
// thinner line, and the target as a dashed vertical line.
func survivalChart(rep report.TTVReport) template.HTML {
	const (
		w, h         = 640.0, 320.0
		left, right  = 44.0, 120.0
		top, bottom  = 12.0, 34.0
		plotW, plotH = w - left - right, h - top - bottom
	)
	maxDays := float64(rep.TargetDays) * 1.5
	for _, g := range append([]report.TTVGroup{rep.All}, rep.Groups...) {
		for _, p := range g.Curve {
			maxDays = math.Max(maxDays, p.Days)
		}
	}
	if maxDays <= 0 {
		maxDays = 1
	}
	x := func(d float64) float64 { return left + d/maxDays*plotW }
	y := func(v float64) float64 { return top + (1-v)*plotH }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="ttv-t ttv-d" xmlns="http://www.w3.org/2000/svg">`, w, h)
	b.WriteString(`<title id="ttv-t">Share of accounts that reached value, by days since contract start</title>`)
	fmt.Fprintf(&b, `<desc id="ttv-d">Kaplan–Meier estimate over %d accounts, %d reached value; the dashed line is the %d-day target.</desc>`,
		rep.All.Accounts, rep.All.Reached, rep.TargetDays)
	for _, v := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<line stroke="#eaeef2" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, left, left+plotW, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.0f%%</text>`, left-6, y(v)+4, v*100)
	}
	for _, d := range []float64{0, maxDays / 4, maxDays / 2, maxDays * 3 / 4, maxDays} {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f d</text>`, x(d), top+plotH+18, d)
	}
	// The band of all accounts: the interval as steps, the upper edge
	// left to right and the lower edge back.
	var up, down []string
	at := func(px, v float64) string { return fmt.Sprintf("%.1f,%.1f", px, y(v)) }
	lo, hi, px := 0.0, 0.0, x(0)
	for _, p := range rep.All.Curve {
		nx := x(p.Days)
		up, down = append(up, at(px, hi), at(nx, hi)), append(down, at(px, lo), at(nx, lo))
		if p.Low != nil && p.High != nil {
			lo, hi = *p.Low, *p.High
		}
		px = nx
	}
	up, down = append(up, at(px, hi), at(x(maxDays), hi)), append(down, at(px, lo), at(x(maxDays), lo))
	slices.Reverse(down)
	fmt.Fprintf(&b, `<polygon fill="#0969da" fill-opacity="0.12" stroke="none" points="%s %s"/>`, strings.Join(up, " "), strings.Join(down, " "))
	steps := func(g report.TTVGroup) string {
		pts := []string{fmt.Sprintf("%.1f,%.1f", x(0), y(0))}
		v := 0.0
		for _, p := range g.Curve {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.Days), y(v)))
			v = p.ShareReached
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.Days), y(v)))
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(maxDays), y(v)))
		return strings.Join(pts, " ")
	}
	for i, g := range rep.Groups {
		if i >= len(seriesColours) {
			break
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, seriesColours[i], steps(g))
		last := lastShare(g)
		fmt.Fprintf(&b, `<text fill="%s" x="%.1f" y="%.1f">%s</text>`, seriesColours[i], x(maxDays)+6, y(last)+4+float64(i)*12,
			template.HTMLEscapeString(g.Key))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#0969da" stroke-width="2.5" points="%s"/>`, steps(rep.All))
	fmt.Fprintf(&b, `<text fill="#0969da" x="%.1f" y="%.1f">all</text>`, x(maxDays)+6, y(lastShare(rep.All))+16)
	fmt.Fprintf(&b, `<line stroke="#57606a" stroke-dasharray="4 3" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, x(float64(rep.TargetDays)), x(float64(rep.TargetDays)), top, top+plotH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">target %d d</text>`, x(float64(rep.TargetDays))+4, top+12, rep.TargetDays)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// seriesColours tell the groups of a survival chart apart; each line is
// also labelled with its group, so colour is never the only cue.
var seriesColours = []string{"#8250df", "#bf8700", "#1a7f37", "#cf222e", "#57606a", "#0a3069"}

// lastShare is the share reached at the end of a group's curve.
func lastShare(g report.TTVGroup) float64 {
	if n := len(g.Curve); n > 0 {
		return g.Curve[n-1].ShareReached
	}
	return 0
}

// withConformance puts on each moment's card of the journey map the
// summary of its ideal process against the actual one over the last
// report.DefaultDays days (the scorecards' figures): the mean share of
// ideal steps done and done on time, and the slowest step with its owner.
// Without figures the map is still drawn; the log has the error.
func (s *Server) withConformance(r *http.Request, d *journeyPageData) {
	m, _, err := s.Journey.Get(r.Context())
	if err != nil || m == nil {
		return
	}
	rep, err := report.Scorecards(r.Context(), s.Store, m, report.DefaultDays, s.Now().UTC())
	if err != nil {
		s.Logger.WarnContext(r.Context(), "journey map conformance", "err", err)
		return
	}
	names := mapTeamNames(m)
	byMoment := map[string]*cardConformance{}
	for _, sc := range rep.Moments {
		byMoment[sc.Moment] = cardConformanceOf(sc, names, rep.Days)
	}
	set := func(c *momentCardView) { c.Conformance = byMoment[c.ID] }
	for _, lane := range d.Swimlane.Lanes {
		for _, cell := range lane.Cells {
			for i := range cell.Cards {
				set(&cell.Cards[i])
			}
		}
	}
	for i := range d.Swimlane.Unplaced {
		set(&d.Swimlane.Unplaced[i])
	}
}

// cardConformanceOf words a scorecard's conformance for a card; nil when
// no ideal step had a due occurrence.
func cardConformanceOf(sc report.Scorecard, teams map[string]string, days int) *cardConformance {
	var done float64
	n := 0
	for _, st := range sc.Ideal {
		if st.DoneShare != nil {
			done += *st.DoneShare
			n++
		}
	}
	if n == 0 || sc.Conformance.Conformance == nil {
		return nil
	}
	done /= float64(n)
	onTime := *sc.Conformance.Conformance
	c := &cardConformance{Grade: strings.TrimPrefix(gradeClass(onTime), "bar-"),
		Text: "ideal steps done " + pctText(&done) + " · on time " + pctText(&onTime)}
	if sc.Conformance.Slowest != "" {
		c.Text += " · slowest: " + sc.Conformance.Slowest + " (" + uiNameOr(teams, sc.Conformance.SlowestOwner) + ")"
	}
	c.Long = fmt.Sprintf("Ideal process over the last %d days, %d occurrences: on average %s of the %d measured steps were done and %s on time",
		days, sc.Occurrences, pctText(&done), n, pctText(&onTime))
	if sc.Conformance.MostMissed != "" {
		c.Long += "; most often skipped or late: " + sc.Conformance.MostMissed
	}
	c.Long += ". Open the moment for each step."
	return c
}
