package health

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/vocab"
)

// Scoring constants that the health model does not (yet) expose.
const (
	// FrequencyFullShare is the share of the window's days an account must
	// be active on for full frequency marks: active on half the days (15 of
	// 30) scores 100, since B2B products are rarely used at weekends.
	FrequencyFullShare = 0.5
	// SupportHalfLifeDays is the half-life of a support escalation or
	// reopen: support pain is felt sharply and fades faster than an NPS.
	SupportHalfLifeDays = 30
	// EscalationPenalty and ReopenPenalty are the points a fresh escalated
	// or reopened ticket takes from the support component's 100.
	EscalationPenalty = 25
	ReopenPenalty     = 15
	// maxMoved bounds the events listed under each component.
	maxMoved = 5
)

// ProgressUnknown is the PathProgress of an account that follows no
// success path.
const ProgressUnknown = -1.0

// AccountInfo is what Score needs to know about an account besides its
// aggregate.
type AccountInfo struct {
	// Seats is the number of licensed seats; 0 leaves depth of use unknown.
	Seats int
	// ContractStart is when the contract started, or the zero time. A
	// contract younger than the window shortens the window over which
	// frequency is judged, so that a new customer is not marked down for
	// the days before it signed.
	ContractStart time.Time
	// PathProgress is the share (0–1) of the success path's milestones
	// reached, or ProgressUnknown (any negative value) when the account
	// follows no path.
	PathProgress float64
	// SegmentFeatures is how many features the broad users of the
	// account's segment use in a window (FeatureReference); breadth is
	// judged against it when the model lists no key features. 0 judges
	// the account against the features it has used itself.
	SegmentFeatures int
	// SponsorLeft is when the account's sponsor left, for a caller that
	// knows it from elsewhere (or the zero time). The relationship
	// component also sees it in the events: an identify call that takes a
	// sponsor's or champion's role away (Aggregate.KeyContacts), or a
	// sponsor replaced by another.
	SponsorLeft time.Time
}

// Value is a score from 0 to 100, or unknown. It is written to JSON as a
// number, or null when unknown: an unknown score is never shown as a number.
type Value struct {
	Score float64
	Known bool
}

// Known returns a known score.
func Known(score float64) Value { return Value{Score: score, Known: true} }

// String returns the score rounded to a whole number, or "unknown".
func (v Value) String() string {
	if !v.Known {
		return "unknown"
	}
	return strconv.FormatFloat(math.Round(v.Score), 'f', 0, 64)
}

// MarshalJSON writes the score, or null when unknown.
func (v Value) MarshalJSON() ([]byte, error) {
	if !v.Known {
		return []byte("null"), nil
	}
	return json.Marshal(v.Score)
}

// UnmarshalJSON reads a score, or null as unknown.
func (v *Value) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = Value{}
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("health score: %w", err)
	}
	*v = Known(f)
	return nil
}

// Component names, in the order Result lists them.
const (
	ComponentRecency   = "recency"
	ComponentFrequency = "frequency"
	ComponentBreadth   = "breadth"
	ComponentDepth     = "depth"
	ComponentProgress  = "progress"
	ComponentNPS       = "nps"
	ComponentCSAT      = "csat"
	ComponentCES       = "ces"
	ComponentSupport   = "support"
)

// Component groups.
const (
	GroupBehavioural = "behavioural"
	GroupEmotional   = "emotional"
)

// Component is one contribution to a score, explained.
type Component struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	Value Value  `json:"value"`
	// Weight is the weight the health model gives the component; Share is
	// the weight actually applied, normalised over the known components of
	// its group (0 when the component is unknown).
	Weight float64 `json:"weight"`
	Share  float64 `json:"share"`
	// Reason says in one line, for a CS lead, why the value is what it is.
	Reason string `json:"reason"`
	// Events are the most recent events that moved the component.
	Events []Moved `json:"events,omitempty"`
}

// Moved is an event that moved a component.
type Moved struct {
	Event  string    `json:"event"`
	At     time.Time `json:"at"`
	Detail string    `json:"detail,omitempty"`
}

// Result is an account's health at one moment.
type Result struct {
	At time.Time `json:"at"`
	// Behavioural is known whenever a behavioural component with a weight
	// is: recency and frequency always are.
	Behavioural Value `json:"behavioural"`
	// Emotional is unknown when there are no recent survey answers and no
	// recent support tickets.
	Emotional Value `json:"emotional"`
	// Combined weighs behaviour and emotion by the model's Combined; when
	// emotion is unknown it is the behavioural score and BehaviourOnly is
	// set.
	Combined       Value       `json:"combined"`
	BehaviourOnly  bool        `json:"behaviour_only"`
	Quadrant       Quadrant    `json:"quadrant"`
	QuadrantReason string      `json:"quadrant_reason"`
	Play           string      `json:"play"`
	Components     []Component `json:"components"`
}

// Component returns the named component, or false.
func (r Result) Component(name string) (Component, bool) {
	for _, c := range r.Components {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// Score computes an account's health at now from its aggregate. It reads
// only the aggregate, never events, and is a pure function of its
// arguments: pass now explicitly (tests use a fixed clock).
//
// Behavioural components (each 0–100):
//   - recency: 100 up to RecencyFullDays since the last activity, falling
//     linearly to 0 at RecencyZeroDays; 0 when there was never any activity.
//   - frequency: active days in the window ÷ (FrequencyFullShare × window
//     days), capped at 100. The window is shortened to the days since the
//     contract started when that is less.
//   - breadth: key features used in the window ÷ key features; unknown when
//     the model has no key features. Recent use is what predicts renewal,
//     so a feature tried once a year ago does not count.
//   - depth: distinct active users in the window ÷ seats, capped at 100;
//     unknown when seats are unknown.
//   - progress: success path progress × 100; unknown without a path.
//
// Emotional components (each 0–100, unknown without a signal):
//   - nps: the latest answer of each contact, 0–10 mapped to 0–100,
//     averaged with weight role weight × 0.5^(age ÷ half-life); answers
//     older than StaleHalfLives half-lives are left out.
//   - csat (1–5) and ces (1–7, 7 = very easy): the recent answers, mapped
//     to 0–100 and averaged with the same weights.
//   - support: 100 minus EscalationPenalty per escalation and ReopenPenalty
//     per reopen in the last TicketRetentionDays, each decayed with a
//     SupportHalfLifeDays half-life, floored at 0; known only when there
//     were tickets in that window.
//
// Each group's score is the weighted mean of its known components, the
// weights normalised over them; a group with no known component is unknown.
// Windows are whole UTC days ending with now's day.
func Score(agg *Aggregate, acct AccountInfo, model journey.HealthModel, now time.Time) Result {
	return score(agg, acct, model, now, false)
}

// Scores is Score without the explanation texts (component reasons and the
// quadrant reason are empty): the same numbers, for callers that store only
// the numbers, such as the ingestion path.
func Scores(agg *Aggregate, acct AccountInfo, model journey.HealthModel, now time.Time) Result {
	return score(agg, acct, model, now, true)
}

func score(agg *Aggregate, acct AccountInfo, model journey.HealthModel, now time.Time, quiet bool) Result {
	if agg == nil {
		agg = &Aggregate{}
	}
	m := Defaults(model)
	s := scorer{agg: agg, acct: acct, m: m, now: now, nowSec: now.Unix(), quiet: quiet}
	s.nowDay = dayOf(s.nowSec)
	s.window = windowDays(m)

	bw, ew := m.Behavioural.Weights, m.Emotional.Weights
	// One slice holds both groups (the result's components, behavioural
	// first): scoring runs for every account of every recompute.
	all := make([]Component, 0, 13)
	all = append(all,
		s.recency(bw.Recency),
		s.frequency(bw.Frequency),
		s.breadth(bw.Breadth),
		s.depth(bw.Depth),
		s.progress(bw.Progress),
		s.intensity(bw.Intensity),
		s.trend(bw.Trend),
		s.relationship(bw.Relationship),
		s.supportLoad(bw.SupportLoad),
	)
	nb := len(all)
	all = append(all,
		s.survey(ComponentNPS, vocab.SurveyNPS, ew.NPS, agg.Responses),
		s.survey(ComponentCSAT, vocab.SurveyCSAT, ew.CSAT, agg.RecentCSAT),
		s.survey(ComponentCES, vocab.SurveyCES, ew.CES, agg.RecentCES),
		s.support(ew.Support),
	)

	r := Result{At: now}
	r.Behavioural = weigh(all[:nb])
	r.Emotional = weigh(all[nb:])
	r.Components = all

	c := min(max(m.Combined, 0), 1)
	switch {
	case r.Emotional.Known && r.Behavioural.Known:
		r.Combined = Known(c*r.Behavioural.Score + (1-c)*r.Emotional.Score)
	case r.Behavioural.Known:
		r.Combined = r.Behavioural
		r.BehaviourOnly = true
	default:
		r.Combined = r.Emotional
	}

	r.Quadrant = Classify(r.Behavioural, r.Emotional, m.Quadrant)
	if !quiet {
		r.QuadrantReason = quadrantReason(r, m.Quadrant)
	}
	r.Play = Play(r.Quadrant, m.Quadrant)
	return r
}

// weigh sets each known component's share and returns the weighted mean.
// Components with no weight (or a negative one) take no part.
func weigh(cs []Component) Value {
	var total, sum float64
	for _, c := range cs {
		if c.Value.Known && c.Weight > 0 {
			total += c.Weight
			sum += c.Weight * c.Value.Score
		}
	}
	if total == 0 {
		return Value{}
	}
	for i, c := range cs {
		if c.Value.Known && c.Weight > 0 {
			cs[i].Share = c.Weight / total
		}
	}
	return Known(clamp100(sum / total))
}

func quadrantReason(r Result, q journey.QuadrantModel) string {
	if r.Quadrant == QuadrantUnknown {
		return "behaviour only: no survey answers or support tickets to judge how they feel"
	}
	level := func(v, t float64) string {
		if v >= t {
			return "high"
		}
		return "low"
	}
	return fmt.Sprintf("behaviour %s (%s, threshold %g), emotion %s (%s, threshold %g)",
		level(r.Behavioural.Score, q.Behavioural), r.Behavioural, q.Behavioural,
		level(r.Emotional.Score, q.Emotional), r.Emotional, q.Emotional)
}

// scorer holds what every component needs.
type scorer struct {
	agg    *Aggregate
	acct   AccountInfo
	m      journey.HealthModel
	now    time.Time
	nowSec int64
	nowDay int64
	window int64
	// quiet skips the explanation texts (Scores).
	quiet bool
}

// reason sets or extends a component's explanation, unless the scorer is
// quiet: formatting the texts is a fifth of scoring, and the ingestion path
// stores only the numbers.
func (s *scorer) reason(c *Component, add bool, format string, args ...any) {
	if s.quiet {
		return
	}
	if add {
		c.Reason += fmt.Sprintf(format, args...)
		return
	}
	c.Reason = fmt.Sprintf(format, args...)
}

// inWindow reports whether a day falls in the window of n days ending today.
func (s *scorer) inWindow(day, n int64) bool {
	return day > s.nowDay-n && day <= s.nowDay
}

func (s *scorer) recency(weight float64) Component {
	c := Component{Name: ComponentRecency, Group: GroupBehavioural, Weight: weight}
	if s.agg.LastActivity == 0 {
		c.Value = Known(0)
		c.Reason = "no product activity recorded yet"
		return c
	}
	age := s.now.Sub(unix(s.agg.LastActivity))
	days := age.Hours() / 24
	c.Value = Known(ramp(days, float64(s.m.Behavioural.RecencyFullDays), float64(s.m.Behavioural.RecencyZeroDays)))
	s.reason(&c, false, "last activity %s", ago(age))
	c.Events = s.recentActivity()
	return c
}

func (s *scorer) frequency(weight float64) Component {
	c := Component{Name: ComponentFrequency, Group: GroupBehavioural, Weight: weight}
	n, sinceStart := s.frequencyWindow()
	active := 0
	for _, d := range s.agg.Days {
		if d.Count > 0 && s.inWindow(d.Day, n) {
			active++
		}
	}
	full := FrequencyFullShare * float64(n)
	c.Value = Known(clamp100(100 * float64(active) / full))
	if sinceStart {
		s.reason(&c, false, "active on %d of the %s since the contract started", active, plural(int(n), "day", "days"))
	} else {
		s.reason(&c, false, "active on %d of the last %d days", active, n)
	}
	s.reason(&c, true, " (full marks from %g active days)", math.Ceil(full))
	c.Events = s.recentActivity()
	return c
}

func (s *scorer) breadth(weight float64) Component {
	c := Component{Name: ComponentBreadth, Group: GroupBehavioural, Weight: weight}
	var features []string
	for _, f := range s.m.Behavioural.KeyFeatures {
		if !slices.Contains(features, f) {
			features = append(features, f)
		}
	}
	if len(features) == 0 {
		return s.breadthWithoutKeyFeatures(c)
	}
	var unused []string
	for _, f := range features {
		t, ok := s.agg.Features[f]
		if ok && s.inWindow(dayOf(t), s.window) {
			c.Events = append(c.Events, Moved{Event: f, At: unix(t), Detail: "key feature used"})
		} else {
			unused = append(unused, f)
		}
	}
	used := len(features) - len(unused)
	c.Value = Known(100 * float64(used) / float64(len(features)))
	s.reason(&c, false, "%d of %d key features used in the last %d days", used, len(features), s.window)
	if len(unused) > 0 {
		c.Reason += "; not used: " + strings.Join(unused, ", ")
	}
	slices.SortFunc(c.Events, func(x, y Moved) int { return y.At.Compare(x.At) })
	c.Events = c.Events[:min(len(c.Events), maxMoved)]
	return c
}

// breadthWithoutKeyFeatures judges the features used in the window against
// what the account's segment uses (AccountInfo.SegmentFeatures) or, when
// that is unknown, against every feature the account has used.
func (s *scorer) breadthWithoutKeyFeatures(c Component) Component {
	used := s.featuresUsed()
	ref, of := s.acct.SegmentFeatures, "the broad users of its segment use"
	if ref <= 0 {
		ref, of = len(s.agg.Features), "it has ever used"
	}
	if ref <= 0 {
		c.Reason = "no features used yet, and the health model lists no key features"
		return c
	}
	c.Value = Known(clamp100(100 * float64(used) / float64(ref)))
	s.reason(&c, false, "%d features used in the last %d days, of the %d %s", used, s.window, ref, of)
	for f, t := range s.agg.Features {
		if s.inWindow(dayOf(t), s.window) {
			c.Events = append(c.Events, Moved{Event: f, At: unix(t), Detail: "feature used"})
		}
	}
	c.Events = latestMoved(c.Events, func(x, y Moved) int { return strings.Compare(x.Event, y.Event) })
	return c
}

func (s *scorer) depth(weight float64) Component {
	c := Component{Name: ComponentDepth, Group: GroupBehavioural, Weight: weight}
	if s.acct.Seats <= 0 {
		s.reason(&c, false, "seat count unknown: set the account trait %q", s.m.Behavioural.SeatsTrait)
		return c
	}
	users := 0
	for _, u := range s.agg.Users {
		if s.inWindow(u.Day, s.window) {
			users++
		}
	}
	c.Value = Known(clamp100(100 * float64(users) / float64(s.acct.Seats)))
	s.reason(&c, false, "%s in the last %d days for %s",
		plural(users, "active user", "active users"), s.window, plural(s.acct.Seats, "seat", "seats"))
	if users >= MaxUsers {
		s.reason(&c, true, " (counted up to %d)", MaxUsers)
	}
	c.Events = s.recentActivity()
	return c
}

func (s *scorer) progress(weight float64) Component {
	c := Component{Name: ComponentProgress, Group: GroupBehavioural, Weight: weight}
	p := s.acct.PathProgress
	if p < 0 || math.IsNaN(p) {
		c.Reason = "the account follows no success path"
		return c
	}
	c.Value = Known(100 * min(p, 1))
	s.reason(&c, false, "%.0f%% of the success path reached", c.Value.Score)
	for id, t := range s.agg.Milestones {
		c.Events = append(c.Events, Moved{Event: vocab.EventMilestoneReached, At: unix(t), Detail: id})
	}
	c.Events = latestMoved(c.Events, func(x, y Moved) int { return strings.Compare(x.Detail, y.Detail) })
	return c
}

// latestMoved sorts moving events most recent first (ties by tie) and
// keeps the first maxMoved.
func latestMoved(ms []Moved, tie func(x, y Moved) int) []Moved {
	slices.SortFunc(ms, func(x, y Moved) int {
		if c := y.At.Compare(x.At); c != 0 {
			return c
		}
		return tie(x, y)
	})
	return ms[:min(len(ms), maxMoved)]
}

// ramp is 100 up to full days, falling linearly to 0 at zero days.
func ramp(days, full, zero float64) float64 {
	switch {
	case days <= full:
		return 100
	case days >= zero:
		return 0
	}
	return 100 * (zero - days) / (zero - full)
}

// survey scores one survey kind from answers sorted most recent first.
func (s *scorer) survey(name, kind string, weight float64, answers []Response) Component {
	c := Component{Name: name, Group: GroupEmotional, Weight: weight}
	halfLife := float64(halfLifeDays(s.m))
	stale := StaleHalfLives * halfLifeDays(s.m) * secondsPerDay
	label := strings.ToUpper(kind)

	var total, sum, raw float64
	n := 0
	var top Response
	topWeight := -1.0
	for _, r := range answers {
		age := s.nowSec - r.At
		// An answer given after now is left out, so that a score computed
		// for a past moment only sees what was known then.
		if r.Kind != kind || age < 0 || age >= stale {
			continue
		}
		w := s.roleWeight(r.Role) * math.Pow(0.5, float64(age)/secondsPerDay/halfLife)
		if w <= 0 {
			continue
		}
		total += w
		sum += w * normalise(kind, r.Score)
		raw += w * r.Score
		n++
		if w > topWeight {
			top, topWeight = r, w
		}
		if len(c.Events) < maxMoved && !s.quiet {
			c.Events = append(c.Events, Moved{
				Event:  vocab.EventSurveyResponded,
				At:     unix(r.At),
				Detail: fmt.Sprintf("%s %s from %s", label, fmtScore(r.Score), who(r)),
			})
		}
	}
	if total == 0 {
		s.reason(&c, false, "no %s answer in the last %d days", label, StaleHalfLives*halfLifeDays(s.m))
		return c
	}
	c.Value = Known(clamp100(sum / total))
	age := s.now.Sub(unix(top.At))
	if kind == vocab.SurveyNPS {
		s.reason(&c, false, "NPS %s from %s, %s", fmtScore(top.Score), who(top), ago(age))
		if n > 1 {
			s.reason(&c, true, "; %d contacts' latest answers weighted by role and age", n)
		}
		return c
	}
	scale := fmt.Sprintf("of %g", scales[kind].high)
	if kind == vocab.SurveyCES {
		scale += " (7 = very easy)"
	}
	latest := s.now.Sub(unix(answers[0].At))
	for _, r := range answers {
		if age := s.nowSec - r.At; r.Kind == kind && age >= 0 && age < stale {
			latest = s.now.Sub(unix(r.At))
			break
		}
	}
	s.reason(&c, false, "%s %s %s, weighted average of %s, latest %s",
		label, fmtScore(math.Round(raw/total*10)/10), scale, plural(n, "answer", "answers"), ago(latest))
	return c
}

func (s *scorer) roleWeight(role string) float64 {
	w, ok := s.m.Emotional.RoleWeights[role]
	if !ok {
		// A contact with no known role counts like a user.
		return 1
	}
	return max(w, 0)
}

func (s *scorer) support(weight float64) Component {
	c := Component{Name: ComponentSupport, Group: GroupEmotional, Weight: weight}
	retention := int64(TicketRetentionDays * secondsPerDay)
	var opened, escalated, reopened int
	var penalty float64
	var quiet []Moved // opened tickets, listed only when nothing worse happened
	for _, t := range s.agg.Tickets {
		age := s.nowSec - t.At
		if age < 0 || age >= retention {
			continue
		}
		decay := math.Pow(0.5, float64(age)/secondsPerDay/SupportHalfLifeDays)
		var name string
		switch t.Kind {
		case TicketOpened:
			opened++
			if len(quiet) < maxMoved {
				quiet = append(quiet, Moved{Event: vocab.EventTicketOpened, At: unix(t.At)})
			}
			continue
		case TicketEscalated:
			escalated++
			penalty += EscalationPenalty * decay
			name = vocab.EventTicketEscalated
		case TicketReopened:
			reopened++
			penalty += ReopenPenalty * decay
			name = vocab.EventTicketReopened
		}
		if len(c.Events) < maxMoved {
			c.Events = append(c.Events, Moved{Event: name, At: unix(t.At)})
		}
	}
	if opened+escalated+reopened == 0 {
		s.reason(&c, false, "no support tickets in the last %d days", TicketRetentionDays)
		return c
	}
	if len(c.Events) == 0 {
		c.Events = quiet
	}
	c.Value = Known(max(0, 100-penalty))
	s.reason(&c, false, "%s opened, %d escalated, %d reopened in the last %d days",
		plural(opened, "ticket", "tickets"), escalated, reopened, TicketRetentionDays)
	return c
}

// recentActivity lists the latest activity events.
func (s *scorer) recentActivity() []Moved {
	if len(s.agg.Recent) == 0 {
		return nil
	}
	out := make([]Moved, 0, len(s.agg.Recent))
	for _, a := range s.agg.Recent {
		name := a.Name
		if name == "" {
			name = "page view"
		}
		out = append(out, Moved{Event: name, At: unix(a.At)})
	}
	return out
}

func clamp100(v float64) float64 { return min(max(v, 0), 100) }
