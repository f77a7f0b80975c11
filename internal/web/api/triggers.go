package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/moments-cs/moments/internal/web"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/trigger"
)

// maxTriggerBody bounds the JSON bodies of the trigger endpoints.
const maxTriggerBody = 64 << 10

func (s *Server) triggerRoutes(rt *web.Router) {
	rt.Handle("POST /api/v1/accounts/{id}/moments/{moment}/start", s.admin(s.startMoment))
	rt.Handle("POST /api/v1/accounts/{id}/rules", s.admin(s.createAccountRule))
	rt.Handle("GET /api/v1/accounts/{id}/rules", s.admin(s.listAccountRules))
	rt.Handle("DELETE /api/v1/accounts/{id}/rules/{rule}", s.admin(s.deleteAccountRule))
	rt.Handle("POST /api/v1/broadcasts", s.admin(s.createBroadcast))
	rt.Handle("GET /api/v1/broadcasts/{id}", s.admin(s.getBroadcast))
}

// triggersRunning refuses with 503 when the trigger engine is not running on this server.
func (s *Server) triggersRunning() error {
	if s.Triggers != nil {
		return nil
	}
	return &web.Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
		Message: "the trigger engine is not running on this server"}
}

// readTriggerBody decodes an optional JSON object body into v, refusing
// unknown fields so that a misspelt field is reported, not ignored.
func readTriggerBody(w http.ResponseWriter, r *http.Request, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTriggerBody))
	if err != nil {
		return &web.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Message: "the request body is larger than 64 KB"}
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return web.BadRequest("invalid_field", te.Field, te.Field+" has the wrong type: expected "+te.Type.String())
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return web.BadRequest("unknown_field", f, "field "+strconv.Quote(f)+" is not known here")
		}
		return web.BadRequest("invalid_json", "", "the request body is not a JSON object: "+err.Error())
	}
	return nil
}

// startedBy names who made a request: the body's started_by, else the API
// key's name.
func startedBy(r *http.Request, given string) string {
	if strings.TrimSpace(given) != "" {
		return strings.TrimSpace(given)
	}
	if k, ok := requestKey(r); ok {
		return "key:" + k.Name
	}
	return ""
}

// triggerError maps the trigger engine's errors to API errors.
func triggerError(err error, account, moment string) error {
	var ie *trigger.InputError
	switch {
	case errors.As(err, &ie):
		return web.BadRequest("invalid_field", ie.Field, ie.Message)
	case errors.Is(err, journey.ErrNoMap):
		return errNoJourney()
	case errors.Is(err, trigger.ErrUnknownAccount):
		return web.NotFound("account " + strconv.Quote(account))
	case errors.Is(err, trigger.ErrUnknownMoment):
		return web.NotFound("moment " + strconv.Quote(moment) + " (in the live journey map)")
	case errors.Is(err, trigger.ErrConditionNotMet):
		return &web.Error{Status: http.StatusConflict, Code: "condition_not_met",
			Message: "moment " + strconv.Quote(moment) + " was not started: its trigger condition does not hold for this account"}
	case errors.Is(err, trigger.ErrNoStarter):
		return &web.Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: err.Error()}
	case errors.Is(err, trigger.ErrIdempotencyMismatch):
		return &web.Error{Status: http.StatusConflict, Code: "idempotency_conflict", Field: "Idempotency-Key", Message: err.Error()}
	}
	return storeError(err, "account "+strconv.Quote(account))
}

func (s *Server) startMoment(w http.ResponseWriter, r *http.Request) error {
	if err := s.triggersRunning(); err != nil {
		return err
	}
	var body struct {
		Note      string `json:"note"`
		StartedBy string `json:"started_by"`
	}
	if aerr := readTriggerBody(w, r, &body); aerr != nil {
		return aerr
	}
	account, moment := r.PathValue("id"), r.PathValue("moment")
	res, err := s.Triggers.StartMoment(r.Context(), account, moment, trigger.ManualStart{
		Note: body.Note, StartedBy: startedBy(r, body.StartedBy), IdempotencyKey: r.Header.Get("Idempotency-Key")})
	if err != nil {
		return triggerError(err, account, moment)
	}
	status := http.StatusCreated
	if !res.Started {
		status = http.StatusOK
	}
	web.WriteJSON(w, status, res)
	return nil
}

func (s *Server) createAccountRule(w http.ResponseWriter, r *http.Request) error {
	if err := s.triggersRunning(); err != nil {
		return err
	}
	var in trigger.RuleInput
	if aerr := readTriggerBody(w, r, &in); aerr != nil {
		return aerr
	}
	account := r.PathValue("id")
	in.CreatedBy = startedBy(r, "")
	rule, err := s.Triggers.AddRule(r.Context(), account, in)
	if err != nil {
		return triggerError(err, account, in.Moment)
	}
	web.WriteJSON(w, http.StatusCreated, map[string]any{"rule": rule})
	return nil
}

func (s *Server) listAccountRules(w http.ResponseWriter, r *http.Request) error {
	if err := s.triggersRunning(); err != nil {
		return err
	}
	account := r.PathValue("id")
	if _, err := s.Store.Account(r.Context(), account); err != nil {
		return storeError(err, "account "+strconv.Quote(account))
	}
	rules, err := s.Triggers.Rules(r.Context(), account)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"rules": web.NonNil(rules)})
	return nil
}

func (s *Server) deleteAccountRule(w http.ResponseWriter, r *http.Request) error {
	if err := s.triggersRunning(); err != nil {
		return err
	}
	account, id := r.PathValue("id"), r.PathValue("rule")
	if err := s.Triggers.DeleteRule(r.Context(), account, id); err != nil {
		return storeError(err, "rule "+strconv.Quote(id)+" of account "+strconv.Quote(account))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) createBroadcast(w http.ResponseWriter, r *http.Request) error {
	if err := s.triggersRunning(); err != nil {
		return err
	}
	var body struct {
		Moment    string `json:"moment"`
		Segment   string `json:"segment"`
		StartedBy string `json:"started_by"`
	}
	if aerr := readTriggerBody(w, r, &body); aerr != nil {
		return aerr
	}
	b, created, err := s.Triggers.Broadcast(r.Context(), trigger.BroadcastRequest{Moment: body.Moment, Segment: body.Segment,
		IdempotencyKey: r.Header.Get("Idempotency-Key"), StartedBy: startedBy(r, body.StartedBy)})
	if err != nil {
		return triggerError(err, "", body.Moment)
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	web.WriteJSON(w, status, b)
	return nil
}

func (s *Server) getBroadcast(w http.ResponseWriter, r *http.Request) error {
	if err := s.triggersRunning(); err != nil {
		return err
	}
	id := r.PathValue("id")
	b, err := s.Triggers.BroadcastByID(r.Context(), id)
	if err != nil {
		return storeError(err, "broadcast "+strconv.Quote(id))
	}
	web.WriteJSON(w, http.StatusOK, b)
	return nil
}
