package report

import (
	"encoding/csv"
	"io"
	"strconv"
)

// cell formats an optional figure for CSV: empty when unknown.
func cell(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

// writeCSV writes a header and rows.
func writeCSV(w io.Writer, header []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return cw.Error()
}

// WriteScorecardsCSV writes one row per moment, in rank order.
func WriteScorecardsCSV(w io.Writer, rep ScorecardReport) error {
	var rows [][]string
	for _, s := range rep.Moments {
		var sla *float64
		if s.Quality.SLA != nil {
			sla = s.Quality.SLA.Share
		}
		rows = append(rows, []string{strconv.Itoa(s.Rank), s.Moment, s.Name, s.Owner, strconv.Itoa(s.Importance), cell(s.Gap),
			cell(s.Priority), strconv.Itoa(s.Occurrences), strconv.Itoa(s.Quantity.Accounts), strconv.Itoa(s.Quantity.Delivered),
			strconv.Itoa(s.Quality.Answers), cell(s.Quality.Score), cell(s.Quality.WithoutEscalation.Share), cell(sla),
			strconv.Itoa(s.Cost.Total), cell(s.Cost.PerOccurrence), strconv.Itoa(s.Time.Measured), cell(s.Time.MedianDays),
			cell(s.Time.P90Days), cell(s.Time.NotReachedShare), cell(s.Conformance.Conformance), s.Conformance.MostMissed,
			s.Conformance.SlowestOwner, strconv.Itoa(s.Previous.Occurrences), cell(s.Previous.MedianDays), cell(s.Previous.Conformance)})
	}
	return writeCSV(w, []string{"rank", "moment", "name", "owner", "importance", "gap", "priority", "occurrences", "accounts",
		"delivered", "survey_answers", "survey_score", "without_escalation", "sla_adherence", "cost_minutes",
		"cost_per_occurrence_minutes", "time_measured", "median_days", "p90_days", "not_reached_share", "conformance",
		"most_missed_step", "slowest_step_owner", "previous_occurrences", "previous_median_days", "previous_conformance"}, rows)
}

// WriteIdealCSV writes one row per ideal step of a moment.
func WriteIdealCSV(w io.Writer, s Scorecard) error {
	var rows [][]string
	for i, st := range s.Ideal {
		rows = append(rows, []string{s.Moment, strconv.Itoa(i + 1), st.Step, st.Owner, st.Within, st.Evidence,
			strconv.Itoa(st.Due), strconv.Itoa(st.Done), strconv.Itoa(st.OnTime), cell(st.DoneShare), cell(st.OnTimeShare),
			cell(st.MedianDays), cell(st.MedianDelayDays), strconv.Itoa(st.OutOfOrder)})
	}
	return writeCSV(w, []string{"moment", "position", "step", "owner", "within", "evidence", "due", "done", "on_time",
		"done_share", "on_time_share", "median_days", "median_delay_days", "out_of_order"}, rows)
}

// WriteFunnelCSV writes one row per step, overall then per group.
func WriteFunnelCSV(w io.Writer, rep FunnelReport) error {
	var rows [][]string
	add := func(group string, steps []FunnelStep) {
		for i, st := range steps {
			rows = append(rows, []string{group, strconv.Itoa(i + 1), st.Step, st.Label, strconv.Itoa(st.Accounts),
				cell(st.Conversion), cell(st.FromPrevious), cell(st.MedianDays)})
		}
	}
	add("all", rep.Steps)
	for _, g := range rep.Groups {
		add(g.Key, g.Steps)
	}
	return writeCSV(w, []string{"group", "position", "step", "label", "accounts", "conversion", "from_previous",
		"median_days_from_previous"}, rows)
}

// WriteTTVCSV writes one row per curve point, overall then per group.
func WriteTTVCSV(w io.Writer, rep TTVReport) error {
	var rows [][]string
	for _, g := range append([]TTVGroup{rep.All}, rep.Groups...) {
		for _, p := range g.Curve {
			share := p.ShareReached
			rows = append(rows, []string{g.Key, strconv.FormatFloat(p.Days, 'f', -1, 64), strconv.Itoa(p.AtRisk),
				strconv.Itoa(p.Reached), strconv.Itoa(p.Censored), cell(&share), cell(p.Low), cell(p.High)})
		}
	}
	return writeCSV(w, []string{"group", "days", "at_risk", "reached", "censored", "share_reached", "low", "high"}, rows)
}
