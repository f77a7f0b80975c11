package journey

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/vocab"
)

// Names the linter knows.
var (
	// Categories are the trigger categories.
	Categories = []string{CategoryLifecycle, CategoryCustomerEvent, CategoryScheduled, CategoryCSM, CategoryVendor}
	// CalendarRules are the named rules of a scheduled trigger's every;
	// a five-field cron expression is also accepted.
	CalendarRules = []string{"daily", "weekly", "monthly", "quarterly", "yearly"}
)

// MaxSuccessPaths is the most success paths a map may have: a handful of
// happy paths is a strategy; more is a list of exceptions.
const MaxSuccessPaths = 5

// Special owners and people a map may name besides team ids.
const (
	// OwnerCustomer owns an ideal step that the customer takes.
	OwnerCustomer = "customer"
	// PersonOwner is the moment's owner team (as assignee) or its lead
	// (as notify or escalation owner).
	PersonOwner = "owner"
	// PersonCSM is the account's owner CSM.
	PersonCSM = "csm"
)

var (
	idPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	traitPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
)

// maxIDLength is the longest id; ids appear in URLs and reports.
const maxIDLength = 64

// Lint parses a journey map and checks it, reporting every problem at once,
// sorted by line and column. The map is nil only when the file cannot be
// read as YAML at all. Use HasErrors to decide whether the map can be
// applied; warnings alone do not stop it.
func Lint(filename string, data []byte) (*Map, []Diagnostic) {
	m, src, diags := parseSource(filename, data)
	if m == nil {
		return nil, diags
	}
	diags = append(diags, check(m, src)...)
	return m, sortDiagnostics(diags)
}

// Check lints a map that was not read from a file, such as one loaded from
// the store. Its diagnostics have no line and column; their Path says which
// value they are about.
func Check(m *Map) []Diagnostic {
	return sortDiagnostics(check(m, &source{pos: map[string]nodePos{}, problems: map[string]bool{}}))
}

type linter struct {
	m     *Map
	src   *source
	diags []Diagnostic

	stageIDs, teamIDs []string
	stages, teams     map[string]bool
	emails, surveys   map[string]bool
	emailIDs          []string
	surveyIDs         []string
}

func check(m *Map, src *source) []Diagnostic {
	l := &linter{m: m, src: src}
	l.checkMap()
	return l.diags
}

func (l *linter) add(sev Severity, line, col int, path, format string, args ...any) {
	l.diags = append(l.diags, l.src.diag(line, col, path, sev, fmt.Sprintf(format, args...)))
}

// errorf reports an error at the value at path.
func (l *linter) errorf(path, format string, args ...any) {
	line, col := l.src.at(path)
	l.add(SeverityError, line, col, path, format, args...)
}

// warnf reports a warning at the value at path.
func (l *linter) warnf(path, format string, args ...any) {
	line, col := l.src.at(path)
	l.add(SeverityWarning, line, col, path, format, args...)
}

// missing reports a required value that is absent, unless the parser
// already reported a problem with it (a misspelt key it suggested, or a
// value of the wrong type), which would make this a second report of one
// mistake.
func (l *linter) missing(path, format string, args ...any) {
	if l.src.reported(path) {
		return
	}
	l.errorf(path, format, args...)
}

func (l *linter) checkMap() {
	m := l.m
	switch {
	case m.Version == 0:
		l.missing("version", "version is missing; add \"version: 1\" at the top of the map")
	case m.Version != 1:
		l.errorf("version", "version %d is not supported; this version of Moments reads version 1", m.Version)
	}
	if strings.TrimSpace(m.Name) == "" {
		l.missing("name", "name is missing; give the map a name, such as \"Acme customer journey\"")
	}
	if len(m.Stages) == 0 {
		l.missing("stages", "the map has no stages; list the stages of the customer's journey under stages:")
	}
	if len(m.Teams) == 0 {
		l.missing("teams", "the map has no teams; list the teams that own and support moments under teams:")
	}
	if len(m.Moments) == 0 {
		l.missing("moments", "the map has no moments; list its moments of truth under moments:")
	}

	l.stageIDs, l.stages = l.ids("stage", "stages", len(m.Stages), func(i int) string { return m.Stages[i].ID })
	l.teamIDs, l.teams = l.ids("team", "teams", len(m.Teams), func(i int) string { return m.Teams[i].ID })
	l.emailIDs, l.emails = l.ids("email", "emails", len(m.Emails), func(i int) string { return m.Emails[i].ID })
	l.surveyIDs, l.surveys = l.ids("survey", "surveys", len(m.Surveys), func(i int) string { return m.Surveys[i].ID })
	l.ids("moment", "moments", len(m.Moments), func(i int) string { return m.Moments[i].ID })
	l.ids("success path", "success_paths", len(m.SuccessPaths), func(i int) string { return m.SuccessPaths[i].ID })

	for i, s := range m.Stages {
		l.named(fmt.Sprintf("stages[%d]", i), "stage", s.ID, s.Name)
	}
	for i, t := range m.Teams {
		l.named(fmt.Sprintf("teams[%d]", i), "team", t.ID, t.Name)
	}

	used := map[string]bool{}
	for i := range m.Moments {
		l.checkMoment(fmt.Sprintf("moments[%d]", i), &m.Moments[i])
		used[m.Moments[i].Stage] = true
	}
	if len(m.Moments) > 0 {
		for i, s := range m.Stages {
			if s.ID != "" && !used[s.ID] {
				l.warnf(fmt.Sprintf("stages[%d]", i), "stage %q has no moments; add a moment to it, or remove the stage", s.ID)
			}
		}
	}
	l.checkSuccessPaths()
	l.checkHealth()
	for i, e := range m.Emails {
		l.checkEmail(fmt.Sprintf("emails[%d]", i), e)
	}
	for i, s := range m.Surveys {
		l.checkSurvey(fmt.Sprintf("surveys[%d]", i), s)
	}
	l.checkSurveyRules(m.SurveyRules)
}

// ids checks the ids of a list: present, well formed and unique. It returns
// the ids in order and as a set.
func (l *linter) ids(what, list string, n int, idOf func(int) string) ([]string, map[string]bool) {
	var ids []string
	set := map[string]bool{}
	first := map[string]string{}
	for i := range n {
		path := fmt.Sprintf("%s[%d]", list, i)
		id := idOf(i)
		switch {
		case id == "":
			l.missing(path+".id", "%s has no id; give it a short id such as %q", what, exampleID(what))
			continue
		case len(id) > maxIDLength:
			l.errorf(path+".id", "id %q is longer than %d characters", id, maxIDLength)
		case !idPattern.MatchString(id):
			l.errorf(path+".id", "id %q may use only lowercase letters, digits, _ and -; for example %q", id, slug(id))
		}
		if prev, dup := first[id]; dup {
			line, _ := l.src.at(prev)
			where := ""
			if line > 0 {
				where = fmt.Sprintf(" (first on line %d)", line)
			}
			l.errorf(path+".id", "%s id %q is used twice%s; ids must be unique", what, id, where)
			continue
		}
		first[id] = path + ".id"
		set[id] = true
		ids = append(ids, id)
	}
	return ids, set
}

func exampleID(what string) string {
	switch what {
	case "stage":
		return "delivering"
	case "team":
		return "customer_success"
	case "moment":
		return "kickoff"
	case "success path":
		return "enterprise"
	case "milestone":
		return "first_value"
	case "email":
		return "kickoff_invite"
	case "survey":
		return "nps"
	case "step":
		return "call_sponsor"
	}
	return "my_id"
}

// slug turns a name into a valid id, for suggestions.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ' || r == '.':
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), "_-")
	if out == "" {
		return "my_id"
	}
	return out
}

func (l *linter) named(path, what, id, name string) {
	if strings.TrimSpace(name) == "" {
		l.missing(path+".name", "%s %q has no name; the name is what people see in the journey map", what, id)
	}
}

// ref checks that value is one of the known ids and reports it otherwise,
// suggesting the nearest.
func (l *linter) ref(path, key, value, kind string, known []string, set map[string]bool) bool {
	if set[value] {
		return true
	}
	l.errorf(path, "%s %q is not one of the map's %ss%s", key, value, kind,
		hint(value, known, fmt.Sprintf("the %ss are %s", kind, strings.Join(known, ", "))))
	return false
}

// person checks a value naming who does or hears about something: a team
// id, "owner", "csm" or an email address.
func (l *linter) person(path, key, value string) {
	if value == "" || value == PersonOwner || value == PersonCSM || l.teams[value] || isEmailAddress(value) {
		return
	}
	candidates := append([]string{PersonOwner, PersonCSM}, l.teamIDs...)
	l.errorf(path, "%s %q is not one of the map's teams%s", key, value,
		hint(value, candidates, "use a team id, owner, csm or an email address"))
}

// duration checks a duration value. Offsets may be negative; lengths may not.
func (l *linter) duration(path, value string, signed bool) {
	if value == "" {
		return
	}
	d, err := ParseDuration(value)
	if err != nil {
		l.errorf(path, "%s: %s", keyName(path), err)
		return
	}
	if d.Negative() && !signed {
		l.errorf(path, "%s %q is negative; a length of time must be positive", keyName(path), value)
	}
}

// condition compiles a CEL condition and reports where it fails.
func (l *linter) condition(path, expr string) {
	if strings.TrimSpace(expr) == "" {
		return
	}
	_, err := rules.Compile(expr)
	if err == nil {
		return
	}
	var ce *rules.CompileError
	if !errors.As(err, &ce) {
		l.errorf(path, "%s cannot be checked: %v", keyName(path), err)
		return
	}
	line, col := l.src.within(path, ce.Line, ce.Column)
	l.add(SeverityError, line, col, path, "%s does not compile: %s", keyName(path), ce.Error())
}

func (l *linter) checkMoment(path string, mo *Moment) {
	if mo.ID != "" {
		l.named(path, "moment", mo.ID, mo.Name)
	}
	if mo.Stage == "" {
		l.missing(path+".stage", "moment %q has no stage; set stage to one of %s", mo.ID, strings.Join(l.stageIDs, ", "))
	} else {
		l.ref(path+".stage", "stage", mo.Stage, "stage", l.stageIDs, l.stages)
	}
	if mo.Owner == "" {
		l.missing(path+".owner", "moment %q has no owner; set owner to the team that delivers it", mo.ID)
	} else {
		l.ref(path+".owner", "owner", mo.Owner, "team", l.teamIDs, l.teams)
	}
	for i, s := range mo.Supporters {
		sp := fmt.Sprintf("%s.supporters[%d]", path, i)
		if l.ref(sp, "supporter", s, "team", l.teamIDs, l.teams) && s == mo.Owner {
			l.warnf(sp, "supporter %q is also the owner; list only the teams that help the owner", s)
		}
	}
	imp := reflect.ValueOf(mo.Importance)
	for _, key := range fieldsOf(imp.Type()).keys {
		v := int(imp.Field(fieldsOf(imp.Type()).index[key]).Int())
		if v < 0 || v > 5 {
			l.errorf(path+".importance."+key, "importance %s is %d; it must be from 0 to 5", key, v)
		}
	}
	for i, st := range mo.Ideal {
		ip := fmt.Sprintf("%s.ideal[%d]", path, i)
		if strings.TrimSpace(st.Step) == "" {
			l.missing(ip+".step", "ideal step has no step; say what is done")
		}
		switch {
		case st.Owner == "":
			l.missing(ip+".owner", "ideal step has no owner; name the team that does it, or customer")
		case st.Owner != OwnerCustomer && !l.teams[st.Owner]:
			l.errorf(ip+".owner", "owner %q is not one of the map's teams%s", st.Owner,
				hint(st.Owner, append([]string{OwnerCustomer}, l.teamIDs...), "name a team, or customer for a step the customer takes"))
		}
		l.duration(ip+".within", st.Within, false)
		l.checkIdealEvidence(ip, mo, st)
	}
	l.duration(path+".sla", mo.SLA, false)
	l.person(path+".escalation_owner", "escalation_owner", mo.EscalationOwner)
	if s := mo.Metrics.Quality.Survey; s != "" {
		l.ref(path+".metrics.quality.survey", "survey", s, "survey", l.surveyIDs, l.surveys)
	}
	if mo.Metrics.Cost.Minutes < 0 {
		l.errorf(path+".metrics.cost.minutes", "cost minutes is %d; it must be zero or more", mo.Metrics.Cost.Minutes)
	}
	l.checkTrigger(path+".trigger", &mo.Trigger)
	l.checkPlaybook(path+".playbook", mo)
}

// checkIdealEvidence checks what shows that an ideal step was done: an
// event, or a step of the moment's own playbook (a task completed, or an
// email, survey or webhook sent). A step with neither is reported as not
// observable, since moment analytics cannot count it.
func (l *linter) checkIdealEvidence(path string, mo *Moment, st IdealStep) {
	switch {
	case st.Event != "" && st.Task != "":
		l.errorf(path+".task", "ideal step names both an event and a task; keep the one that shows the step was done")
	case st.Task != "":
		var ids []string
		for _, s := range mo.Playbook {
			if s.ID == "" || !EvidenceStep(s.Kind) {
				continue
			}
			if s.ID == st.Task {
				return
			}
			ids = append(ids, s.ID)
		}
		if len(ids) == 0 {
			l.errorf(path+".task", "task %q is not a step of this moment's playbook, which has no task, email, survey or webhook step with an id; give that step an id and name it here, or use event", st.Task)
			return
		}
		l.errorf(path+".task", "task %q is not a task, email, survey or webhook step of this moment's playbook%s", st.Task,
			hint(st.Task, ids, "its steps with ids are "+strings.Join(ids, ", ")))
	case st.Event == "" && strings.TrimSpace(st.Step) != "":
		l.warnf(path, "ideal step %q is not observable: add event (the event that shows it was done) or task (the id of the playbook step that does it) so moment analytics can measure it", st.Step)
	}
}

// EvidenceStep reports whether a playbook step of this kind can show that
// an ideal step was done: a task when it is completed, an email, survey or
// webhook when it was sent.
func EvidenceStep(kind string) bool {
	switch kind {
	case StepTask, StepEmail, StepSurvey, StepWebhook:
		return true
	}
	return false
}

func (l *linter) checkTrigger(path string, t *Trigger) {
	// only reports a key set outside the category that uses it.
	only := func(key string, set bool, category string) {
		if set {
			l.errorf(path+"."+key, "%s is only used by %s triggers; remove it or change the category", key, category)
		}
	}
	if reflect.ValueOf(*t).IsZero() {
		l.missing(path, "moment has no trigger; add one that says what starts it, with category %s", strings.Join(Categories, ", "))
		return
	}
	// needs reports a trigger without what its category requires, unless
	// the parser already reported a misspelt key for it.
	needs := func(format string, args ...any) {
		for _, key := range []string{"events", "signal", "enter", "leave"} {
			if l.src.reported(path + "." + key) {
				return
			}
		}
		l.errorf(path, format, args...)
	}
	switch t.Category {
	case "":
		l.missing(path+".category", "trigger has no category; use one of %s", strings.Join(Categories, ", "))
		return
	case CategoryLifecycle:
		if len(t.Events) == 0 && t.Enter == "" && t.Leave == "" {
			needs("a lifecycle trigger needs events, or enter or leave (a value of the account's lifecycle_stage)")
		}
		if t.Trait != "" && !traitPattern.MatchString(t.Trait) {
			l.errorf(path+".trait", "trait %q is not a trait name", t.Trait)
		}
		if t.Trait != "" && t.Enter == "" && t.Leave == "" {
			l.errorf(path+".trait", "trait is set but neither enter nor leave is; say which value of %s starts the moment", t.Trait)
		}
	case CategoryCustomerEvent:
		switch {
		case len(t.Events) == 0 && t.Signal == "":
			needs("a customer_event trigger needs events or a signal (%s)", strings.Join(vocab.Signals, ", "))
		case len(t.Events) > 0 && t.Signal != "":
			l.errorf(path+".signal", "signal and events cannot both be set; a signal trigger starts on its signal alone")
		}
	case CategoryScheduled:
		if t.Schedule == nil || *t.Schedule == (Schedule{}) {
			l.missing(path+".schedule", "a scheduled trigger needs a schedule: relative_to a date trait with an offset, or every (monthly, quarterly, …)")
		}
		if len(t.Events) > 0 {
			l.errorf(path+".events", "events are not used by scheduled triggers; the schedule starts the moment")
		}
	case CategoryCSM, CategoryVendor:
		if len(t.Events) > 0 {
			l.errorf(path+".events", "events are not used by %s triggers, which are started by a person; remove them or change the category", t.Category)
		}
	default:
		l.errorf(path+".category", "trigger category %q is not known%s", t.Category,
			hint(t.Category, Categories, "use one of "+strings.Join(Categories, ", ")))
		return
	}
	if t.Category != CategoryLifecycle {
		only("trait", t.Trait != "", CategoryLifecycle)
		only("enter", t.Enter != "", CategoryLifecycle)
		only("leave", t.Leave != "", CategoryLifecycle)
	}
	if t.Signal != "" {
		if t.Category != CategoryCustomerEvent {
			only("signal", true, CategoryCustomerEvent)
		} else if !slices.Contains(vocab.Signals, t.Signal) {
			l.errorf(path+".signal", "signal %q is not known%s", t.Signal,
				hint(t.Signal, vocab.Signals, "the signals are "+strings.Join(vocab.Signals, ", ")))
		}
	}
	if t.Schedule != nil && t.Category != CategoryScheduled {
		only("schedule", true, CategoryScheduled)
	} else if t.Schedule != nil {
		l.checkSchedule(path+".schedule", t.Schedule)
	}
	if t.Segment != "" && t.Category != CategoryVendor {
		only("segment", true, CategoryVendor)
	}
	for i, e := range t.Events {
		if strings.TrimSpace(e) == "" {
			l.errorf(fmt.Sprintf("%s.events[%d]", path, i), "event name is empty")
		}
	}
	l.condition(path+".when", t.When)
	l.condition(path+".segment", t.Segment)
}

func (l *linter) checkSchedule(path string, s *Schedule) {
	switch {
	case s.RelativeTo != "" && s.Every != "":
		l.errorf(path+".every", "every and relative_to cannot both be set; a schedule is either relative to a date or a calendar rule")
	case s.RelativeTo == "" && s.Offset != "":
		l.errorf(path+".offset", "offset needs relative_to: the date trait it counts from, such as renewal_date")
	}
	if s.RelativeTo != "" && !traitPattern.MatchString(s.RelativeTo) {
		l.errorf(path+".relative_to", "relative_to %q is not a trait name such as renewal_date", s.RelativeTo)
	}
	l.duration(path+".offset", s.Offset, true)
	every := strings.TrimSpace(s.Every)
	switch {
	case every == "" || slices.Contains(CalendarRules, every):
	case len(strings.Fields(every)) != 5:
		l.errorf(path+".every", "every %q is not a calendar rule%s", s.Every,
			hint(s.Every, CalendarRules, "use "+strings.Join(CalendarRules, ", ")+`, or a five-field cron expression such as "0 9 * * 1"`))
	default:
		// The scheduler parses the expression with ParseCron too, so a map
		// that lints starts the schedule it says.
		if _, err := ParseCron(every); err != nil {
			l.errorf(path+".every", "%v", err)
		}
	}
}

func (l *linter) checkPlaybook(path string, mo *Moment) {
	steps := mo.Playbook
	index := map[string]int{}
	for i, s := range steps {
		sp := fmt.Sprintf("%s[%d]", path, i)
		if s.ID == "" {
			continue
		}
		if s.ID == StepEnd {
			l.errorf(sp+".id", "id %q is reserved: jumping to it finishes the run; choose another id", StepEnd)
		}
		if !idPattern.MatchString(s.ID) || len(s.ID) > maxIDLength {
			l.errorf(sp+".id", "id %q may use only lowercase letters, digits, _ and -; for example %q", s.ID, slug(s.ID))
		}
		if _, dup := index[s.ID]; dup {
			l.errorf(sp+".id", "step id %q is used twice in this playbook; ids must be unique", s.ID)
			continue
		}
		index[s.ID] = i
	}
	// target checks a jump to another step: it must exist and be later, so
	// that every run ends.
	target := func(from int, sp, key, id string) {
		if id == "" || id == StepEnd {
			return
		}
		to, ok := index[id]
		switch {
		case !ok:
			ids := slices.Sorted(func(yield func(string) bool) {
				for k := range index {
					if k != StepEnd && !yield(k) {
						return
					}
				}
			})
			if len(ids) == 0 {
				l.errorf(sp+"."+key, "%s %q is not a step of this playbook%s", key, id,
					hint(id, []string{StepEnd}, "give the step to go to an id, or use end to finish the run"))
			} else {
				l.errorf(sp+"."+key, "%s %q is not a step of this playbook%s", key, id,
					hint(id, append(ids, StepEnd), "the step ids are "+strings.Join(ids, ", ")+", or end to finish the run"))
			}
		case to <= from:
			l.errorf(sp+"."+key, "%s %q jumps back to an earlier step; a playbook may only jump forward, so that every run ends", key, id)
		}
	}
	kinds := StepKinds()
	for i, s := range steps {
		sp := fmt.Sprintf("%s[%d]", path, i)
		if s.Kind == "" {
			l.missing(sp+".kind", "playbook step has no kind; use one of %s", strings.Join(kinds, ", "))
			continue
		}
		validate, ok := stepValidator(s.Kind)
		if !ok {
			l.errorf(sp+".kind", "step kind %q is not known%s", s.Kind, hint(s.Kind, kinds, "use one of "+strings.Join(kinds, ", ")))
			continue
		}
		for _, msg := range validate(s) {
			at := sp
			if first, _, _ := strings.Cut(msg, " "); slices.Contains(stepKeys.keys, strings.TrimSuffix(first, ":")) {
				at = sp + "." + strings.TrimSuffix(first, ":")
			}
			if l.src.reported(at) {
				continue
			}
			l.errorf(at, "%s", msg)
		}
		// Cross-references and values whose form the linter knows, for
		// every kind that uses the key.
		switch s.Kind {
		case StepEmail:
			if s.Template != "" {
				l.ref(sp+".template", "template", s.Template, "email", l.emailIDs, l.emails)
			}
		case StepSurvey:
			if s.Template != "" {
				l.ref(sp+".template", "template", s.Template, "survey", l.surveyIDs, l.surveys)
			}
		}
		l.person(sp+".assignee", "assignee", s.Assignee)
		l.person(sp+".notify", "notify", s.Notify)
		l.duration(sp+".due", s.Due, false)
		l.duration(sp+".duration", s.Duration, false)
		l.duration(sp+".timeout", s.Timeout, false)
		l.condition(sp+".when", s.When)
		target(i, sp, "then", s.Then)
		target(i, sp, "else", s.Else)
		target(i, sp, "on_timeout", s.OnTimeout)
		target(i, sp, "next", s.Next)
	}
}

func (l *linter) checkSuccessPaths() {
	paths := l.m.SuccessPaths
	if len(paths) > MaxSuccessPaths {
		l.errorf(fmt.Sprintf("success_paths[%d]", MaxSuccessPaths),
			"the map has %d success paths; keep at most %d happy paths and handle the rest as exceptions", len(paths), MaxSuccessPaths)
	}
	for i, p := range paths {
		pp := fmt.Sprintf("success_paths[%d]", i)
		if p.ID != "" {
			l.named(pp, "success path", p.ID, p.Name)
		}
		l.condition(pp+".when", p.When)
		if p.When == "" && i < len(paths)-1 {
			l.warnf(pp, "success path %q has no when, so it takes every account and the paths after it are never chosen; give it a when or move it last", p.ID)
		}
		if len(p.Milestones) == 0 {
			l.missing(pp+".milestones", "success path %q has no milestones; list the milestones customers reach on it", p.ID)
		}
		l.ids("milestone", pp+".milestones", len(p.Milestones), func(j int) string { return p.Milestones[j].ID })
		values := 0
		for j, ms := range p.Milestones {
			mp := fmt.Sprintf("%s.milestones[%d]", pp, j)
			if ms.ID != "" {
				l.named(mp, "milestone", ms.ID, ms.Name)
			}
			if len(ms.Events) == 0 && ms.When == "" {
				l.errorf(mp, "milestone %q needs events or a when: how Moments knows it is reached", ms.ID)
			}
			l.condition(mp+".when", ms.When)
			if ms.TargetDays < 0 {
				l.errorf(mp+".target_days", "target_days is %d; it must be zero or more", ms.TargetDays)
			}
			if j > 0 && ms.TargetDays <= p.Milestones[j-1].TargetDays {
				l.errorf(mp+".target_days", "target_days %d is not after the previous milestone's %d; list milestones in the order they are reached, each with a later target",
					ms.TargetDays, p.Milestones[j-1].TargetDays)
			}
			if ms.Value {
				values++
				if values == 2 {
					l.warnf(mp+".value", "success path %q marks more than one milestone as value; time to value uses the first", p.ID)
				}
			}
		}
	}
}

func (l *linter) checkHealth() {
	h := l.m.Health
	weights := func(path string, v any) {
		rv := reflect.ValueOf(v)
		fi := fieldsOf(rv.Type())
		for _, key := range fi.keys {
			if w := rv.Field(fi.index[key]).Float(); w < 0 {
				l.errorf(path+"."+key, "weight %s is %g; weights must be zero or more", key, w)
			}
		}
	}
	weights("health.behavioural.weights", h.Behavioural.Weights)
	weights("health.emotional.weights", h.Emotional.Weights)
	nonNegative := func(path string, v int) {
		if v < 0 {
			l.errorf(path, "%s is %d; it must be zero or more", keyName(path), v)
		}
	}
	nonNegative("health.behavioural.window_days", h.Behavioural.WindowDays)
	nonNegative("health.behavioural.recency_full_days", h.Behavioural.RecencyFullDays)
	nonNegative("health.behavioural.recency_zero_days", h.Behavioural.RecencyZeroDays)
	nonNegative("health.emotional.half_life_days", h.Emotional.HalfLifeDays)
	nonNegative("health.usage_drop.window_days", h.UsageDrop.WindowDays)
	eff := l.m.WithDefaults().Health
	if b := eff.Behavioural; b.RecencyFullDays >= 0 && b.RecencyZeroDays >= 0 && b.RecencyFullDays >= b.RecencyZeroDays {
		l.errorf("health.behavioural.recency_full_days", "recency_full_days (%d) must be less than recency_zero_days (%d)", b.RecencyFullDays, b.RecencyZeroDays)
	}
	for _, role := range sortedKeys(h.Emotional.RoleWeights) {
		if w := h.Emotional.RoleWeights[role]; w < 0 {
			l.errorf("health.emotional.role_weights."+role, "role weight %s is %g; weights must be zero or more", role, w)
		}
	}
	threshold := func(path string, v float64) {
		if v < 0 || v > 100 {
			l.errorf(path, "quadrant threshold %s is %g; it must be from 0 to 100", keyName(path), v)
		}
	}
	for i, tr := range h.Drivers.ExcludeTraits {
		if strings.TrimSpace(tr) == "" {
			l.errorf(fmt.Sprintf("health.drivers.exclude_traits[%d]", i), "a trait name is empty")
		}
	}
	threshold("health.quadrant.behavioural", h.Quadrant.Behavioural)
	threshold("health.quadrant.emotional", h.Quadrant.Emotional)
	for _, q := range sortedKeys(h.Quadrant.Plays) {
		if !slices.Contains(vocab.Quadrants, q) {
			l.errorf("health.quadrant.plays."+q, "quadrant %q is not known%s",
				q, hint(q, vocab.Quadrants, "the quadrants are "+strings.Join(vocab.Quadrants, ", ")))
		}
	}
	if r := h.UsageDrop.Ratio; r < 0 || r >= 1 {
		l.errorf("health.usage_drop.ratio", "usage_drop ratio is %g; it must be above 0 and below 1 (0.5 means activity halved)", r)
	}
	if c := h.Combined; c < 0 || c > 1 {
		l.errorf("health.combined", "combined is %g; it is the behavioural share of the combined score, from 0 to 1", c)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (l *linter) checkEmail(path string, e Email) {
	if strings.TrimSpace(e.Subject) == "" {
		l.missing(path+".subject", "email %q has no subject", e.ID)
	}
	if strings.TrimSpace(e.Body) == "" {
		l.missing(path+".body", "email %q has no body", e.ID)
	}
	for _, key := range []string{"subject", "body"} {
		text := e.Subject
		if key == "body" {
			text = e.Body
		}
		for _, p := range checkTemplate(key, text) {
			line, col := l.src.within(path+"."+key, p.line, 0)
			l.add(SeverityError, line, col, path+"."+key, "%s", p.msg)
		}
	}
}

func (l *linter) checkSurvey(path string, s Survey) {
	switch {
	case s.Kind == "":
		l.missing(path+".kind", "survey %q has no kind; use nps, csat or ces", s.ID)
	case !slices.Contains(vocab.SurveyKinds, s.Kind):
		l.errorf(path+".kind", "survey kind %q is not known%s", s.Kind, hint(s.Kind, vocab.SurveyKinds, "use nps (0–10), csat (1–5) or ces (1–7)"))
	}
	if strings.TrimSpace(s.Question) == "" {
		l.missing(path+".question", "survey %q has no question", s.ID)
	}
	seen := map[string]bool{}
	for i, t := range s.Translations {
		tp := fmt.Sprintf("%s.translations[%d]", path, i)
		lang := strings.ToLower(strings.TrimSpace(t.Language))
		switch {
		case lang == "":
			l.missing(tp+".language", "survey %q has a translation without a language; give a language tag such as \"de\"", s.ID)
		case !isLanguageTag(lang):
			l.errorf(tp+".language", "language %q is not a language tag; use a code such as \"de\", \"fr\" or \"pt-br\"", t.Language)
		case seen[lang]:
			l.errorf(tp+".language", "survey %q has two %q translations; keep one", s.ID, lang)
		}
		seen[lang] = true
		if strings.TrimSpace(t.Question) == "" {
			l.missing(tp+".question", "survey %q has a %q translation without a question", s.ID, t.Language)
		}
	}
}

// isLanguageTag accepts the simple language tags contacts carry: two or
// three letters, optionally followed by "-" and a region or script.
func isLanguageTag(s string) bool {
	base, rest, _ := strings.Cut(s, "-")
	if len(base) < 2 || len(base) > 3 || len(rest) > 8 {
		return false
	}
	for _, r := range base + rest {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// checkSurveyRules checks the survey fatigue budget's durations and limit.
func (l *linter) checkSurveyRules(r SurveyRules) {
	const p = "survey_rules"
	l.positive(p+".contact_every", r.ContactEvery)
	l.positive(p+".account_every", r.AccountEvery)
	l.positive(p+".link_expires", r.LinkExpires)
	if r.ReminderAfter != NoReminder {
		l.positive(p+".reminder_after", r.ReminderAfter)
	}
	if r.AccountLimit < 0 {
		l.errorf(p+".account_limit", "account_limit %d is negative; give how many surveys an account's people may receive at most", r.AccountLimit)
	}
	rules := r.WithDefaults()
	if exp, err := ParseDuration(rules.LinkExpires); err == nil && rules.ReminderAfter != NoReminder {
		if rem, err := ParseDuration(rules.ReminderAfter); err == nil && rem.Approx() >= exp.Approx() {
			l.errorf(p+".reminder_after", "reminder_after %s is not before link_expires %s; the reminder would carry an expired link", rules.ReminderAfter, rules.LinkExpires)
		}
	}
}

// positive checks a duration that must be longer than zero.
func (l *linter) positive(path, value string) {
	if value == "" {
		return
	}
	d, err := ParseDuration(value)
	if err != nil {
		l.errorf(path, "%s: %s", keyName(path), err)
		return
	}
	if d.Negative() || d.IsZero() {
		l.errorf(path, "%s %q must be longer than zero", keyName(path), value)
	}
}
