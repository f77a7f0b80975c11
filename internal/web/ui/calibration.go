package ui

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/report"
)

// The calibration page proposes health weights fitted to the
// installation's own outcomes (the same as POST /api/v1/health/calibrate
// and `moments health calibrate`). It changes nothing, so it is a GET
// page like the other reports: the map changes only when someone applies
// the section it shows.
func init() {
	uiReports = append(uiReports, uiReport{ID: "calibration", Title: "Calibrate health",
		Description: "Health weights fitted to your own outcomes, judged on accounts held out of the fit against today's weights, with the health: section to paste into the map. Changes nothing by itself. Across all accounts.",
		Page:        calibrationPage, CSV: calibrationCSV})
}

type calibrationData struct {
	outcomeData
	Calibration report.Calibration
	Rows        []calibrationRow
	Better      bool
	Horizon     int
}

// calibrationRow is one component's weight now and as proposed.
type calibrationRow struct {
	Component, Group, Current, Proposed, Change string
}

func calibrationRows(c report.Calibration) []calibrationRow {
	var out []calibrationRow
	for _, name := range report.CalibratedComponents() {
		group := health.GroupBehavioural
		switch name {
		case health.ComponentNPS, health.ComponentCSAT, health.ComponentCES, health.ComponentSupport:
			group = health.GroupEmotional
		}
		cur, prop := c.Current[name], c.Weights[name]
		change := fmt.Sprintf("%+.0f", prop-cur)
		if math.Round(prop-cur) == 0 {
			change = "0"
		}
		out = append(out, calibrationRow{Component: name, Group: group, Current: weight(cur), Proposed: weight(prop), Change: change})
	}
	return out
}

func weight(w float64) string { return strconv.FormatFloat(w, 'f', 0, 64) }

func (s *Server) calibration(r *http.Request) (report.Calibration, report.OutcomeQuery, error) {
	if s.Health == nil {
		return report.Calibration{}, report.OutcomeQuery{}, errHealthOff
	}
	q, err := s.outcomeQuery(r)
	if err != nil {
		return report.Calibration{}, q, err
	}
	c, err := report.CalibrationReport(r.Context(), s.Store, s.Health, q)
	return c, q, err
}

func calibrationPage(s *Server, r *http.Request, _ reportFilter) (any, error) {
	c, q, err := s.calibration(r)
	if err != nil {
		if o, ok := refused(q, err); ok {
			return calibrationData{outcomeData: o, Horizon: q.HorizonDays}, nil
		}
		return nil, err
	}
	return calibrationData{outcomeData: outcomeData{Outcome: c.Outcome}, Calibration: c, Rows: calibrationRows(c),
		Better: c.HoldoutAUC >= c.DefaultAUC, Horizon: c.Horizon}, nil
}

// calibrationCSV writes the component table: the weights now and as
// proposed.
func calibrationCSV(s *Server, r *http.Request, _ reportFilter, w io.Writer) error {
	c, _, err := s.calibration(r)
	if err != nil && !errors.Is(err, report.ErrTooFewOutcomes) {
		return err
	}
	cw := report.NewCSVWriter(w)
	if err := cw.Write([]string{"component", "group", "current_weight", "proposed_weight"}); err != nil {
		return err
	}
	if err == nil {
		for _, row := range calibrationRows(c) {
			if err := cw.Write([]string{row.Component, row.Group, row.Current, row.Proposed}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
