package web

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
)

// analyticsRoutes registers the moment analytics reports (docs/analytics.md)
// and the task effort that counts in a moment's cost.
func (s *Server) analyticsRoutes() {
	s.handle("GET /api/v1/reports/scorecards", s.admin(s.getScorecards))
	s.handle("GET /api/v1/reports/scorecards/{moment}", s.admin(s.getMomentScorecard))
	s.handle("GET /api/v1/reports/funnel", s.admin(s.getFunnel))
	s.handle("GET /api/v1/reports/ttv", s.admin(s.getTTV))
	s.handle("PUT /api/v1/tasks/{id}/effort", s.admin(s.putTaskEffort))
}

// reportCSV reports whether the client asked for CSV, by Accept: text/csv
// or ?format=csv.
func reportCSV(r *http.Request) bool {
	return wantsCSV(r) || strings.EqualFold(r.URL.Query().Get("format"), "csv")
}

// analyticsError maps the report package's errors to API errors.
func analyticsError(err error) error {
	var pe *report.ParamError
	switch {
	case errors.As(err, &pe):
		return badRequest("invalid_parameter", pe.Field, pe.Message)
	case errors.Is(err, report.ErrNoMap), errors.Is(err, journey.ErrNoMap):
		return &apiError{Status: http.StatusConflict, Code: "no_journey_map", Message: report.ErrNoMap.Error()}
	case errors.Is(err, report.ErrUnknownMoment):
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: err.Error()}
	}
	return err
}

// serveReport builds a report with build and writes it as JSON, or as CSV
// with writeCSV when the client asked for it.
func serveReport[T any](s *Server, w http.ResponseWriter, r *http.Request, name string,
	build func(m *journey.Map) (T, error), writeCSV func(io.Writer, T) error) {
	m, _, err := s.liveMap(r.Context())
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	v, err := build(m)
	if err != nil {
		s.writeError(w, r, analyticsError(err), nil)
		return
	}
	if reportCSV(r) {
		csvHeaders(w, name)
		_ = writeCSV(w, v)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) getScorecards(w http.ResponseWriter, r *http.Request) {
	serveReport(s, w, r, "scorecards", func(m *journey.Map) (report.ScorecardReport, error) {
		days, err := report.ScorecardParams(r.URL.Query())
		if err != nil {
			return report.ScorecardReport{}, err
		}
		return report.Scorecards(r.Context(), s.store, m, days, s.now().UTC())
	}, report.WriteScorecardsCSV)
}

func (s *Server) getMomentScorecard(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("moment")
	serveReport(s, w, r, "ideal-"+id, func(m *journey.Map) (report.Scorecard, error) {
		days, err := report.ScorecardParams(r.URL.Query())
		if err != nil {
			return report.Scorecard{}, err
		}
		return report.MomentScorecard(r.Context(), s.store, m, id, days, s.now().UTC())
	}, report.WriteIdealCSV)
}

func (s *Server) getFunnel(w http.ResponseWriter, r *http.Request) {
	serveReport(s, w, r, "funnel", func(m *journey.Map) (report.FunnelReport, error) {
		req, err := report.FunnelParams(r.URL.Query())
		if err != nil {
			return report.FunnelReport{}, err
		}
		return report.Funnel(r.Context(), s.store, m, req, s.now().UTC())
	}, report.WriteFunnelCSV)
}

func (s *Server) getTTV(w http.ResponseWriter, r *http.Request) {
	serveReport(s, w, r, "ttv", func(m *journey.Map) (report.TTVReport, error) {
		path, by, err := report.TTVParams(r.URL.Query())
		if err != nil {
			return report.TTVReport{}, err
		}
		return report.TTV(r.Context(), s.store, m, path, by, s.now().UTC())
	}, report.WriteTTVCSV)
}

// maxEffortMinutes bounds the effort recorded on one task (about ten
// working weeks), so a typo does not swamp a moment's cost.
const maxEffortMinutes = 100_000

func (s *Server) putTaskEffort(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Minutes *int `json:"minutes"`
	}
	if aerr := readTriggerBody(w, r, &body); aerr != nil {
		s.writeError(w, r, aerr, nil)
		return
	}
	switch {
	case body.Minutes == nil:
		s.writeError(w, r, badRequest("missing_field", "minutes", "minutes is missing: send the minutes spent on the task, such as {\"minutes\": 45}"), nil)
		return
	case *body.Minutes < 0 || *body.Minutes > maxEffortMinutes:
		s.writeError(w, r, badRequest("invalid_field", "minutes", "minutes must be from 0 to "+strconv.Itoa(maxEffortMinutes)), nil)
		return
	}
	id := r.PathValue("id")
	if err := s.store.RecordTaskEffort(r.Context(), id, *body.Minutes, s.now()); err != nil {
		s.writeError(w, r, storeError(err, "task "+strconv.Quote(id)), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"task_id": id, "effort_minutes": *body.Minutes})
}

// The store satisfies what the reports read.
var _ report.Analytics = (*store.Store)(nil)
