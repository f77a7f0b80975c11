package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/moments-cs/moments/internal/vocab"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/web"

	"github.com/moments-cs/moments/internal/store"
)

func (s *Server) runRoutes(rt *web.Router) {
	rt.Handle("GET /api/v1/tasks", s.admin(s.listTasks))
	rt.Handle("GET /api/v1/tasks/{id}", s.admin(s.getTask))
	rt.Handle("PATCH /api/v1/tasks/{id}", s.admin(s.patchTask))
	rt.Handle("GET /api/v1/runs", s.admin(s.listRuns))
	rt.Handle("GET /api/v1/runs/{id}", s.admin(s.getRun))
	rt.Handle("POST /api/v1/runs/{id}/steps/{step}/retry", s.admin(s.retryStep))
}

// taskJSON is a task as the API shows it: with the status people see
// (open, overdue, escalated, done, snoozed).
type taskJSON struct {
	store.Task
	Status string `json:"status"`
}

func (s *Server) taskJSON(t store.Task) taskJSON {
	return taskJSON{Task: t, Status: t.Display(s.Now())}
}

var taskStatuses = vocab.TaskStates

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	p, aerr := page(r)
	if aerr != nil {
		return aerr
	}
	q := r.URL.Query()
	f := store.TaskFilter{Assignee: q.Get("assignee"), AccountID: q.Get("account"), MomentID: q.Get("moment"),
		Status: q.Get("status"), RunID: q.Get("run")}
	if f.Status != "" && !slices.Contains(taskStatuses, f.Status) {
		return web.BadRequest("invalid_parameter", "status",
			"status "+strconv.Quote(f.Status)+" is not a task status: use open, overdue, escalated, done or snoozed")
	}
	tasks, next, err := s.Store.ListTasks(r.Context(), f, s.Now(), p)
	if err != nil {
		return storeError(err, "page")
	}
	out := make([]taskJSON, len(tasks))
	for i, t := range tasks {
		out[i] = s.taskJSON(t)
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"tasks": out, "next_cursor": next})
	return nil
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Store.Task(r.Context(), r.PathValue("id"))
	if err != nil {
		return storeError(err, "task "+strconv.Quote(r.PathValue("id")))
	}
	escs, err := s.Store.Escalations(r.Context(), t.ID, "")
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"task": s.taskJSON(t), "escalations": escs})
	return nil
}

// taskPatch is the body of PATCH /api/v1/tasks/{id}. snoozed_until is kept
// raw to tell null (wake the task) from absent (leave it).
type taskPatch struct {
	Assignee     *string         `json:"assignee"`
	Status       *string         `json:"status"`
	SnoozedUntil json.RawMessage `json:"snoozed_until"`
}

const maxAssignee = 200

func (s *Server) patchTask(w http.ResponseWriter, r *http.Request) error {
	var body taskPatch
	if aerr := readTriggerBody(w, r, &body); aerr != nil {
		return aerr
	}
	now := s.Now()
	c := store.TaskChange{By: startedBy(r, "")}
	if body.Assignee != nil {
		a := strings.TrimSpace(*body.Assignee)
		switch {
		case a == "":
			return web.BadRequest("invalid_field", "assignee", "assignee is empty: give the email address or team id of whoever takes the task")
		case len(a) > maxAssignee:
			return web.BadRequest("invalid_field", "assignee", "assignee is longer than 200 characters")
		}
		c.Assignee = &a
	}
	if body.Status != nil {
		switch *body.Status {
		case vocab.TaskDone, vocab.TaskOpen:
			c.Status = body.Status
		case vocab.TaskSnoozed:
			return web.BadRequest("invalid_field", "status", "to snooze a task, send snoozed_until with the time it should come back")
		default:
			return web.BadRequest("invalid_field", "status",
				"status "+strconv.Quote(*body.Status)+" cannot be set: use done to complete the task or open to reopen it")
		}
	}
	if len(body.SnoozedUntil) > 0 {
		if bytes.Equal(bytes.TrimSpace(body.SnoozedUntil), []byte("null")) {
			zero := time.Time{}
			c.SnoozedUntil = &zero
		} else {
			var text string
			if err := json.Unmarshal(body.SnoozedUntil, &text); err != nil {
				return web.BadRequest("invalid_field", "snoozed_until", "snoozed_until must be a time such as 2027-03-01T09:00:00Z, or null to wake the task")
			}
			t, err := time.Parse(time.RFC3339, text)
			if err != nil {
				return web.BadRequest("invalid_field", "snoozed_until", "snoozed_until "+strconv.Quote(text)+" is not a time such as 2027-03-01T09:00:00Z")
			}
			if !t.After(now) {
				return web.BadRequest("invalid_field", "snoozed_until", "snoozed_until must be in the future")
			}
			t = t.UTC()
			c.SnoozedUntil = &t
		}
	}
	if c.Assignee == nil && c.Status == nil && c.SnoozedUntil == nil {
		return web.BadRequest("empty_change", "", "nothing to change: send assignee (claim), status done (complete) or snoozed_until (snooze)")
	}
	t, err := s.Store.UpdateTask(r.Context(), r.PathValue("id"), c, now)
	if err != nil {
		return storeError(err, "task "+strconv.Quote(r.PathValue("id")))
	}
	web.WriteJSON(w, http.StatusOK, s.taskJSON(t))
	return nil
}

var runStatuses = []string{store.RunRunning, store.RunWaiting, store.RunDone, store.RunFailed}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	p, aerr := page(r)
	if aerr != nil {
		return aerr
	}
	q := r.URL.Query()
	f := store.RunFilter{AccountID: q.Get("account"), MomentID: q.Get("moment"), Status: q.Get("status")}
	if f.Status != "" && !slices.Contains(runStatuses, f.Status) {
		return web.BadRequest("invalid_parameter", "status",
			"status "+strconv.Quote(f.Status)+" is not a run status: use running, waiting, done or failed")
	}
	runs, next, err := s.Store.ListRuns(r.Context(), f, p)
	if err != nil {
		return storeError(err, "page")
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"runs": runs, "next_cursor": next})
	return nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	run, err := s.Store.Run(ctx, id)
	if err != nil {
		return storeError(err, "run "+strconv.Quote(id))
	}
	tasks, _, err := s.Store.ListTasks(ctx, store.TaskFilter{RunID: id}, s.Now(), store.Page{Limit: 500})
	if err != nil {
		return err
	}
	out := make([]taskJSON, len(tasks))
	for i, t := range tasks {
		out[i] = s.taskJSON(t)
	}
	sends, err := s.Store.AccountSends(ctx, "", id, 500)
	if err != nil {
		return err
	}
	escs, err := s.Store.Escalations(ctx, "", id)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"run": run, "tasks": out, "sends": sends, "escalations": escs})
	return nil
}

func (s *Server) retryStep(w http.ResponseWriter, r *http.Request) error {
	if s.Playbooks == nil {
		return &web.Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the playbook engine is not running on this server"}
	}
	ctx := r.Context()
	id, step := r.PathValue("id"), r.PathValue("step")
	if _, err := s.Store.Run(ctx, id); err != nil {
		return storeError(err, "run "+strconv.Quote(id))
	}
	err := s.Playbooks.RetryStep(ctx, id, step)
	switch {
	case errors.Is(err, store.ErrStepNotFailed):
		return &web.Error{Status: http.StatusConflict, Code: "not_failed", Field: "step",
			Message: "step " + strconv.Quote(step) + " has not failed, so there is nothing to retry; only a failed step can be retried"}
	case errors.Is(err, store.ErrNotFound):
		return web.NotFound("step " + strconv.Quote(step) + " of run " + strconv.Quote(id) + " (use the step's id, or its position from 1, as GET /api/v1/runs/{id} lists them)")
	case err != nil:
		return err
	}
	run, err := s.Store.Run(ctx, id)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusAccepted, map[string]any{"run": run})
	return nil
}
