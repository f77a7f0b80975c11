package ui

import (
	"context"
	"errors"
	"github.com/moments-cs/moments/internal/vocab"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/web"
)

// taskRow is one task as the cockpit and the account page show it.
type taskRow struct {
	Task        store.Task
	Status      string
	AccountName string
	MomentName  string
	// CanAct is whether the viewer may complete, snooze or reassign it.
	CanAct bool
	// Assignees are the people it may be reassigned to.
	Assignees []store.User
	// Back is where a form without JavaScript returns to.
	Back string
}

// taskRowsData is the "task_row" template's data (with the shell's).
type taskRowData struct {
	uiView
	Row taskRow
}

// isMine reports whether who (an assignee or account owner) names the
// viewer: their email or, failing that, their name.
func isMine(se auth.Session, who string) bool {
	who = strings.TrimSpace(who)
	if who == "" {
		return false
	}
	return strings.EqualFold(who, se.User.Email) || (se.User.Name != "" && strings.EqualFold(who, se.User.Name))
}

// canActOn reports whether the viewer may act on a task: ops and admins on
// every task, a CSM on the tasks they hold and the tasks of their accounts.
func canActOn(se auth.Session, t store.Task, accountOwner string) bool {
	if se.Role.Can(auth.PermWorkAll) {
		return true
	}
	return se.Role.Can(auth.PermWorkOwn) && (isMine(se, t.Assignee) || isMine(se, accountOwner))
}

// canWorkAccount reports whether the viewer may start moments on an
// account.
func canWorkAccount(se auth.Session, accountOwner string) bool {
	return se.Role.Can(auth.PermWorkAll) || (se.Role.Can(auth.PermWorkOwn) && isMine(se, accountOwner))
}

// rowsFor turns tasks into rows, looking up account and moment names once.
func (s *Server) rowsFor(ctx context.Context, se auth.Session, tasks []store.Task, back string, users []store.User) ([]taskRow, error) {
	accounts := map[string]store.Account{}
	moments := s.momentNames(ctx)
	rows := make([]taskRow, 0, len(tasks))
	now := s.Now()
	for _, t := range tasks {
		a, ok := accounts[t.AccountID]
		if !ok {
			var err error
			a, err = s.Store.Account(ctx, t.AccountID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			accounts[t.AccountID] = a
		}
		name := a.Name
		if name == "" {
			name = t.AccountID
		}
		rows = append(rows, taskRow{Task: t, Status: t.Display(now), AccountName: name, MomentName: uiNameOr(moments, t.MomentID),
			CanAct: canActOn(se, t, a.Owner), Assignees: users, Back: back})
	}
	return rows, nil
}

// momentNames maps the live map's moment ids to their names.
func (s *Server) momentNames(ctx context.Context) map[string]string {
	out := map[string]string{}
	if s.Journey == nil {
		return out
	}
	m, _, err := s.Journey.Get(ctx)
	if err != nil {
		return out
	}
	for _, mo := range m.Moments {
		out[mo.ID] = mo.Name
	}
	return out
}

// activeUsers are the people a task may be given to.
func (s *Server) activeUsers(ctx context.Context) ([]store.User, error) {
	all, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, u := range all {
		if u.DisabledAt == nil && u.Role != string(auth.RoleViewer) {
			out = append(out, u)
		}
	}
	return out, nil
}

// snoozeChoices are the snooze lengths offered.
var snoozeChoices = map[string]time.Duration{"1d": 24 * time.Hour, "3d": 72 * time.Hour, "7d": 7 * 24 * time.Hour}

// taskAction completes, snoozes or reassigns a task. An htmx request gets
// the task's row back, updated in place; a plain form post goes back to
// the page it came from.
func (s *Server) taskAction(action string) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		se := uiSession(r)
		id := r.PathValue("id")
		t, err := s.Store.Task(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return uiNotFound("This task does not exist any more.")
		}
		if err != nil {
			return err
		}
		a, err := s.Store.Account(ctx, t.AccountID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if !canActOn(se, t, a.Owner) {
			return web.Forbidden("This task belongs to someone else's account. Ask its owner, or ops, to change it.")
		}
		now := s.Now()
		c := store.TaskChange{By: se.User.Email}
		done := ""
		switch action {
		case "complete":
			st := vocab.TaskDone
			c.Status, done = &st, "task_completed"
		case "snooze":
			d, ok := snoozeChoices[r.PostFormValue("for")]
			if !ok {
				return uiBadRequest("for", "Choose how long to snooze: 1, 3 or 7 days.")
			}
			until := now.Add(d)
			c.SnoozedUntil, done = &until, "task_snoozed"
		case "reassign":
			to := strings.TrimSpace(r.PostFormValue("to"))
			users, err := s.activeUsers(ctx)
			if err != nil {
				return err
			}
			known := false
			for _, u := range users {
				if strings.EqualFold(u.Email, to) {
					known, to = true, u.Email
				}
			}
			if !known {
				return uiBadRequest("to", "Choose someone who can sign in to Moments to give the task to.")
			}
			c.Assignee, done = &to, "task_reassigned"
		}
		t, err = s.Store.UpdateTask(ctx, id, c, now)
		if err != nil {
			return err
		}
		s.Logger.InfoContext(ctx, "task changed", "task", id, "action", action, "by", se.User.Email)
		if !isHTMX(r) {
			back(w, r, "/", done)
			return nil
		}
		users, err := s.activeUsers(ctx)
		if err != nil {
			return err
		}
		rows, err := s.rowsFor(ctx, se, []store.Task{t}, localPath(r.PostFormValue("back"), "/"), users)
		if err != nil {
			return err
		}
		v := s.view(r, "", "", nil)
		v.Flash = flashText(done)
		s.renderPart(w, r, http.StatusOK, "cockpit", "task_row_swap", taskRowData{uiView: v, Row: rows[0]})
		return nil
	}
}

// taskCounts summarises rows by displayed status.
func taskCounts(rows []taskRow) map[string]int {
	out := map[string]int{}
	for _, r := range rows {
		out[r.Status]++
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
