package api

import (
	"errors"
	"net/http"

	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/web"
)

// outcomeRoutes registers the reports on outcomes: drivers, the backtest
// of the health score, and calibration of its weights.
func (s *Server) outcomeRoutes(rt *web.Router) {
	rt.Handle("GET /api/v1/reports/drivers", s.admin(s.getDrivers))
	rt.Handle("GET /api/v1/reports/health-backtest", s.admin(s.getHealthBacktest))
	rt.Handle("POST /api/v1/health/calibrate", s.admin(s.postHealthCalibrate))
}

// outcomeQuery reads outcome, horizon, gap and window from the query.
func (s *Server) outcomeQuery(r *http.Request) (report.OutcomeQuery, error) {
	v := r.URL.Query()
	q := report.OutcomeQuery{Outcome: v.Get("outcome"), Now: s.Now(), HorizonDays: report.DefaultHorizonDays}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"horizon", &q.HorizonDays}, {"gap", &q.GapDays}, {"window", &q.WindowDays}} {
		if raw := v.Get(p.name); raw != "" {
			n, err := report.ParseDays(p.name, raw)
			if err != nil {
				return q, outcomeError(err)
			}
			*p.dst = n
		}
	}
	return q, nil
}

// outcomeError maps the reports' errors: a bad parameter is a 400 naming
// it, too few outcomes a 422 saying how many there are.
func outcomeError(err error) error {
	var oe *report.OutcomeError
	switch {
	case errors.As(err, &oe):
		return web.BadRequest("invalid_parameter", oe.Field, oe.Error())
	case errors.Is(err, report.ErrTooFewOutcomes):
		return web.NewError(http.StatusUnprocessableEntity, "too_few_outcomes", "outcome", err.Error())
	}
	return err
}

func (s *Server) getDrivers(w http.ResponseWriter, r *http.Request) error {
	q, err := s.outcomeQuery(r)
	if err != nil {
		return err
	}
	d, err := report.DriversReport(r.Context(), s.Store, q)
	if err != nil {
		return outcomeError(err)
	}
	if wantsCSV(r) {
		csvHeaders(w, "drivers")
		if err := report.WriteDriversCSV(w, d); err != nil {
			s.Logger.ErrorContext(r.Context(), "writing the drivers report failed", "err", err)
		}
		return nil
	}
	web.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) getHealthBacktest(w http.ResponseWriter, r *http.Request) error {
	if err := s.healthRunning(); err != nil {
		return err
	}
	q, err := s.outcomeQuery(r)
	if err != nil {
		return err
	}
	b, err := report.BacktestReport(r.Context(), s.Store, s.Health, q)
	if err != nil {
		return outcomeError(err)
	}
	if wantsCSV(r) {
		csvHeaders(w, "health-backtest")
		if err := report.WriteBacktestCSV(w, b); err != nil {
			s.Logger.ErrorContext(r.Context(), "writing the backtest failed", "err", err)
		}
		return nil
	}
	web.WriteJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) postHealthCalibrate(w http.ResponseWriter, r *http.Request) error {
	if err := s.healthRunning(); err != nil {
		return err
	}
	q, err := s.outcomeQuery(r)
	if err != nil {
		return err
	}
	c, err := report.CalibrationReport(r.Context(), s.Store, s.Health, q)
	if err != nil {
		return outcomeError(err)
	}
	web.WriteJSON(w, http.StatusOK, c)
	return nil
}
