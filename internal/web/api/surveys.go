package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/survey"
	"github.com/moments-cs/moments/internal/web"
)

func (s *Server) surveyRoutes(rt *web.Router) {
	rt.Handle("POST /api/v1/surveys/send", s.admin(s.sendSurvey))
	rt.Handle("GET /api/v1/reports/surveys", s.admin(s.surveyReport))
}

// surveysRunning refuses with 503 when the survey service is not running
// on this server.
func (s *Server) surveysRunning() error {
	if s.Surveys != nil {
		return nil
	}
	return &web.Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "surveys are not running on this server"}
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
func (s *Server) sendSurvey(w http.ResponseWriter, r *http.Request) error {
	if err := s.surveysRunning(); err != nil {
		return err
	}
	var req sendSurveyRequest
	if err := readTriggerBody(w, r, &req); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(req.Survey) == "":
		return web.BadRequest("missing_field", "survey", "survey is required: the id of one of the journey map's surveys")
	case strings.TrimSpace(req.Account) == "":
		return web.BadRequest("missing_field", "account", "account is required: the id of the account to survey")
	case req.Contact == "" && req.To == "":
		return web.BadRequest("missing_field", "to", "give contact (a contact id) or to (a role such as sponsor, all, csm or an email address)")
	case req.Contact != "" && req.To != "":
		return web.BadRequest("invalid_field", "to", "give contact or to, not both")
	case req.To != "" && !validSurveyTo(req.To):
		return web.BadRequest("invalid_field", "to", "to must be a role ("+strings.Join(journey.EmailRecipients, ", ")+") or an email address")
	}
	sends, err := s.Surveys.Send(r.Context(), survey.Request{Survey: req.Survey, AccountID: req.Account,
		ContactID: req.Contact, To: req.To, MomentID: req.Moment})
	var fe *survey.FieldError
	switch {
	case errors.As(err, &fe):
		return web.BadRequest("invalid_field", fe.Field, fe.Message)
	case errors.Is(err, survey.ErrUnknownSurvey):
		return web.BadRequest("invalid_field", "survey", err.Error())
	case errors.Is(err, journey.ErrNoMap):
		return &web.Error{Status: http.StatusConflict, Code: "no_map",
			Message: "no journey map is applied, so there are no surveys to send; apply one with moments map apply"}
	case errors.Is(err, store.ErrNotFound):
		what := "account " + req.Account
		if req.Contact != "" && strings.Contains(err.Error(), "contact") {
			what = "contact " + req.Contact
		}
		return web.NotFound(what)
	case errors.Is(err, survey.ErrNoEmail), errors.Is(err, survey.ErrNoPublicURL):
		return &web.Error{Status: http.StatusServiceUnavailable, Code: "email_not_configured", Message: err.Error()}
	case err != nil:
		return err
	}
	if len(sends) == 0 {
		return web.BadRequest("no_recipient", "to", "the account has no contact with an email address matching to")
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"sends": sends})
	return nil
}

func validSurveyTo(to string) bool {
	for _, r := range journey.EmailRecipients {
		if to == r {
			return true
		}
	}
	return strings.Count(to, "@") == 1 && !strings.ContainsAny(to, " <>,")
}

// surveyReport answers the survey report: scores by moment, stage, segment
// and month with sample sizes and 95 % intervals, response per moment,
// comments and the closing of the loop; CSV (the scores table) with
// Accept: text/csv.
func (s *Server) surveyReport(w http.ResponseWriter, r *http.Request) error {
	from, to, err := SurveyPeriod(r, s.Now())
	if err != nil {
		return err
	}
	m, _, err := s.Journey.Get(r.Context())
	if err != nil && !errors.Is(err, journey.ErrNoMap) {
		return err
	}
	rep, err := report.SurveyReportFor(r.Context(), s.Store, m, from, to, nil)
	if err != nil {
		return err
	}
	if wantsCSV(r) {
		csvHeaders(w, "surveys")
		return report.WriteSurveyCSV(w, rep)
	}
	web.WriteJSON(w, http.StatusOK, rep)
	return nil
}

// SurveyPeriod reads the query's from and to (YYYY-MM-DD, to exclusive);
// default the last 90 days. The UI's survey report reads the same.
func SurveyPeriod(r *http.Request, now time.Time) (time.Time, time.Time, error) {
	to := now.Add(time.Second)
	from := now.AddDate(0, 0, -90)
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := r.URL.Query().Get(p.name); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return from, to, web.BadRequest("invalid_field", p.name, p.name+" must be a date such as 2026-01-31")
			}
			*p.t = t
		}
	}
	if !from.Before(to) {
		return from, to, web.BadRequest("invalid_field", "from", "from must be before to")
	}
	return from, to, nil
}
