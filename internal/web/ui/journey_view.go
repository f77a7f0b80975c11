package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"

	"github.com/moments-cs/moments/internal/journey"
)

// journey_view.go lays the journey map out for the "journey" (swimlane)
// and "journey_moment" templates of templates/journey.html: view models
// only, no HTTP. journey.go serves the pages that include them.

// journeyCSS is the swimlane's stylesheet, linked by the journey pages.
var journeyCSS = template.CSS(mustRead("templates/journey.css"))

func mustRead(name string) string {
	b, err := uiFS.ReadFile(name)
	if err != nil {
		panic(err) // embedded: a missing file fails every test
	}
	return string(b)
}

// swimlaneView is what the "journey" template draws.
type swimlaneView struct {
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
	// Delivery is the moment's delivery over the last 90 days, drawn as a
	// badge on the swimlane's card; nil when nothing was delivered.
	Delivery *cardDelivery
	// Quality is the moment's quality score (its quality survey over the
	// last 90 days), drawn as a second badge; nil without answers.
	Quality *cardDelivery
	// Conformance summarises the moment's ideal process against the actual
	// one over the last 90 days, linked to the moment's page; nil when no
	// ideal step could be measured.
	Conformance *cardConformance
}

// cardConformance is a card's line on its ideal process: "ideal steps done
// 82 % · on time 64 % · slowest: Onboarding hand-off (CS)".
type cardConformance struct{ Grade, Text, Long string }

// cardDelivery is a card's delivery badge: a word, a colour, a sentence.
type cardDelivery struct{ Grade, Short, Long string }

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
		c.Supporters = append(c.Supporters, teamTag{ID: s, Name: uiNameOr(names, s)})
	}
	return c
}

// swimlane lays the live map out for the "journey" template.
func (s *Server) swimlane(ctx context.Context) (swimlaneView, error) {
	view := swimlaneView{Categories: triggerCategories, Tiers: importanceTiers,
		TeamColStyle: template.CSS(fmt.Sprintf("width: %d%%", teamColumnPercent))}
	m, v, err := s.liveVersion(ctx)
	if errors.Is(err, journey.ErrNoMap) {
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
		lane := swimLane{ID: l.Team.ID, Name: uiNameOr(names, l.Team.ID), Lead: l.Team.Lead}
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

// momentPageView is what the "journey_moment" template draws: one moment's
// whole definition.
type momentPageView struct {
	MapName    string
	Version    int
	Card       momentCardView
	StageName  string
	OwnerName  string
	Moment     journey.Moment
	Ideal      []idealStepView
	Escalation string
	Trigger    []uiFact
	Metrics    []uiFact
	Playbook   []playbookStepView
}

type idealStepView struct{ Step, Owner, Within string }

type playbookStepView struct {
	Number int
	ID     string
	Kind   string
	Facts  []uiFact
}

// momentView lays out moment id of the live map for the "journey_moment"
// template. It returns journey.ErrNoMap when no map is applied and a 404
// when the map has no such moment.
// momentView builds a moment's page; fullURL shows webhook URLs whole
// (admins and ops), otherwise only their host.
func (s *Server) momentView(ctx context.Context, id string, fullURL bool) (momentPageView, error) {
	m, v, err := s.liveVersion(ctx)
	if err != nil {
		return momentPageView{}, err
	}
	var mo *journey.Moment
	for i := range m.Moments {
		if m.Moments[i].ID == id {
			mo = &m.Moments[i]
			break
		}
	}
	if mo == nil {
		return momentPageView{}, uiNotFound("The live journey map has no moment " + strconv.Quote(id) + ".")
	}
	names := mapTeamNames(m)
	stageNames := map[string]string{}
	for _, st := range m.Stages {
		stageNames[st.ID] = st.Name
	}
	view := momentPageView{
		MapName: m.Name, Version: v.Number, Moment: *mo,
		Card: momentCard(journey.LaneMoment{
			ID: mo.ID, Name: mo.Name, Stage: mo.Stage, Owner: mo.Owner, Supporters: mo.Supporters,
			Importance: mo.Importance, Score: mo.Importance.Score(), Category: mo.Trigger.Category, SLA: mo.SLA,
		}, names),
		StageName: uiNameOr(stageNames, mo.Stage), OwnerName: uiNameOr(names, mo.Owner),
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
		view.Escalation = uiNameOr(names, view.Escalation)
	}
	for _, st := range mo.Ideal {
		owner := uiNameOr(names, st.Owner)
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
		view.Playbook = append(view.Playbook, playbookStepView{Number: i + 1, ID: st.ID, Kind: st.Kind, Facts: stepFacts(st, names, fullURL)})
	}
	return view, nil
}

func triggerFacts(t journey.Trigger) []uiFact {
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
	return uiFacts(
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

func metricFacts(m journey.Metrics) []uiFact {
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
	return uiFacts("Quantity", m.Quantity, "Quality", quality, "Cost", cost, "Time", clock)
}

// stepFacts lists a playbook step's settings. A webhook URL may hold a
// secret (Slack's do), so unless fullURL (admins and ops, who edit the
// map) only its host is shown.
func stepFacts(st journey.Step, names map[string]string, fullURL bool) []uiFact {
	orDuration := func(s string) string {
		if s == "" {
			return ""
		}
		return spellDuration(s)
	}
	assignee := st.Assignee
	if assignee != "" {
		assignee = uiNameOr(names, assignee)
	}
	notify := st.Notify
	if notify != "" {
		notify = uiNameOr(names, notify)
	}
	return uiFacts(
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
