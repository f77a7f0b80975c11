package ui

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/moments-cs/moments/internal/report"
)

// The reports on outcomes join the Reports section: the drivers of an
// outcome and the backtest of the health score. They judge every account,
// so the owner, segment and stage filters do not narrow them.
func init() {
	uiReports = append(uiReports,
		uiReport{ID: "drivers", Title: "Drivers of churn",
			Description: "Which account traits and behaviours go with churn (or any outcome you name), with intervals and false-discovery-rate control. Across all accounts.",
			Page:        driversPage, CSV: driversCSV},
		uiReport{ID: "health-backtest", Title: "How well health predicts",
			Description: "The health score as it stood 60 days before each churn against what happened: ROC curve, churn rate by decile of score, churners flagged in time. Across all accounts.",
			Page:        backtestPage, CSV: backtestCSV},
	)
}

// outcomeQuery reads the outcome (and horizon) of a report page.
func (s *Server) outcomeQuery(r *http.Request) (report.OutcomeQuery, error) {
	q := report.OutcomeQuery{Outcome: r.URL.Query().Get("outcome"), Now: s.Now(), HorizonDays: report.DefaultHorizonDays}
	if h := r.URL.Query().Get("horizon"); h != "" {
		n, err := report.ParseDays("horizon", h)
		if err != nil {
			return q, err
		}
		q.HorizonDays = n
	}
	return q, nil
}

// outcomeData is what both pages show when the report cannot be built for
// a reason the user can act on (too few outcomes, a bad condition).
type outcomeData struct {
	Outcome string
	Refusal string
}

// refused turns an error the user can act on into a page that says so.
func refused(q report.OutcomeQuery, err error) (outcomeData, bool) {
	if errors.Is(err, report.ErrTooFewOutcomes) || report.IsBadRequest(err) {
		out := q.Outcome
		if out == "" {
			out = report.DefaultOutcome
		}
		return outcomeData{Outcome: out, Refusal: err.Error()}, true
	}
	return outcomeData{}, false
}

type driversData struct {
	outcomeData
	Drivers report.Drivers
	Rows    []driverRow
	Chart   template.HTML
}

// driverRow is a driver as the table shows it.
type driverRow struct {
	Signal, Significant, Effect, With, Without, Lift, Q string
}

func driverRows(ds []report.Driver) []driverRow {
	out := make([]driverRow, 0, len(ds))
	for _, d := range ds {
		sig := "no"
		if d.Significant {
			sig = "yes, " + d.Direction
		}
		out = append(out, driverRow{Signal: d.Signal, Significant: sig,
			Effect: fmt.Sprintf("%+.0f pts (%+.0f to %+.0f)", 100*d.Effect, 100*d.EffectLow, 100*d.EffectHigh),
			With:   fmt.Sprintf("%s of %d", percent(d.With.Share), d.With.Of), Without: fmt.Sprintf("%s of %d", percent(d.Without.Share), d.Without.Of),
			Lift: fmt.Sprintf("%.2f", d.Lift), Q: fmt.Sprintf("%.3f", d.QValue)})
	}
	return out
}

func driversPage(s *Server, r *http.Request, _ reportFilter) (any, error) {
	q, err := s.outcomeQuery(r)
	if err != nil {
		d, _ := refused(q, err)
		return driversData{outcomeData: d}, nil
	}
	d, err := report.DriversReport(r.Context(), s.Store, q)
	if err != nil {
		if o, ok := refused(q, err); ok {
			return driversData{outcomeData: o}, nil
		}
		return nil, err
	}
	return driversData{outcomeData: outcomeData{Outcome: d.Outcome}, Drivers: d, Rows: driverRows(d.Drivers), Chart: forestPlot(d.Drivers, 20)}, nil
}

func driversCSV(s *Server, r *http.Request, _ reportFilter, w io.Writer) error {
	q, err := s.outcomeQuery(r)
	if err != nil {
		return err
	}
	d, err := report.DriversReport(r.Context(), s.Store, q)
	if errors.Is(err, report.ErrTooFewOutcomes) {
		return report.WriteDriversCSV(w, report.Drivers{}) // the columns; the page says why there are no rows
	}
	if err != nil {
		return err
	}
	return report.WriteDriversCSV(w, d)
}

type backtestData struct {
	outcomeData
	Backtest report.Backtest
	ROC      template.HTML
	Deciles  template.HTML
}

func backtestPage(s *Server, r *http.Request, _ reportFilter) (any, error) {
	if s.Health == nil {
		return nil, errHealthOff
	}
	q, err := s.outcomeQuery(r)
	if err != nil {
		d, _ := refused(q, err)
		return backtestData{outcomeData: d}, nil
	}
	b, err := report.BacktestReport(r.Context(), s.Store, s.Health, q)
	if err != nil {
		if o, ok := refused(q, err); ok {
			return backtestData{outcomeData: o}, nil
		}
		return nil, err
	}
	var bars []bar
	for _, d := range b.Deciles {
		cls := "bar-default"
		if d.Lift >= 1.5 {
			cls = "bar-poor"
		}
		bars = append(bars, bar{Label: fmt.Sprintf("decile %d (score %.0f–%.0f)", d.Decile, d.MinScore, d.MaxScore), Value: d.Rate.Share,
			Text: fmt.Sprintf("%.0f%% churned, lift %.1f", 100*d.Rate.Share, d.Lift), Class: cls})
	}
	return backtestData{outcomeData: outcomeData{Outcome: b.Outcome}, Backtest: b, ROC: rocChart(b),
		Deciles: barChart("deciles", "Outcome rate by decile of the health score, lowest scores first", bars)}, nil
}

func backtestCSV(s *Server, r *http.Request, _ reportFilter, w io.Writer) error {
	if s.Health == nil {
		return errHealthOff
	}
	q, err := s.outcomeQuery(r)
	if err != nil {
		return err
	}
	b, err := report.BacktestReport(r.Context(), s.Store, s.Health, q)
	if errors.Is(err, report.ErrTooFewOutcomes) {
		return report.WriteBacktestCSV(w, report.Backtest{}) // the columns; the page says why there are no rows
	}
	if err != nil {
		return err
	}
	return report.WriteBacktestCSV(w, b)
}

// forestPlot draws each driver's effect (difference in outcome rate) with
// its 95 % interval, strongest first: a dot and a line per signal, and a
// line at zero. Significant signals are drawn in colour.
func forestPlot(ds []report.Driver, limit int) template.HTML {
	ds = ds[:min(len(ds), limit)]
	const (
		w, rowH, labelW, valueW = 720.0, 22.0, 260.0, 120.0
	)
	h := rowH*float64(len(ds)) + 30
	lo, hi := -0.1, 0.1
	for _, d := range ds {
		lo, hi = math.Min(lo, d.EffectLow), math.Max(hi, d.EffectHigh)
	}
	plotW := w - labelW - valueW
	x := func(v float64) float64 { return labelW + plotW*(v-lo)/(hi-lo) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="forest-t" xmlns="http://www.w3.org/2000/svg">`, w, h)
	b.WriteString(`<title id="forest-t">Difference in outcome rate with each signal, with its 95 % interval</title>`)
	fmt.Fprintf(&b, `<line class="threshold" x1="%.1f" y1="4" x2="%.1f" y2="%.1f"/>`, x(0), x(0), h-22)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">0</text>`, x(0), h-8)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%+.0f pts</text>`, labelW, h-8, 100*lo)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%+.0f pts</text>`, labelW+plotW, h-8, 100*hi)
	for i, d := range ds {
		y := 4 + float64(i)*rowH + rowH/2
		cls := "bar-none"
		if d.Significant {
			cls = "bar-good"
			if d.Direction == "raises" {
				cls = "bar-poor"
			}
		}
		label := d.Signal
		if len([]rune(label)) > 40 {
			label = string([]rune(label)[:39]) + "…"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, labelW-8, y+4, template.HTMLEscapeString(label))
		fmt.Fprintf(&b, `<line class="%s" stroke-width="2" style="stroke:currentColor" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, cls, x(d.EffectLow), y, x(d.EffectHigh), y)
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="6" height="6"/>`, cls, x(d.Effect)-3, y-3)
		sig := ""
		if d.Significant {
			sig = " *"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%+.0f pts%s</text>`, labelW+plotW+8, y+4, 100*d.Effect, sig)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// rocChart draws the ROC curve against the diagonal of a coin toss.
func rocChart(bt report.Backtest) template.HTML {
	const size, pad = 320.0, 36.0
	side := size - 2*pad
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" style="max-width:360px" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="roc-t" xmlns="http://www.w3.org/2000/svg">`, size, size)
	fmt.Fprintf(&b, `<title id="roc-t">ROC curve: share of churners caught against share of others flagged; AUC %.2f</title>`, bt.AUC)
	fmt.Fprintf(&b, `<rect class="frame" x="%.0f" y="%.0f" width="%.0f" height="%.0f"/>`, pad, pad, side, side)
	fmt.Fprintf(&b, `<line class="threshold" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/>`, pad, pad+side, pad+side, pad)
	var pts []string
	for _, p := range bt.ROC {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", pad+side*p.FPR, pad+side*(1-p.TPR)))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#0969da" stroke-width="2" points="%s"/>`, strings.Join(pts, " "))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">others flagged (false positive rate)</text>`, pad+side/2, size-8)
	fmt.Fprintf(&b, `<text x="12" y="%.0f" text-anchor="middle" transform="rotate(-90 12 %.0f)">churners caught</text>`, pad+side/2, pad+side/2)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">AUC %.2f</text>`, pad+side-6, pad+side-8, bt.AUC)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
