package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/journey"
)

// journeyUI holds the swimlane's templates and stylesheet. The "journey"
// and "journey_moment" templates are the page bodies, self-contained so
// that the UI's layout can include them; "journey_page" and
// "journey_moment_page" wrap them as standalone pages with the stylesheet
// inlined (no second request, and the page prints as it is).
//
//go:embed ui/journey.html ui/journey.css
var journeyUI embed.FS

var (
	journeyTemplates = template.Must(template.New("journey").Funcs(template.FuncMap{
		"inc": func(i int) int { return i + 1 },
		"seg": url.PathEscape,
	}).ParseFS(journeyUI, "ui/journey.html"))
	journeyCSS = template.CSS(mustReadUI(journeyUI, "ui/journey.css"))
)

func mustReadUI(fsys embed.FS, name string) string {
	b, err := fsys.ReadFile(name)
	if err != nil {
		panic(err) // embedded: a missing file fails every test
	}
	return string(b)
}

// swimlaneView is what the "journey" template draws.
type swimlaneView struct {
	CSS template.CSS
	// Empty is true when no map has been applied yet.
	Empty       bool
	Name        string
	Description string
	Version     int
	AppliedBy   string
	AppliedAt   string
	Source      string
	Stages      []swimStage
	Lanes       []swimLane
	// Unplaced holds moments whose stage or owner is missing from the map;
	// a map that lints clean has none.
	Unplaced   []momentCardView
	Moments    int
	Categories []triggerCategoryView
	Tiers      []importanceTierView
	// TeamColStyle sizes the team column.
	TeamColStyle template.CSS
}

type swimStage struct {
	ID, Name, Description string
	Moments               int
	// Wide stages hold a crowdedCell cell: they get twice the width and lay
	// their cards out in two columns, so one busy stage does not make the
	// whole map tall.
	Wide     bool
	ColStyle template.CSS
}

type swimLane struct {
	ID, Name, Lead string
	Moments        int
	Cells          []swimCell
}

type swimCell struct {
	Stage, StageName string
	Wide             bool
	Cards            []momentCardView
}

// momentCardView is one moment on the swimlane.
type momentCardView struct {
	ID, Name, Stage, Owner string
	Importance             journey.Importance
	Score                  int
	Tier                   string
	SLA                    string
	SLAText                string
	Category               string
	CategoryLabel          string
	Supporters             []teamTag
}

type teamTag struct{ ID, Name string }

type triggerCategoryView struct{ ID, Label, Meaning string }

type importanceTierView struct{ ID, Label, Range string }

// Importance tiers: a moment's score (0–20, the sum of its four axes)
// falls in one of three bands, shown as a word and a colour.
var importanceTiers = []importanceTierView{
	{"high", "high", "15–20"},
	{"medium", "medium", "10–14"},
	{"low", "low", "0–9"},
}

func importanceTier(score int) string {
	switch {
	case score >= 15:
		return "high"
	case score >= 10:
		return "medium"
	}
	return "low"
}

var triggerCategories = []triggerCategoryView{
	{journey.CategoryLifecycle, "lifecycle", "the customer moves through their lifecycle"},
	{journey.CategoryCustomerEvent, "customer event", "something happens at the customer"},
	{journey.CategoryScheduled, "scheduled", "a date comes round"},
	{journey.CategoryCSM, "CSM", "a person starts it"},
	{journey.CategoryVendor, "vendor", "something happens on our side"},
}

func triggerCategoryLabel(id string) string {
	for _, c := range triggerCategories {
		if c.ID == id {
			return c.Label
		}
	}
	return id
}

// durationText spells a map duration out: "5bd" is "5 business days".
func spellDuration(s string) string {
	d, err := journey.ParseDuration(s)
	if err != nil {
		return s
	}
	words := map[journey.Unit][2]string{
		journey.UnitMinute: {"minute", "minutes"}, journey.UnitHour: {"hour", "hours"},
		journey.UnitDay: {"day", "days"}, journey.UnitWeek: {"week", "weeks"},
		journey.UnitBusinessDay: {"business day", "business days"},
	}[d.Unit]
	n := d.Amount
	sign := ""
	if n < 0 {
		n, sign = -n, "−"
	}
	if n == 1 {
		return sign + "1 " + words[0]
	}
	return sign + strconv.Itoa(n) + " " + words[1]
}

func mapTeamNames(m *journey.Map) map[string]string {
	names := map[string]string{}
	for _, t := range m.Teams {
		if _, dup := names[t.ID]; !dup {
			names[t.ID] = t.Name
		}
	}
	return names
}

func orID(names map[string]string, id string) string {
	if n := names[id]; n != "" {
		return n
	}
	return id
}

func momentCard(lm journey.LaneMoment, names map[string]string) momentCardView {
	c := momentCardView{
		ID: lm.ID, Name: lm.Name, Stage: lm.Stage, Owner: lm.Owner,
		Importance: lm.Importance, Score: lm.Score, Tier: importanceTier(lm.Score),
		SLA: lm.SLA, Category: lm.Category, CategoryLabel: triggerCategoryLabel(lm.Category),
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	if lm.SLA != "" {
		c.SLAText = spellDuration(lm.SLA)
	}
	for _, s := range lm.Supporters {
		c.Supporters = append(c.Supporters, teamTag{ID: s, Name: orID(names, s)})
	}
	return c
}

// swimlane lays the live map out for the "journey" template.
func (s *Server) swimlane(ctx context.Context) (swimlaneView, error) {
	view := swimlaneView{CSS: journeyCSS, Categories: triggerCategories, Tiers: importanceTiers,
		TeamColStyle: template.CSS(fmt.Sprintf("width: %d%%", teamColumnPercent))}
	m, v, err := s.journeyVersion(ctx, 0)
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "no_journey_map" {
		view.Empty = true
		return view, nil
	}
	if err != nil {
		return view, err
	}
	view.Name, view.Description = m.Name, m.Description
	view.Version, view.AppliedBy, view.Source = v.Number, v.AppliedBy, v.Source
	view.AppliedAt = v.AppliedAt.UTC().Format("2 Jan 2006 15:04 UTC")
	view.Moments = len(m.Moments)
	names := mapTeamNames(m)
	sw := journey.Lanes(m)
	wide := make([]bool, len(sw.Stages))
	units := 0
	for i := range sw.Stages {
		for _, l := range sw.Lanes {
			if len(l.Cells[i].Moments) >= crowdedCell {
				wide[i] = true
			}
		}
		units += 1 + boolInt(wide[i])
	}
	perStage := map[string]int{}
	for _, l := range sw.Lanes {
		lane := swimLane{ID: l.Team.ID, Name: orID(names, l.Team.ID), Lead: l.Team.Lead}
		for i, c := range l.Cells {
			cell := swimCell{Stage: c.Stage, StageName: sw.Stages[i].Name, Wide: wide[i]}
			for _, lm := range c.Moments {
				cell.Cards = append(cell.Cards, momentCard(lm, names))
			}
			lane.Moments += len(c.Moments)
			perStage[c.Stage] += len(c.Moments)
			lane.Cells = append(lane.Cells, cell)
		}
		view.Lanes = append(view.Lanes, lane)
	}
	for i, st := range sw.Stages {
		// The team column takes teamColumnPercent percent; the stages share the
		// rest by their units.
		width := float64(1+boolInt(wide[i])) / float64(max(units, 1)) * (100 - teamColumnPercent)
		view.Stages = append(view.Stages, swimStage{
			ID: st.ID, Name: st.Name, Description: st.Description, Moments: perStage[st.ID],
			Wide: wide[i], ColStyle: template.CSS(fmt.Sprintf("width: %.2f%%", width)),
		})
	}
	for _, lm := range sw.Unplaced {
		view.Unplaced = append(view.Unplaced, momentCard(lm, names))
	}
	return view, nil
}

// crowdedCell is the number of cards in one cell from which its stage is wide.
const crowdedCell = 4

// teamColumnPercent is the width of the team column, in percent of the table.
const teamColumnPercent = 9

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Server) journeyPage(w http.ResponseWriter, r *http.Request) {
	view, err := s.swimlane(r.Context())
	if err != nil {
		s.journeyPageError(w, r, err)
		return
	}
	s.renderJourneyPage(w, r, http.StatusOK, "journey_page", view)
}

// momentPageView is what the "journey_moment" template draws: one moment's
// whole definition.
type momentPageView struct {
	CSS        template.CSS
	MapName    string
	Version    int
	Card       momentCardView
	StageName  string
	OwnerName  string
	Moment     journey.Moment
	Ideal      []idealStepView
	Escalation string
	Trigger    []jmFact
	Metrics    []jmFact
	Playbook   []playbookStepView
}

type idealStepView struct{ Step, Owner, Within string }

// fact is one labelled value of a definition.
type jmFact struct{ Label, Value string }

type playbookStepView struct {
	Number int
	ID     string
	Kind   string
	Facts  []jmFact
}

func (s *Server) momentPage(w http.ResponseWriter, r *http.Request) {
	m, v, err := s.journeyVersion(r.Context(), 0)
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "no_journey_map" {
		http.Redirect(w, r, "/journey", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.journeyPageError(w, r, err)
		return
	}
	id := r.PathValue("id")
	var mo *journey.Moment
	for i := range m.Moments {
		if m.Moments[i].ID == id {
			mo = &m.Moments[i]
			break
		}
	}
	if mo == nil {
		s.journeyPageError(w, r, &apiError{Status: http.StatusNotFound, Code: "not_found",
			Message: fmt.Sprintf("The live journey map (version %d) has no moment %q.", v.Number, id)})
		return
	}
	names := mapTeamNames(m)
	stageNames := map[string]string{}
	for _, st := range m.Stages {
		stageNames[st.ID] = st.Name
	}
	view := momentPageView{
		CSS: journeyCSS, MapName: m.Name, Version: v.Number, Moment: *mo,
		Card: momentCard(journey.LaneMoment{
			ID: mo.ID, Name: mo.Name, Stage: mo.Stage, Owner: mo.Owner, Supporters: mo.Supporters,
			Importance: mo.Importance, Score: mo.Importance.Score(), Category: mo.Trigger.Category, SLA: mo.SLA,
		}, names),
		StageName: orID(stageNames, mo.Stage), OwnerName: orID(names, mo.Owner),
	}
	view.Escalation = mo.EscalationOwner
	if view.Escalation == "" {
		lead := ""
		for _, t := range m.Teams {
			if t.ID == mo.Owner {
				lead = t.Lead
			}
		}
		view.Escalation = "the lead of " + view.OwnerName
		if lead != "" {
			view.Escalation += " (" + lead + ")"
		}
	} else {
		view.Escalation = orID(names, view.Escalation)
	}
	for _, st := range mo.Ideal {
		owner := orID(names, st.Owner)
		if st.Owner == "customer" {
			owner = "the customer"
		}
		within := ""
		if st.Within != "" {
			within = spellDuration(st.Within)
		}
		view.Ideal = append(view.Ideal, idealStepView{Step: st.Step, Owner: owner, Within: within})
	}
	view.Trigger = triggerFacts(mo.Trigger)
	view.Metrics = metricFacts(mo.Metrics)
	for i, st := range mo.Playbook {
		view.Playbook = append(view.Playbook, playbookStepView{Number: i + 1, ID: st.ID, Kind: st.Kind, Facts: stepFacts(st, names, uiSession(r).Role.Can(auth.PermJourney))})
	}
	s.renderJourneyPage(w, r, http.StatusOK, "journey_moment_page", view)
}

// facts keeps the labelled values that are set.
func jmFacts(pairs ...string) []jmFact {
	var out []jmFact
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			out = append(out, jmFact{pairs[i], pairs[i+1]})
		}
	}
	return out
}

func triggerFacts(t journey.Trigger) []jmFact {
	var schedule string
	if sc := t.Schedule; sc != nil {
		switch {
		case sc.RelativeTo != "" && sc.Offset != "":
			schedule = fmt.Sprintf("%s relative to %s", spellDuration(sc.Offset), sc.RelativeTo)
		case sc.RelativeTo != "":
			schedule = "on " + sc.RelativeTo
		case sc.Every != "":
			schedule = "every: " + sc.Every
		}
	}
	trait := t.Trait
	if trait == "" && (t.Enter != "" || t.Leave != "") {
		trait = "lifecycle_stage"
	}
	return jmFacts(
		"Category", triggerCategoryLabel(t.Category),
		"Events", strings.Join(t.Events, ", "),
		"Signal", t.Signal,
		"Trait", trait,
		"Enters", t.Enter,
		"Leaves", t.Leave,
		"Schedule", schedule,
		"Condition", t.When,
		"Accounts reached", t.Segment,
	)
}

func metricFacts(m journey.Metrics) []jmFact {
	var cost, clock string
	if m.Cost.Minutes > 0 {
		cost = fmt.Sprintf("%d minutes of effort per delivery", m.Cost.Minutes)
	}
	if m.Time.From != "" || m.Time.To != "" {
		clock = fmt.Sprintf("from %q to %q", m.Time.From, m.Time.To)
	}
	quality := ""
	if m.Quality.Survey != "" {
		quality = "survey " + m.Quality.Survey
	}
	return jmFacts("Quantity", m.Quantity, "Quality", quality, "Cost", cost, "Time", clock)
}

// stepFacts lists a playbook step's settings. A webhook URL may hold a
// secret (Slack's do), so unless fullURL (admins and ops, who edit the
// map) only its host is shown.
func stepFacts(st journey.Step, names map[string]string, fullURL bool) []jmFact {
	orDuration := func(s string) string {
		if s == "" {
			return ""
		}
		return spellDuration(s)
	}
	assignee := st.Assignee
	if assignee != "" {
		assignee = orID(names, assignee)
	}
	notify := st.Notify
	if notify != "" {
		notify = orID(names, notify)
	}
	return jmFacts(
		"Title", st.Title,
		"Description", st.Description,
		"Assignee", assignee,
		"Due", orDuration(st.Due),
		"Template", st.Template,
		"To", st.To,
		"URL", shownURL(st.URL, fullURL),
		"Format", st.Format,
		"Wait", orDuration(st.Duration),
		"Until", st.Until,
		"Timeout", orDuration(st.Timeout),
		"On timeout", st.OnTimeout,
		"When", st.When,
		"Then", st.Then,
		"Else", st.Else,
		"Severity", st.Severity,
		"Notify", notify,
		"Next", st.Next,
	)
}

// journeyErrorView is the "journey_error_page" template's data.
type journeyErrorView struct {
	CSS     template.CSS
	Title   string
	Message string
	ID      string
}

// pageError renders an error as a page. Internal errors show an id that
// leads to the log line, as in the API.
func (s *Server) journeyPageError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{Status: http.StatusInternalServerError, Code: "internal",
			Message: "Something went wrong on the server; the log has the details under this error's id."}
	}
	ae.ID = errorID()
	if ae.Status >= 500 {
		s.log.ErrorContext(r.Context(), "page failed", "error_id", ae.ID, "path", r.URL.Path, "err", err)
	}
	title := "Not found"
	if ae.Status != http.StatusNotFound {
		title = "Something went wrong"
	}
	s.renderJourneyPage(w, r, ae.Status, "journey_error_page", journeyErrorView{CSS: journeyCSS, Title: title, Message: ae.Message, ID: ae.ID})
}

// renderPage renders into a buffer first, so a template error becomes a
// clean 500 rather than half a page.
func (s *Server) renderJourneyPage(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := journeyTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		id := errorID()
		s.log.ErrorContext(r.Context(), "page failed", "error_id", id, "path", r.URL.Path, "err", err)
		http.Error(w, "Something went wrong on the server (error id "+id+").", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// shownURL is a webhook URL as a page may show it: whole to those who edit
// the map, otherwise its scheme and host only.
func shownURL(raw string, full bool) string {
	if raw == "" || full {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(hidden)"
	}
	return u.Scheme + "://" + u.Host + "/… (the full address is shown to ops and admins)"
}
