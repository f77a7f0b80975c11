package api

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/web"

	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
)

// healthRoutes registers the health, success path and report endpoints.
func (s *Server) healthRoutes(rt *web.Router) {
	rt.Handle("GET /api/v1/accounts/{id}/health", s.admin(s.getAccountHealth))
	rt.Handle("GET /api/v1/accounts/{id}/path", s.admin(s.getAccountPath))
	rt.Handle("GET /api/v1/reports/exceptions", s.admin(s.getExceptionReport))
	rt.Handle("GET /api/v1/reports/health", s.admin(s.getHealthReport))
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

// healthRunning refuses with 503 when the health tracker is not running on this server.
func (s *Server) healthRunning() error {
	if s.Health != nil {
		return nil
	}
	return &web.Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
		Message: "health is not running on this server"}
}

func csvHeaders(w http.ResponseWriter, name string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
}

func (s *Server) getAccountHealth(w http.ResponseWriter, r *http.Request) error {
	if err := s.healthRunning(); err != nil {
		return err
	}
	id := r.PathValue("id")
	h, err := s.Health.Account(r.Context(), id)
	if err != nil {
		return storeError(err, "account "+strconv.Quote(id))
	}
	if wantsCSV(r) {
		csvHeaders(w, "health-"+id)
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"day", "behavioural", "emotional", "combined", "quadrant"})
		for _, p := range h.Trend {
			_ = cw.Write([]string{p.Day.Format(time.DateOnly), csvScore(p.Behavioural), csvScore(p.Emotional), csvScore(p.Combined), p.Quadrant})
		}
		cw.Flush()
		return nil
	}
	web.WriteJSON(w, http.StatusOK, h)
	return nil
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

func (s *Server) getAccountPath(w http.ResponseWriter, r *http.Request) error {
	if err := s.healthRunning(); err != nil {
		return err
	}
	id := r.PathValue("id")
	p, err := s.Health.Path(r.Context(), id)
	if err != nil {
		return storeError(err, "account "+strconv.Quote(id))
	}
	if wantsCSV(r) {
		csvHeaders(w, "path-"+id)
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"path_id", "milestone_id", "name", "target_days", "due", "reached_at", "status", "late", "value", "implemented"})
		for _, m := range p.Milestones {
			_ = cw.Write([]string{p.PathID, m.ID, m.Name, strconv.Itoa(m.TargetDays), csvTime(m.Due), csvTime(m.ReachedAt),
				m.Status, strconv.FormatBool(m.Late), strconv.FormatBool(m.Value), strconv.FormatBool(m.Implemented)})
		}
		cw.Flush()
		return nil
	}
	web.WriteJSON(w, http.StatusOK, p)
	return nil
}

// intParam reads an optional whole-number query parameter within [lo, hi].
func intParam(r *http.Request, name string, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, web.BadRequest("invalid_parameter", name, name+" must be a whole number from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return n, nil
}

func healthFilter(r *http.Request) store.HealthFilter {
	q := r.URL.Query()
	return store.HealthFilter{Owner: q.Get("owner"), Segment: q.Get("segment"), Stage: q.Get("stage")}
}

func (s *Server) getExceptionReport(w http.ResponseWriter, r *http.Request) error {
	if err := s.healthRunning(); err != nil {
		return err
	}
	behind, aerr := intParam(r, "behind_days", 1, 3650)
	if aerr != nil {
		return aerr
	}
	limit, aerr := intParam(r, "limit", 1, maxExceptionRows)
	if aerr != nil {
		return aerr
	}
	rep, err := report.Exceptions(r.Context(), s.Store, report.ExceptionFilter{
		HealthFilter: healthFilter(r), BehindDays: behind, Limit: limit,
	}, s.Now())
	if err != nil {
		return err
	}
	if wantsCSV(r) {
		csvHeaders(w, "exceptions")
		if err := report.WriteExceptionsCSV(w, rep); err != nil {
			s.Logger.ErrorContext(r.Context(), "writing the exception report failed", "err", err)
		}
		return nil
	}
	web.WriteJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) getHealthReport(w http.ResponseWriter, r *http.Request) error {
	if err := s.healthRunning(); err != nil {
		return err
	}
	rep, err := report.Health(r.Context(), s.Store, healthFilter(r), s.Now())
	if err != nil {
		return err
	}
	if wantsCSV(r) {
		csvHeaders(w, "health")
		if err := report.WriteHealthCSV(w, rep); err != nil {
			s.Logger.ErrorContext(r.Context(), "writing the health report failed", "err", err)
		}
		return nil
	}
	web.WriteJSON(w, http.StatusOK, rep)
	return nil
}
