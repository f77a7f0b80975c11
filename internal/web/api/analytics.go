package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/web"
)

// analyticsRoutes registers the moment analytics reports (docs/analytics.md)
// and the task effort that counts in a moment's cost.
func (s *Server) analyticsRoutes(rt *web.Router) {
	rt.Handle("GET /api/v1/reports/scorecards", s.admin(s.getScorecards))
	rt.Handle("GET /api/v1/reports/scorecards/{moment}", s.admin(s.getMomentScorecard))
	rt.Handle("GET /api/v1/reports/funnel", s.admin(s.getFunnel))
	rt.Handle("GET /api/v1/reports/ttv", s.admin(s.getTTV))
	rt.Handle("PUT /api/v1/tasks/{id}/effort", s.admin(s.putTaskEffort))
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
		return web.BadRequest("invalid_parameter", pe.Field, pe.Message)
	case errors.Is(err, report.ErrNoMap), errors.Is(err, journey.ErrNoMap):
		return errNoJourney()
	case errors.Is(err, report.ErrUnknownMoment):
		return &web.Error{Status: http.StatusNotFound, Code: "not_found", Message: err.Error()}
	}
	return err
}

// serveReport builds a report on the live map with build and writes it as
// JSON, or as CSV with writeCSV when the client asked for it.
func serveReport[T any](s *Server, w http.ResponseWriter, r *http.Request, name string,
	build func(m *journey.Map) (T, error), writeCSV func(io.Writer, T) error) error {
	m, _, err := s.Journey.Get(r.Context())
	if err != nil && !errors.Is(err, journey.ErrNoMap) {
		return err
	}
	v, err := build(m)
	if err != nil {
		return analyticsError(err)
	}
	if reportCSV(r) {
		csvHeaders(w, name)
		return writeCSV(w, v)
	}
	web.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) getScorecards(w http.ResponseWriter, r *http.Request) error {
	return serveReport(s, w, r, "scorecards", func(m *journey.Map) (report.ScorecardReport, error) {
		days, err := report.ScorecardParams(r.URL.Query())
		if err != nil {
			return report.ScorecardReport{}, err
		}
		return report.Scorecards(r.Context(), s.Store, m, days, s.Now().UTC())
	}, report.WriteScorecardsCSV)
}

func (s *Server) getMomentScorecard(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("moment")
	return serveReport(s, w, r, "ideal-"+id, func(m *journey.Map) (report.Scorecard, error) {
		days, err := report.ScorecardParams(r.URL.Query())
		if err != nil {
			return report.Scorecard{}, err
		}
		return report.MomentScorecard(r.Context(), s.Store, m, id, days, s.Now().UTC())
	}, report.WriteIdealCSV)
}

func (s *Server) getFunnel(w http.ResponseWriter, r *http.Request) error {
	return serveReport(s, w, r, "funnel", func(m *journey.Map) (report.FunnelReport, error) {
		req, err := report.FunnelParams(r.URL.Query())
		if err != nil {
			return report.FunnelReport{}, err
		}
		return report.Funnel(r.Context(), s.Store, m, req, s.Now().UTC())
	}, report.WriteFunnelCSV)
}

func (s *Server) getTTV(w http.ResponseWriter, r *http.Request) error {
	return serveReport(s, w, r, "ttv", func(m *journey.Map) (report.TTVReport, error) {
		path, by, err := report.TTVParams(r.URL.Query())
		if err != nil {
			return report.TTVReport{}, err
		}
		return report.TTV(r.Context(), s.Store, m, path, by, s.Now().UTC())
	}, report.WriteTTVCSV)
}

// maxEffortMinutes bounds the effort recorded on one task (about ten
// working weeks), so a typo does not swamp a moment's cost.
const maxEffortMinutes = 100_000

func (s *Server) putTaskEffort(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Minutes *int `json:"minutes"`
	}
	if err := readTriggerBody(w, r, &body); err != nil {
		return err
	}
	switch {
	case body.Minutes == nil:
		return web.BadRequest("missing_field", "minutes", `minutes is missing: send the minutes spent on the task, such as {"minutes": 45}`)
	case *body.Minutes < 0 || *body.Minutes > maxEffortMinutes:
		return web.BadRequest("invalid_field", "minutes", "minutes must be from 0 to "+strconv.Itoa(maxEffortMinutes))
	}
	id := r.PathValue("id")
	if err := s.Store.RecordTaskEffort(r.Context(), id, *body.Minutes, s.Now()); err != nil {
		return storeError(err, "task "+strconv.Quote(id))
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"task_id": id, "effort_minutes": *body.Minutes})
	return nil
}

// The store satisfies what the reports read.
var _ report.Analytics = (*store.Store)(nil)
