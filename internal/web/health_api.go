package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
)

// healthRoutes registers the health, success path and report endpoints.
func (s *Server) healthRoutes() {
	s.handle("GET /api/v1/accounts/{id}/health", s.admin(s.getAccountHealth))
	s.handle("GET /api/v1/accounts/{id}/path", s.admin(s.getAccountPath))
	s.handle("GET /api/v1/reports/exceptions", s.admin(s.getExceptionReport))
	s.handle("GET /api/v1/reports/health", s.admin(s.getHealthReport))
}

// maxExceptionRows bounds the limit parameter of the exception report.
const maxExceptionRows = 100_000

// wantsCSV reports whether the client asked for CSV.
func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/csv") {
			return true
		}
	}
	return false
}

func (s *Server) healthUnavailable(w http.ResponseWriter, r *http.Request) bool {
	if s.health != nil {
		return false
	}
	s.writeError(w, r, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable",
		Message: "health is not running on this server"}, nil)
	return true
}

func csvHeaders(w http.ResponseWriter, name string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
}

func (s *Server) getAccountHealth(w http.ResponseWriter, r *http.Request) {
	if s.healthUnavailable(w, r) {
		return
	}
	id := r.PathValue("id")
	h, err := s.health.Account(r.Context(), id)
	if err != nil {
		s.writeError(w, r, storeError(err, "account "+strconv.Quote(id)), nil)
		return
	}
	if wantsCSV(r) {
		csvHeaders(w, "health-"+id)
		cw := report.NewCSVWriter(w)
		_ = cw.Write([]string{"day", "behavioural", "emotional", "combined", "quadrant"})
		for _, p := range h.Trend {
			_ = cw.Write([]string{p.Day.Format(time.DateOnly), csvScore(p.Behavioural), csvScore(p.Emotional), csvScore(p.Combined), p.Quadrant})
		}
		cw.Flush()
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func csvScore(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Server) getAccountPath(w http.ResponseWriter, r *http.Request) {
	if s.healthUnavailable(w, r) {
		return
	}
	id := r.PathValue("id")
	p, err := s.health.Path(r.Context(), id)
	if err != nil {
		s.writeError(w, r, storeError(err, "account "+strconv.Quote(id)), nil)
		return
	}
	if wantsCSV(r) {
		csvHeaders(w, "path-"+id)
		cw := report.NewCSVWriter(w)
		_ = cw.Write([]string{"path_id", "milestone_id", "name", "target_days", "due", "reached_at", "status", "late", "value", "implemented"})
		for _, m := range p.Milestones {
			_ = cw.Write([]string{p.PathID, m.ID, m.Name, strconv.Itoa(m.TargetDays), csvTime(m.Due), csvTime(m.ReachedAt),
				m.Status, strconv.FormatBool(m.Late), strconv.FormatBool(m.Value), strconv.FormatBool(m.Implemented)})
		}
		cw.Flush()
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// intParam reads an optional whole-number query parameter within [lo, hi].
func intParam(r *http.Request, name string, lo, hi int) (int, *apiError) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("invalid_parameter", name, name+" must be a whole number from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return n, nil
}

func healthFilter(r *http.Request) store.HealthFilter {
	q := r.URL.Query()
	return store.HealthFilter{Owner: q.Get("owner"), Segment: q.Get("segment"), Stage: q.Get("stage")}
}

func (s *Server) getExceptionReport(w http.ResponseWriter, r *http.Request) {
	if s.healthUnavailable(w, r) {
		return
	}
	behind, aerr := intParam(r, "behind_days", 1, 3650)
	if aerr != nil {
		s.writeError(w, r, aerr, nil)
		return
	}
	limit, aerr := intParam(r, "limit", 1, maxExceptionRows)
	if aerr != nil {
		s.writeError(w, r, aerr, nil)
		return
	}
	rep, err := report.Exceptions(r.Context(), s.store, report.ExceptionFilter{
		HealthFilter: healthFilter(r), BehindDays: behind, Limit: limit,
	}, s.now())
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	if wantsCSV(r) {
		csvHeaders(w, "exceptions")
		if err := report.WriteExceptionsCSV(w, rep); err != nil {
			s.log.ErrorContext(r.Context(), "writing the exception report failed", "err", err)
		}
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) getHealthReport(w http.ResponseWriter, r *http.Request) {
	if s.healthUnavailable(w, r) {
		return
	}
	rep, err := report.Health(r.Context(), s.store, healthFilter(r), s.now())
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	if wantsCSV(r) {
		csvHeaders(w, "health")
		if err := report.WriteHealthCSV(w, rep); err != nil {
			s.log.ErrorContext(r.Context(), "writing the health report failed", "err", err)
		}
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
