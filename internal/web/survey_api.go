package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/survey"
)

func (s *Server) surveyRoutes() {
	s.handle("POST /api/v1/surveys/send", s.admin(s.sendSurvey))
	s.handle("GET /api/v1/reports/surveys", s.admin(s.surveyReport))
	s.surveyPageRoutes()
}

func (s *Server) surveysUnavailable(w http.ResponseWriter, r *http.Request) bool {
	if s.surveys != nil {
		return false
	}
	s.writeError(w, r, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable",
		Message: "surveys are not running on this server"}, nil)
	return true
}

// sendSurveyRequest is the body of POST /api/v1/surveys/send.
type sendSurveyRequest struct {
	Survey  string `json:"survey"`
	Account string `json:"account"`
	Contact string `json:"contact"`
	To      string `json:"to"`
	Moment  string `json:"moment"`
}

// sendSurvey sends one of the map's surveys by hand, within the fatigue
// budget; the answer says, per recipient, whether it was sent or skipped
// and why.
func (s *Server) sendSurvey(w http.ResponseWriter, r *http.Request) {
	if s.surveysUnavailable(w, r) {
		return
	}
	var req sendSurveyRequest
	if ae := readTriggerBody(w, r, &req); ae != nil {
		s.writeError(w, r, ae, nil)
		return
	}
	switch {
	case strings.TrimSpace(req.Survey) == "":
		s.writeError(w, r, badRequest("missing_field", "survey", "survey is required: the id of one of the journey map's surveys"), nil)
		return
	case strings.TrimSpace(req.Account) == "":
		s.writeError(w, r, badRequest("missing_field", "account", "account is required: the id of the account to survey"), nil)
		return
	case req.Contact == "" && req.To == "":
		s.writeError(w, r, badRequest("missing_field", "to", "give contact (a contact id) or to (a role such as sponsor, all, csm or an email address)"), nil)
		return
	case req.Contact != "" && req.To != "":
		s.writeError(w, r, badRequest("invalid_field", "to", "give contact or to, not both"), nil)
		return
	}
	if req.To != "" && !validSurveyTo(req.To) {
		s.writeError(w, r, badRequest("invalid_field", "to", "to must be a role ("+strings.Join(journey.EmailRecipients, ", ")+") or an email address"), nil)
		return
	}
	sends, err := s.surveys.Send(r.Context(), survey.Request{Survey: req.Survey, AccountID: req.Account,
		ContactID: req.Contact, To: req.To, MomentID: req.Moment})
	var fe *survey.FieldError
	switch {
	case errors.As(err, &fe):
		s.writeError(w, r, badRequest("invalid_field", fe.Field, fe.Message), nil)
		return
	case errors.Is(err, survey.ErrUnknownSurvey):
		s.writeError(w, r, badRequest("invalid_field", "survey", err.Error()), nil)
		return
	case errors.Is(err, journey.ErrNoMap):
		s.writeError(w, r, &apiError{Status: http.StatusConflict, Code: "no_map",
			Message: "no journey map is applied, so there are no surveys to send; apply one with moments map apply"}, nil)
		return
	case errors.Is(err, store.ErrNotFound):
		what := "account " + req.Account
		if req.Contact != "" && strings.Contains(err.Error(), "contact") {
			what = "contact " + req.Contact
		}
		s.writeError(w, r, notFound(what), nil)
		return
	case errors.Is(err, survey.ErrNoEmail), errors.Is(err, survey.ErrNoPublicURL):
		s.writeError(w, r, &apiError{Status: http.StatusServiceUnavailable, Code: "email_not_configured", Message: err.Error()}, nil)
		return
	case err != nil:
		s.writeError(w, r, err, nil)
		return
	}
	if len(sends) == 0 {
		s.writeError(w, r, badRequest("no_recipient", "to", "the account has no contact with an email address matching to"), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sends": sends})
}

func validSurveyTo(to string) bool {
	for _, r := range journey.EmailRecipients {
		if to == r {
			return true
		}
	}
	return strings.Count(to, "@") == 1 && !strings.ContainsAny(to, " <>,")
}

// surveyPeriod reads from and to (YYYY-MM-DD, to exclusive); default the
// last 90 days.
func surveyPeriod(r *http.Request, now time.Time) (time.Time, time.Time, *apiError) {
	to := now.Add(time.Second)
	from := now.AddDate(0, 0, -90)
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := r.URL.Query().Get(p.name); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return from, to, badRequest("invalid_field", p.name, p.name+" must be a date such as 2026-01-31")
			}
			*p.t = t
		}
	}
	if !from.Before(to) {
		return from, to, badRequest("invalid_field", "from", "from must be before to")
	}
	return from, to, nil
}

// surveyReport answers the survey report: scores by moment, stage, segment
// and month with sample sizes and 95 % intervals, response per moment,
// comments and the closing of the loop; CSV (the scores table) with
// Accept: text/csv.
func (s *Server) surveyReport(w http.ResponseWriter, r *http.Request) {
	rep, ae, err := s.buildSurveyReport(r)
	if ae != nil {
		s.writeError(w, r, ae, nil)
		return
	}
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	if wantsCSV(r) {
		csvHeaders(w, "surveys")
		_ = report.WriteSurveyCSV(w, rep)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) buildSurveyReport(r *http.Request) (report.SurveyReport, *apiError, error) {
	from, to, ae := surveyPeriod(r, s.now())
	if ae != nil {
		return report.SurveyReport{}, ae, nil
	}
	m, _, err := s.journey.Get(r.Context())
	if err != nil && !errors.Is(err, journey.ErrNoMap) {
		return report.SurveyReport{}, nil, err
	}
	rep, err := report.SurveyReportFor(r.Context(), s.store, m, from, to, nil)
	return rep, nil, err
}
