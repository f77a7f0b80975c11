package ui

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/moments-cs/moments/internal/vocab"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/web"

	"github.com/moments-cs/moments/internal/health/tracker"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/trigger"
)

// accountRow is one account in the accounts list.
type accountRow struct {
	Account  store.Account
	Quadrant string
	Combined *float64
}

type accountsData struct {
	Rows     []accountRow
	Total    int
	Shown    int
	Page     int
	Pages    int
	Query    map[string]string
	Segments []string
	Owners   []string
	Stages   []string
	Sort     string
	Desc     bool
	Columns  []sortColumn
	Capped   bool
	Filtered bool
}

type sortColumn struct {
	Key, Label string
	Num        bool
	Sorted     string // "ascending", "descending" or ""
	URL        string
}

const accountsPerPage = 50

// accountsPage lists accounts with filters (segment, owner, stage), a
// search over name and id, sorting by any column and pages of 50. Without
// JavaScript the filter form submits as a GET; every state is a URL.
func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := accountsData{Query: map[string]string{}}
	for _, k := range []string{"segment", "owner", "stage", "q", "sort", "dir"} {
		if v := strings.TrimSpace(q.Get(k)); v != "" {
			d.Query[k] = v
		}
	}
	if q.Get("owner") == "me" {
		d.Query["owner"] = uiSession(r).User.Email
	}
	all, err := s.ownedAccounts(ctx, "")
	if err != nil {
		return err
	}
	d.Capped = len(all) >= maxUIAccounts
	d.Total = len(all)
	segs, owners, stages := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var rows []accountRow
	search := strings.ToLower(d.Query["q"])
	for _, a := range all {
		segs[a.Segment], owners[a.Owner], stages[a.LifecycleStage] = true, true, true
		if (d.Query["segment"] != "" && a.Segment != d.Query["segment"]) ||
			(d.Query["owner"] != "" && !strings.EqualFold(a.Owner, d.Query["owner"])) ||
			(d.Query["stage"] != "" && a.LifecycleStage != d.Query["stage"]) ||
			(search != "" && !strings.Contains(strings.ToLower(a.Name), search) && !strings.Contains(strings.ToLower(a.ID), search)) {
			continue
		}
		rows = append(rows, accountRow{Account: a})
	}
	d.Filtered = len(d.Query) > 0
	d.Segments, d.Owners, d.Stages = keysOf(segs), keysOf(owners), keysOf(stages)
	d.Sort, d.Desc = cmp.Or(d.Query["sort"], "name"), d.Query["dir"] == "desc"
	// Health is one indexed read per account: read for every matching
	// account only to sort by it, otherwise for the page shown.
	if d.Sort == "health" {
		if err := s.loadQuadrants(ctx, rows); err != nil {
			return err
		}
	}
	sortAccounts(rows, d.Sort, d.Desc)
	cols := []sortColumn{{Key: "name", Label: "Account"}, {Key: "owner", Label: "Owner"}, {Key: "segment", Label: "Segment"},
		{Key: "stage", Label: "Stage"}, {Key: "arr", Label: "ARR", Num: true}, {Key: "renewal", Label: "Renewal"},
		{Key: "health", Label: "Health"}, {Key: "seen", Label: "Last seen"}}
	for i, c := range cols {
		dir := "asc"
		if c.Key == d.Sort {
			cols[i].Sorted = "ascending"
			if d.Desc {
				cols[i].Sorted = "descending"
			} else {
				dir = "desc"
			}
		} else if c.Num || c.Key == "health" || c.Key == "seen" {
			dir = "desc"
		}
		cols[i].URL = "/accounts" + queryWith(d.Query, "sort", c.Key, "dir", dir, "page", "")
	}
	d.Columns = cols
	d.Shown = len(rows)
	d.Pages = max(1, (len(rows)+accountsPerPage-1)/accountsPerPage)
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	from := (d.Page - 1) * accountsPerPage
	d.Rows = rows[from:min(from+accountsPerPage, len(rows))]
	if d.Sort != "health" {
		if err := s.loadQuadrants(ctx, d.Rows); err != nil {
			return err
		}
	}
	v := s.view(r, "accounts", "Accounts", d)
	v.Subtitle = fmt.Sprintf("%s of %s accounts", number(d.Shown), number(d.Total))
	if isHTMX(r) && r.Header.Get("HX-Target") == "account-results" {
		s.renderPart(w, r, http.StatusOK, "accounts", "account_results", v)
		return nil
	}
	s.render(w, r, http.StatusOK, "accounts", v)
	return nil
}

// loadQuadrants fills in the stored health of rows.
func (s *Server) loadQuadrants(ctx context.Context, rows []accountRow) error {
	if s.Health == nil {
		return nil
	}
	for i := range rows {
		h, err := s.Store.AccountHealth(ctx, rows[i].Account.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		rows[i].Quadrant, rows[i].Combined = h.Quadrant, h.Combined
	}
	return nil
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// quadrantRank orders quadrants for sorting, best first.
var quadrantRank = map[string]int{vocab.QuadrantChampion: 4, vocab.QuadrantCaptive: 3, vocab.QuadrantDormantFan: 2, vocab.QuadrantAtRisk: 1}

func sortAccounts(rows []accountRow, key string, desc bool) {
	score := func(r accountRow) float64 {
		if r.Combined == nil {
			return -1
		}
		return *r.Combined
	}
	seen := func(r accountRow) int64 {
		if r.Account.LastSeenAt == nil {
			return 0
		}
		return r.Account.LastSeenAt.UnixMicro()
	}
	slices.SortStableFunc(rows, func(a, b accountRow) int {
		var c int
		switch key {
		case "owner":
			c = strings.Compare(a.Account.Owner, b.Account.Owner)
		case "segment":
			c = strings.Compare(a.Account.Segment, b.Account.Segment)
		case "stage":
			c = strings.Compare(a.Account.LifecycleStage, b.Account.LifecycleStage)
		case "arr":
			c = cmp.Compare(a.Account.ARR, b.Account.ARR)
		case "renewal":
			// Accounts without a renewal date sort last either way.
			x, y := a.Account.RenewalDate, b.Account.RenewalDate
			if (x == "") != (y == "") {
				if x == "" {
					return 1
				}
				return -1
			}
			c = strings.Compare(x, y)
		case "health":
			c = cmp.Or(cmp.Compare(quadrantRank[a.Quadrant], quadrantRank[b.Quadrant]), cmp.Compare(score(a), score(b)))
		case "seen":
			c = cmp.Compare(seen(a), seen(b))
		}
		if desc {
			c = -c
		}
		return cmp.Or(c, strings.Compare(strings.ToLower(a.Account.Name), strings.ToLower(b.Account.Name)),
			strings.Compare(a.Account.ID, b.Account.ID))
	})
}

// --- account page -------------------------------------------------------------

type timelineItem struct {
	At     time.Time
	Kind   string
	Title  string
	Detail string
	Status string
	Link   string
}

type startableMoment struct {
	ID, Name, Stage string
	Category        string
}

type accountData struct {
	Account   store.Account
	Traits    []uiFact
	Contacts  []store.Contact
	Health    *tracker.AccountHealth
	Path      *tracker.Path
	Tasks     taskTable
	Timeline  []timelineItem
	Moments   []startableMoment
	CanStart  bool
	Renewal   *renewalRow
	HasMap    bool
	Runs      []store.Run
	NotScored bool
	// StartKey makes the start forms idempotent (see startMomentFromUI).
	StartKey string
}

// accountTimeline is how many items of each kind the timeline reads.
const accountTimeline = 40

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	se := uiSession(r)
	id := r.PathValue("id")
	a, err := s.Store.Account(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return uiNotFound("There is no account " + strconv.Quote(id) + ". It appears once a group call names it.")
	}
	if err != nil {
		return err
	}
	now := s.Now()
	d := accountData{Account: a, CanStart: canWorkAccount(se, a.Owner), StartKey: randomToken()}
	d.Traits = accountTraits(a)
	if rs := upcomingRenewals([]store.Account{a}, now, 3650); len(rs) > 0 {
		d.Renewal = &rs[0]
	}
	if d.Contacts, err = s.Store.AccountContacts(ctx, id); err != nil {
		return err
	}
	if s.Health != nil {
		h, err := s.Health.Account(ctx, id)
		switch {
		case err == nil:
			d.Health = &h
			d.NotScored = h.UpdatedAt == nil
		case errors.Is(err, journey.ErrNoMap):
		default:
			return err
		}
		p, err := s.Health.Path(ctx, id)
		switch {
		case err == nil:
			d.Path = &p
		case errors.Is(err, journey.ErrNoMap):
		default:
			return err
		}
	}
	users, err := s.activeUsers(ctx)
	if err != nil {
		return err
	}
	tasks, _, err := s.Store.ListTasks(ctx, store.TaskFilter{AccountID: id}, now, store.Page{Limit: 100})
	if err != nil {
		return err
	}
	// Open work first, then done tasks, each by due date.
	slices.SortStableFunc(tasks, func(x, y store.Task) int {
		return cmp.Compare(uiBool(x.Status == vocab.TaskDone), uiBool(y.Status == vocab.TaskDone))
	})
	rows, err := s.rowsFor(ctx, se, tasks, r.URL.RequestURI(), users)
	if err != nil {
		return err
	}
	v := s.view(r, "accounts", cmp.Or(a.Name, a.ID), nil)
	d.Tasks = taskTable{View: v, Rows: rows}
	if d.Timeline, d.Runs, err = s.accountTimeline(ctx, a, tasks); err != nil {
		return err
	}
	if m, _, err := s.liveMap(ctx); err == nil && m != nil {
		d.HasMap = true
		for _, mo := range m.Moments {
			if mo.Trigger.Category == journey.CategoryCSM {
				d.Moments = append(d.Moments, startableMoment{ID: mo.ID, Name: cmp.Or(mo.Name, mo.ID), Stage: mo.Stage, Category: mo.Trigger.Category})
			}
		}
	}
	v.Subtitle = strings.Join(nonEmpty(a.Plan, a.Segment, a.LifecycleStage), " · ")
	v.Data = d
	s.render(w, r, http.StatusOK, "account", v)
	return nil
}

func uiBool(b bool) int {
	if b {
		return 1
	}
	return 0
}

func nonEmpty(vs ...string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// accountTraits lists the account's traits: the known ones first, then the
// others by name.
func accountTraits(a store.Account) []uiFact {
	arr := ""
	if a.ARR > 0 {
		arr = money(a.ARR) + " a year"
	}
	out := uiFacts("Id", a.ID, "Owner", a.Owner, "Plan", a.Plan, "Segment", a.Segment, "Stage", a.LifecycleStage,
		"ARR", arr, "Renewal", a.RenewalDate)
	known := map[string]bool{"name": true, "plan": true, "segment": true, "owner": true, "lifecycle_stage": true,
		"arr": true, "renewal_date": true, "id": true}
	var keys []string
	for k := range a.Traits {
		if !known[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		var val string
		switch x := a.Traits[k].(type) {
		case string:
			val = x
		case nil:
			continue
		default:
			b, _ := json.Marshal(x)
			val = string(b)
		}
		if len(val) > 200 {
			val = val[:200] + "…"
		}
		out = append(out, uiFact{Label: k, Value: val})
	}
	return out
}

// accountTimeline merges the account's latest events, tasks, emails and
// webhooks, surveys and runs, newest first.
func (s *Server) accountTimeline(ctx context.Context, a store.Account, tasks []store.Task) ([]timelineItem, []store.Run, error) {
	var items []timelineItem
	events, _, err := s.Store.ListEvents(ctx, store.EventFilter{Account: a.ID}, store.Page{Limit: accountTimeline})
	if err != nil {
		return nil, nil, err
	}
	for _, e := range events {
		kind, title := "event", e.Name
		switch {
		case e.Type == "identify":
			kind, title = "contact", "Contact updated"
		case e.Type == "group":
			kind, title = "account", "Account traits updated"
		case e.Type == "page" || e.Type == "screen":
			kind, title = "page", cmp.Or(e.Name, "Page viewed")
		case strings.HasPrefix(e.Name, "Survey"):
			kind = "survey"
		case e.Name == vocab.EventMilestoneReached:
			kind = "milestone"
		}
		detail := e.UserID
		if detail != "" {
			detail = "by " + detail
		}
		items = append(items, timelineItem{At: e.Timestamp, Kind: kind, Title: title, Detail: detail})
	}
	moments := s.momentNames(ctx)
	now := s.Now()
	for _, t := range tasks {
		items = append(items, timelineItem{At: t.CreatedAt, Kind: "task", Title: "Task: " + t.Title,
			Detail: "for " + t.Assignee, Status: t.Display(now)})
	}
	sends, err := s.Store.AccountSends(ctx, a.ID, "", accountTimeline)
	if err != nil {
		return nil, nil, err
	}
	for _, x := range sends {
		title := x.Kind + " to " + x.Recipient
		if x.Subject != "" {
			title = x.Kind + ": " + x.Subject
		}
		at := x.CreatedAt
		if x.SentAt != nil {
			at = *x.SentAt
		}
		items = append(items, timelineItem{At: at, Kind: x.Kind, Title: title, Detail: "to " + x.Recipient, Status: x.Status})
	}
	runs, _, err := s.Store.ListRuns(ctx, store.RunFilter{AccountID: a.ID}, store.Page{Limit: accountTimeline})
	if err != nil {
		return nil, nil, err
	}
	for _, run := range runs {
		detail := "trigger: " + run.Category
		if run.StartedBy != "" {
			detail += ", started by " + run.StartedBy
		}
		items = append(items, timelineItem{At: run.CreatedAt, Kind: "run", Title: "Moment: " + uiNameOr(moments, run.MomentID),
			Detail: detail, Status: run.Status, Link: "/journey/moments/" + run.MomentID})
	}
	slices.SortStableFunc(items, func(x, y timelineItem) int { return y.At.Compare(x.At) })
	if len(items) > 3*accountTimeline {
		items = items[:3*accountTimeline]
	}
	return items, runs, nil
}

// startMomentFromUI starts a CSM moment for an account through the trigger
// engine (the same call as POST /api/v1/accounts/{id}/moments/{moment}/start).
func (s *Server) startMomentFromUI(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	se := uiSession(r)
	id, moment := r.PathValue("id"), r.PathValue("moment")
	a, err := s.Store.Account(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return uiNotFound("There is no account " + strconv.Quote(id) + ".")
	}
	if err != nil {
		return err
	}
	if !canWorkAccount(se, a.Owner) {
		return web.Forbidden("Only the account's owner, ops or an admin may start a moment on " + cmp.Or(a.Name, a.ID) + ".")
	}
	if s.Triggers == nil {
		return &web.Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "Moments cannot be started on this server: the trigger engine is not running."}
	}
	// The form carries a key made when the page was drawn, so a double
	// click or a resubmitted form starts the moment once.
	res, err := s.Triggers.StartMoment(ctx, id, moment, trigger.ManualStart{
		StartedBy: se.User.Email, Note: strings.TrimSpace(r.PostFormValue("note")),
		IdempotencyKey: strings.TrimSpace(r.PostFormValue("key")),
	})
	var ie *trigger.InputError
	switch {
	case errors.Is(err, trigger.ErrUnknownMoment):
		return uiNotFound("The live journey map has no moment " + strconv.Quote(moment) + ".")
	case errors.Is(err, trigger.ErrConditionNotMet):
		return &web.Error{Status: http.StatusConflict, Code: "condition_not_met",
			Message: "This moment's condition does not hold for " + cmp.Or(a.Name, a.ID) + ", so it was not started."}
	case errors.Is(err, journey.ErrNoMap):
		return &web.Error{Status: http.StatusConflict, Code: "no_journey_map", Message: journey.ErrNoMap.Error()}
	case errors.Is(err, trigger.ErrNoStarter):
		return &web.Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: trigger.ErrNoStarter.Error()}
	case errors.As(err, &ie):
		return uiBadRequest(ie.Field, ie.Message)
	case err != nil:
		return err
	}
	s.Logger.InfoContext(ctx, "moment started from the UI", "account", id, "moment", moment, "run", res.RunID, "by", se.User.Email)
	done := "moment_started"
	if !res.Started {
		done = "moment_exists"
	}
	http.Redirect(w, r, "/accounts/"+id+"?done="+done, http.StatusSeeOther)
	return nil
}
