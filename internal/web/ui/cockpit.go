package ui

import (
	"cmp"
	"context"
	"github.com/moments-cs/moments/internal/vocab"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
)

// taskTable is the "task_rows" template's data.
type taskTable struct {
	View uiView
	Rows []taskRow
}

// renewalRow is an account whose renewal is coming up.
type renewalRow struct {
	Account store.Account
	Date    time.Time
	Days    int
}

// scheduledRow is a scheduled moment due soon for an account.
type scheduledRow struct {
	Account    store.Account
	MomentID   string
	MomentName string
	Due        time.Time
	Rule       string
}

type cockpitData struct {
	// Everyone is true when the viewer asked for every account's work.
	Everyone    bool
	Scope       []pageLink
	Tasks       taskTable
	Counts      map[string]int
	Escalations taskTable
	Exceptions  report.ExceptionReport
	HasHealth   bool
	Renewals    []renewalRow
	Scheduled   []scheduledRow
	HasMap      bool
	// Accounts is how many accounts the viewer owns.
	Accounts int
}

// cockpit horizons.
const (
	cockpitTaskLimit     = 200
	cockpitRenewalDays   = 120
	cockpitScheduledDays = 30
	cockpitExceptions    = 10
)

// cockpitPage is the home page: the viewer's work for today. It is also
// the catch-all route, so any other unknown path gets the not-found page.
func (s *Server) cockpitPage(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/" {
		return uiNotFound("There is no page at " + r.URL.Path + ".")
	}
	ctx := r.Context()
	se := uiSession(r)
	now := s.Now()
	d := cockpitData{Everyone: r.URL.Query().Get("who") == "all", HasHealth: s.Health != nil}
	d.Scope = []pageLink{{Label: "My work", URL: "/", Current: !d.Everyone}, {Label: "Everyone's", URL: "/?who=all", Current: d.Everyone}}
	owner := se.User.Email
	if d.Everyone {
		owner = ""
	}
	v := s.view(r, "cockpit", "Cockpit", nil)
	v.Subtitle = "Your open tasks (and your team's on your accounts), escalations and the accounts that need you, " + now.In(v.TZ).Format("Monday 2 January")
	if d.Everyone {
		v.Subtitle = "Everyone's open tasks, escalations and the accounts that need attention"
	}

	users, err := s.activeUsers(ctx)
	if err != nil {
		return err
	}
	tasks, _, err := s.Store.ListTasks(ctx, store.TaskFilter{Assignee: owner, Status: vocab.TaskOpen}, now, store.Page{Limit: cockpitTaskLimit})
	if err != nil {
		return err
	}
	mine, err := s.ownedAccounts(ctx, owner)
	if err != nil {
		return err
	}
	if !d.Everyone {
		// A team's task on one of my accounts is mine to pick up.
		more, err := s.teamTasksOn(ctx, mine, now)
		if err != nil {
			return err
		}
		tasks = append(tasks, more...)
		slices.SortStableFunc(tasks, func(a, b store.Task) int { return compareDue(a, b) })
	}
	// Overdue and escalated first, then by due date (ListTasks' order).
	urgent := func(t store.Task) int {
		switch t.Display(now) {
		case vocab.TaskEscalated, vocab.TaskOverdue:
			return 0
		}
		return 1
	}
	slices.SortStableFunc(tasks, func(a, b store.Task) int { return cmp.Compare(urgent(a), urgent(b)) })
	rows, err := s.rowsFor(ctx, se, tasks, r.URL.RequestURI(), users)
	if err != nil {
		return err
	}
	d.Tasks = taskTable{View: v, Rows: rows}
	d.Counts = taskCounts(rows)

	// Escalations: escalated tasks held by the viewer or on their accounts.
	esc, _, err := s.Store.ListTasks(ctx, store.TaskFilter{Status: vocab.TaskEscalated}, now, store.Page{Limit: cockpitTaskLimit})
	if err != nil {
		return err
	}
	escRows, err := s.rowsFor(ctx, se, esc, r.URL.RequestURI(), users)
	if err != nil {
		return err
	}
	d.Accounts = len(mine)
	owned := map[string]bool{}
	for _, a := range mine {
		owned[a.ID] = true
	}
	keep := escRows[:0]
	for _, row := range escRows {
		if d.Everyone || isMine(se, row.Task.Assignee) || owned[row.Task.AccountID] {
			keep = append(keep, row)
		}
	}
	d.Escalations = taskTable{View: v, Rows: keep}

	if s.Health != nil {
		d.Exceptions, err = report.Exceptions(ctx, s.Store, report.ExceptionFilter{
			HealthFilter: store.HealthFilter{Owner: owner}, Limit: cockpitExceptions}, now)
		if err != nil {
			return err
		}
	}
	d.Renewals = upcomingRenewals(mine, now, cockpitRenewalDays)
	if m, _, err := s.liveMap(ctx); err == nil && m != nil {
		d.HasMap = true
		d.Scheduled = upcomingScheduled(m, mine, now, cockpitScheduledDays)
	}
	v.Data = d
	s.render(w, r, http.StatusOK, "cockpit", v)
	return nil
}

// teamTasksOn returns the open tasks on accts held by a team (an assignee
// that is not an email address), at most cockpitTaskLimit.
func (s *Server) teamTasksOn(ctx context.Context, accts []store.Account, now time.Time) ([]store.Task, error) {
	var out []store.Task
	for _, a := range accts {
		ts, _, err := s.Store.ListTasks(ctx, store.TaskFilter{AccountID: a.ID, Status: vocab.TaskOpen}, now, store.Page{Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if !strings.Contains(t.Assignee, "@") {
				out = append(out, t)
			}
		}
		if len(out) >= cockpitTaskLimit {
			break
		}
	}
	return out, nil
}

// compareDue orders tasks by due date, undated last, then by id.
func compareDue(a, b store.Task) int {
	switch {
	case a.DueAt == nil && b.DueAt == nil:
		return strings.Compare(a.ID, b.ID)
	case a.DueAt == nil:
		return 1
	case b.DueAt == nil:
		return -1
	}
	return cmp.Or(a.DueAt.Compare(*b.DueAt), strings.Compare(a.ID, b.ID))
}

// liveMap returns the live map, or nil without error when none is applied.
func (s *Server) liveMap(ctx context.Context) (*journey.Map, int, error) {
	if s.Journey == nil {
		return nil, 0, nil
	}
	m, n, err := s.Journey.Get(ctx)
	if err == journey.ErrNoMap {
		return nil, 0, nil
	}
	return m, n, err
}

// maxUIAccounts bounds how many accounts one page reads. The UI is sized
// for a CS team's book of business (thousands of accounts); past this a
// page says it shows the first ones.
const maxUIAccounts = 20_000

// ownedAccounts returns the accounts of owner ("" for all).
func (s *Server) ownedAccounts(ctx context.Context, owner string) ([]store.Account, error) {
	var out []store.Account
	p := store.Page{Limit: 500}
	for {
		page, next, err := s.Store.ListAccounts(ctx, store.AccountFilter{Owner: owner}, p)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" || len(out) >= maxUIAccounts {
			return out, nil
		}
		p.Cursor = next
	}
}

// upcomingRenewals lists accounts renewing within horizon days (or overdue
// by up to 30), soonest first; churned accounts renew no more.
func upcomingRenewals(accts []store.Account, now time.Time, horizon int) []renewalRow {
	var out []renewalRow
	for _, a := range accts {
		if a.LifecycleStage == vocab.StageChurned {
			continue
		}
		d, ok := store.ParseDate(a.RenewalDate)
		if !ok {
			continue
		}
		days := int(d.Sub(now.Truncate(24*time.Hour)).Hours() / 24)
		if days >= -30 && days <= horizon {
			out = append(out, renewalRow{Account: a, Date: d, Days: days})
		}
	}
	slices.SortFunc(out, func(a, b renewalRow) int {
		return cmp.Or(a.Date.Compare(b.Date), strings.Compare(a.Account.Name, b.Account.Name))
	})
	return out
}

// upcomingScheduled computes, from the live map, the scheduled moments
// relative to an account date (such as renewal − 90 days) that fall due
// for these accounts within horizon days.
func upcomingScheduled(m *journey.Map, accts []store.Account, now time.Time, horizon int) []scheduledRow {
	var out []scheduledRow
	end := now.Add(time.Duration(horizon) * 24 * time.Hour)
	for _, mo := range m.Moments {
		sc := mo.Trigger.Schedule
		if mo.Trigger.Category != journey.CategoryScheduled || sc == nil || sc.RelativeTo == "" {
			continue
		}
		off := journey.Duration{}
		if sc.Offset != "" {
			var err error
			if off, err = journey.ParseDuration(sc.Offset); err != nil {
				continue
			}
		}
		for _, a := range accts {
			raw := a.RenewalDate
			if sc.RelativeTo != "renewal_date" {
				v, _ := a.Traits[sc.RelativeTo].(string)
				raw = v
			}
			d, ok := store.ParseDate(raw)
			if !ok {
				continue
			}
			due := off.AddTo(d)
			if due.Before(now.Truncate(24*time.Hour)) || due.After(end) {
				continue
			}
			rule := sc.RelativeTo
			if sc.Offset != "" {
				rule += " " + sc.Offset
			}
			out = append(out, scheduledRow{Account: a, MomentID: mo.ID, MomentName: cmp.Or(mo.Name, mo.ID), Due: due, Rule: rule})
		}
	}
	slices.SortFunc(out, func(a, b scheduledRow) int { return a.Due.Compare(b.Due) })
	if len(out) > 50 {
		out = out[:50]
	}
	return out
}

var _ = auth.PermRead
