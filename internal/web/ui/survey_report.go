package ui

import (
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/web/api"
)

// The survey report joins the Reports section (ui_reports.go) as one more
// card.
func init() {
	uiReports = append(uiReports, uiReport{ID: "surveys", Title: "Survey results",
		Description: "NPS, CSAT and CES by moment, stage, segment and month with the number of answers and 95 % intervals; response rates; verbatim comments; closing the loop on low answers.",
		Page:        surveysReportPage, CSV: surveysReportCSV})
}

// surveysReportData is the page's content: the report and its chart.
type surveysReportData struct {
	report.SurveyReport
	Chart template.HTML
	// ByMoment are the scores by moment, for the main table.
	ByMoment []surveyScoreRow
	Rates    []rateRow
	LoopRows []loopRow
	Days     int
}

// surveyScoreRow, rateRow and loopRow are the report's rows as the page shows
// them, numbers formatted with their units.
type surveyScoreRow struct {
	Moment, Kind, Score, Interval string
	N                             int
}

type rateRow struct {
	report.MomentResponse
	Median string
}

type loopRow struct {
	report.LoopRow
	DoneAfter, Next string
	// Improved is "improved", "not improved" or "" before a next answer.
	Improved string
}

func hoursText(h *float64) string {
	if h == nil {
		return ""
	}
	return fmt.Sprintf("%.1f hours", *h)
}

func (s *Server) surveyReportFiltered(r *http.Request, f reportFilter) (report.SurveyReport, error) {
	from, to, err := api.SurveyPeriod(r, s.Now())
	if err != nil {
		return report.SurveyReport{}, err
	}
	m, _, _ := s.Journey.Get(r.Context())
	var keep func(store.Account) bool
	if f != (reportFilter{}) {
		keep = f.matches
	}
	return report.SurveyReportFor(r.Context(), s.Store, m, from, to, keep)
}

func surveysReportPage(s *Server, r *http.Request, f reportFilter) (any, error) {
	rep, err := s.surveyReportFiltered(r, f)
	if err != nil {
		return nil, err
	}
	d := surveysReportData{SurveyReport: rep, Days: int(rep.To.Sub(rep.From).Hours()/24 + 0.5)}
	var byMoment []report.SurveyGroup
	for _, g := range rep.Scores {
		if g.By != "moment" {
			continue
		}
		byMoment = append(byMoment, g)
		row := surveyScoreRow{Moment: g.Key, Kind: g.Kind, N: g.N, Score: fmt.Sprintf("%.*f", prec(g.Kind), g.Value)}
		if g.Low != nil {
			row.Interval = fmt.Sprintf("%.*f to %.*f", prec(g.Kind), *g.Low, prec(g.Kind), *g.High)
		}
		d.ByMoment = append(d.ByMoment, row)
	}
	if len(byMoment) > 0 {
		d.Chart = intervalChart("svy", fmt.Sprintf("Survey score by moment over the last %d days, with 95 %% intervals", d.Days), byMoment)
	}
	for _, m := range rep.Response {
		d.Rates = append(d.Rates, rateRow{MomentResponse: m, Median: hoursText(m.MedianHours)})
	}
	for i, l := range rep.Loop {
		if i == 100 {
			break
		}
		row := loopRow{LoopRow: l, DoneAfter: hoursText(l.FirstTaskDoneHours)}
		if l.NextScore != nil {
			row.Next = fmt.Sprint(*l.NextScore)
			row.Improved = "not improved"
			if *l.Improved {
				row.Improved = "improved"
			}
		}
		d.LoopRows = append(d.LoopRows, row)
	}
	if len(d.Comments) > 50 {
		d.Comments = d.Comments[:50]
	}
	return d, nil
}

func surveysReportCSV(s *Server, r *http.Request, f reportFilter, w io.Writer) error {
	rep, err := s.surveyReportFiltered(r, f)
	if err != nil {
		return err
	}
	return report.WriteSurveyCSV(w, rep)
}

// kindScale is the range a chart draws a survey kind on.
var kindScale = map[string][2]float64{"nps": {-100, 100}, "csat": {0, 100}, "ces": {1, 7}}

// surveyScoreText is a score with its unit: "NPS 39", "CSAT 68 %", "CES 4.8".
func surveyScoreText(kind string, v float64) string {
	switch kind {
	case "nps":
		return fmt.Sprintf("NPS %.0f", v)
	case "csat":
		return fmt.Sprintf("CSAT %.0f %%", v)
	}
	return fmt.Sprintf("CES %.1f", v)
}

// intervalChart draws one row per group: the score as a dot and its 95 %
// interval as a line, each on its kind's own scale (NPS −100 to 100, CSAT
// 0–100 %, CES 1–7), labelled with the score, the interval and n.
func intervalChart(id, title string, groups []report.SurveyGroup) template.HTML {
	const w, rowH, labelW, textW = 720.0, 26.0, 190.0, 230.0
	plotW := w - labelW - textW
	h := rowH*float64(len(groups)) + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="%s-t" xmlns="http://www.w3.org/2000/svg">`, w, h, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, id, template.HTMLEscapeString(title))
	x := func(kind string, v float64) float64 {
		sc := kindScale[kind]
		return labelW + plotW*(v-sc[0])/(sc[1]-sc[0])
	}
	for i, g := range groups {
		y := 4 + float64(i)*rowH + rowH/2
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, labelW-8, y+4, template.HTMLEscapeString(g.Key))
		fmt.Fprintf(&b, `<line class="frame" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, labelW, y, labelW+plotW, y)
		text := fmt.Sprintf("%s, n = %d", surveyScoreText(g.Kind, g.Value), g.N)
		if g.Low != nil {
			fmt.Fprintf(&b, `<line class="ci" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#0969da" stroke-width="3"/>`,
				x(g.Kind, *g.Low), y, x(g.Kind, *g.High), y)
			text = fmt.Sprintf("%s (%.*f to %.*f), n = %d", surveyScoreText(g.Kind, g.Value), prec(g.Kind), *g.Low, prec(g.Kind), *g.High, g.N)
		}
		fmt.Fprintf(&b, `<circle class="pt pt-champion" cx="%.1f" cy="%.1f" r="5"/>`, x(g.Kind, g.Value), y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`, labelW+plotW+8, y+4, template.HTMLEscapeString(text))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func prec(kind string) int {
	if kind == "ces" {
		return 1
	}
	return 0
}

// qualityDays is the window of the quality score on the journey's cards.
const qualityDays = 90

// minQualityAnswers is how many answers a quality score needs before the
// card colours it; with fewer it says "few answers".
const minQualityAnswers = 10

// qualityGrade judges a quality score: good, fair or poor. NPS: 30 and
// above is good, 0 and above fair; CSAT: 80 % good, 60 % fair; CES: 5.5
// good, 4.5 fair.
func qualityGrade(g report.SurveyGroup) string {
	if g.N < minQualityAnswers {
		return "none"
	}
	bands := map[string][2]float64{"nps": {30, 0}, "csat": {80, 60}, "ces": {5.5, 4.5}}[g.Kind]
	switch {
	case g.Value >= bands[0]:
		return "good"
	case g.Value >= bands[1]:
		return "fair"
	}
	return "poor"
}

// withQuality adds each moment's quality score — its quality survey's
// answers over the last 90 days, from every source — to its card on the
// swimlane.
func (s *Server) withQuality(r *http.Request, d *journeyPageData) {
	m, _, err := s.Journey.Get(r.Context())
	if err != nil || m == nil {
		return
	}
	now := s.Now()
	rep, err := report.SurveyReportFor(r.Context(), s.Store, m, now.AddDate(0, 0, -qualityDays), now.Add(time.Second), nil)
	if err != nil {
		s.Logger.WarnContext(r.Context(), "journey quality scores", "err", err)
		return
	}
	want := map[string]string{}
	for _, mo := range m.Moments {
		if q := mo.Metrics.Quality.Survey; q != "" {
			for _, sv := range m.Surveys {
				if sv.ID == q {
					want[mo.ID] = sv.Kind
				}
			}
		}
	}
	got := map[string]report.SurveyGroup{}
	for _, g := range rep.Scores {
		if g.By == "moment" && want[g.Key] == g.Kind {
			got[g.Key] = g
		}
	}
	badge := func(c *momentCardView) {
		g, ok := got[c.ID]
		if !ok {
			return
		}
		grade := qualityGrade(g)
		q := &cardDelivery{Grade: grade, Short: "quality " + surveyScoreText(g.Kind, g.Value),
			Long: fmt.Sprintf("Quality over the last %d days: %s from %d answers", qualityDays, surveyScoreText(g.Kind, g.Value), g.N)}
		if g.Low != nil {
			q.Long += fmt.Sprintf(" (95 %% interval %.*f to %.*f)", prec(g.Kind), *g.Low, prec(g.Kind), *g.High)
		}
		if grade == "none" {
			q.Short += " · few answers"
		} else {
			q.Short += " · " + grade
		}
		c.Quality = q
	}
	for _, lane := range d.Swimlane.Lanes {
		for _, cell := range lane.Cells {
			for i := range cell.Cards {
				badge(&cell.Cards[i])
			}
		}
	}
	for i := range d.Swimlane.Unplaced {
		badge(&d.Swimlane.Unplaced[i])
	}
}
