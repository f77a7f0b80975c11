package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/store"
)

func (s *Server) playbookRoutes() {
	s.handle("GET /api/v1/tasks", s.admin(s.listTasks))
	s.handle("GET /api/v1/tasks/{id}", s.admin(s.getTask))
	s.handle("PATCH /api/v1/tasks/{id}", s.admin(s.patchTask))
	s.handle("GET /api/v1/runs", s.admin(s.listRuns))
	s.handle("GET /api/v1/runs/{id}", s.admin(s.getRun))
	s.handle("POST /api/v1/runs/{id}/steps/{step}/retry", s.admin(s.retryStep))
}

// taskJSON is a task as the API shows it: with the status people see
// (open, overdue, escalated, done, snoozed).
type taskJSON struct {
	store.Task
	Status string `json:"status"`
}

func (s *Server) taskJSON(t store.Task) taskJSON {
	return taskJSON{Task: t, Status: t.Display(s.now())}
}

var taskStatuses = []string{store.TaskOpen, store.TaskOverdue, store.TaskEscalated, store.TaskDone, store.TaskSnoozed}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	p, aerr := page(r)
	if aerr != nil {
		s.writeError(w, r, aerr, nil)
		return
	}
	q := r.URL.Query()
	f := store.TaskFilter{Assignee: q.Get("assignee"), AccountID: q.Get("account"), MomentID: q.Get("moment"),
		Status: q.Get("status"), RunID: q.Get("run")}
	if f.Status != "" && !slices.Contains(taskStatuses, f.Status) {
		s.writeError(w, r, badRequest("invalid_parameter", "status",
			"status "+strconv.Quote(f.Status)+" is not a task status: use open, overdue, escalated, done or snoozed"), nil)
		return
	}
	tasks, next, err := s.store.ListTasks(r.Context(), f, s.now(), p)
	if err != nil {
		s.writeError(w, r, storeError(err, "page"), nil)
		return
	}
	out := make([]taskJSON, len(tasks))
	for i, t := range tasks {
		out[i] = s.taskJSON(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out, "next_cursor": next})
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.store.Task(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, storeError(err, "task "+strconv.Quote(r.PathValue("id"))), nil)
		return
	}
	escs, err := s.store.Escalations(r.Context(), t.ID, "")
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"task": s.taskJSON(t), "escalations": escs})
}

// taskPatch is the body of PATCH /api/v1/tasks/{id}. snoozed_until is kept
// raw to tell null (wake the task) from absent (leave it).
type taskPatch struct {
	Assignee     *string         `json:"assignee"`
	Status       *string         `json:"status"`
	SnoozedUntil json.RawMessage `json:"snoozed_until"`
}

const maxAssignee = 200

func (s *Server) patchTask(w http.ResponseWriter, r *http.Request) {
	var body taskPatch
	if aerr := readTriggerBody(w, r, &body); aerr != nil {
		s.writeError(w, r, aerr, nil)
		return
	}
	now := s.now()
	c := store.TaskChange{By: startedBy(r, "")}
	if body.Assignee != nil {
		a := strings.TrimSpace(*body.Assignee)
		switch {
		case a == "":
			s.writeError(w, r, badRequest("invalid_field", "assignee", "assignee is empty: give the email address or team id of whoever takes the task"), nil)
			return
		case len(a) > maxAssignee:
			s.writeError(w, r, badRequest("invalid_field", "assignee", "assignee is longer than 200 characters"), nil)
			return
		}
		c.Assignee = &a
	}
	if body.Status != nil {
		switch *body.Status {
		case store.TaskDone, store.TaskOpen:
			c.Status = body.Status
		case store.TaskSnoozed:
			s.writeError(w, r, badRequest("invalid_field", "status", "to snooze a task, send snoozed_until with the time it should come back"), nil)
			return
		default:
			s.writeError(w, r, badRequest("invalid_field", "status",
				"status "+strconv.Quote(*body.Status)+" cannot be set: use done to complete the task or open to reopen it"), nil)
			return
		}
	}
	if len(body.SnoozedUntil) > 0 {
		if bytes.Equal(bytes.TrimSpace(body.SnoozedUntil), []byte("null")) {
			zero := time.Time{}
			c.SnoozedUntil = &zero
		} else {
			var text string
			if err := json.Unmarshal(body.SnoozedUntil, &text); err != nil {
				s.writeError(w, r, badRequest("invalid_field", "snoozed_until", "snoozed_until must be a time such as 2027-03-01T09:00:00Z, or null to wake the task"), nil)
				return
			}
			t, err := time.Parse(time.RFC3339, text)
			if err != nil {
				s.writeError(w, r, badRequest("invalid_field", "snoozed_until", "snoozed_until "+strconv.Quote(text)+" is not a time such as 2027-03-01T09:00:00Z"), nil)
				return
			}
			if !t.After(now) {
				s.writeError(w, r, badRequest("invalid_field", "snoozed_until", "snoozed_until must be in the future"), nil)
				return
			}
			t = t.UTC()
			c.SnoozedUntil = &t
		}
	}
	if c.Assignee == nil && c.Status == nil && c.SnoozedUntil == nil {
		s.writeError(w, r, badRequest("empty_change", "", "nothing to change: send assignee (claim), status done (complete) or snoozed_until (snooze)"), nil)
		return
	}
	before := ""
	if old, err := s.store.Task(r.Context(), r.PathValue("id")); err == nil {
		before = old.Assignee
	}
	t, err := s.store.UpdateTask(r.Context(), r.PathValue("id"), c, now)
	if err != nil {
		s.writeError(w, r, storeError(err, "task "+strconv.Quote(r.PathValue("id"))), nil)
		return
	}
	s.auditReassign(r.Context(), t, before, c)
	writeJSON(w, http.StatusOK, s.taskJSON(t))
}

var runStatuses = []string{store.RunRunning, store.RunWaiting, store.RunDone, store.RunFailed}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	p, aerr := page(r)
	if aerr != nil {
		s.writeError(w, r, aerr, nil)
		return
	}
	q := r.URL.Query()
	f := store.RunFilter{AccountID: q.Get("account"), MomentID: q.Get("moment"), Status: q.Get("status")}
	if f.Status != "" && !slices.Contains(runStatuses, f.Status) {
		s.writeError(w, r, badRequest("invalid_parameter", "status",
			"status "+strconv.Quote(f.Status)+" is not a run status: use running, waiting, done or failed"), nil)
		return
	}
	runs, next, err := s.store.ListRuns(r.Context(), f, p)
	if err != nil {
		s.writeError(w, r, storeError(err, "page"), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs, "next_cursor": next})
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	run, err := s.store.Run(ctx, id)
	if err != nil {
		s.writeError(w, r, storeError(err, "run "+strconv.Quote(id)), nil)
		return
	}
	tasks, _, err := s.store.ListTasks(ctx, store.TaskFilter{RunID: id}, s.now(), store.Page{Limit: 500})
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	out := make([]taskJSON, len(tasks))
	for i, t := range tasks {
		out[i] = s.taskJSON(t)
	}
	sends, err := s.store.AccountSends(ctx, "", id, 500)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	escs, err := s.store.Escalations(ctx, "", id)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"run": run, "tasks": out, "sends": sends, "escalations": escs})
}

func (s *Server) retryStep(w http.ResponseWriter, r *http.Request) {
	if s.playbooks == nil {
		s.writeError(w, r, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the playbook engine is not running on this server"}, nil)
		return
	}
	ctx := r.Context()
	id, step := r.PathValue("id"), r.PathValue("step")
	if _, err := s.store.Run(ctx, id); err != nil {
		s.writeError(w, r, storeError(err, "run "+strconv.Quote(id)), nil)
		return
	}
	err := s.playbooks.RetryStep(ctx, id, step)
	switch {
	case errors.Is(err, store.ErrStepNotFailed):
		s.writeError(w, r, &apiError{Status: http.StatusConflict, Code: "not_failed", Field: "step",
			Message: "step " + strconv.Quote(step) + " has not failed, so there is nothing to retry; only a failed step can be retried"}, nil)
		return
	case errors.Is(err, store.ErrNotFound):
		s.writeError(w, r, notFound("step "+strconv.Quote(step)+" of run "+strconv.Quote(id)+" (use the step's id, or its position from 1, as GET /api/v1/runs/{id} lists them)"), nil)
		return
	case err != nil:
		s.writeError(w, r, err, nil)
		return
	}
	run, err := s.store.Run(ctx, id)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"run": run})
}
