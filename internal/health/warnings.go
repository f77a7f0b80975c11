package health

import (
	"fmt"
	"time"

	"github.com/moments-cs/moments/internal/journey"
)

// Warning codes: the exception reasons that an account's health result
// shows by itself.
const (
	WarningLowHealth      = "low_health"
	WarningDecliningUsage = "declining_usage"
	WarningSponsorLeft    = "sponsor_left"
	// WarningUnansweredSurveys is raised from the surveys Moments sent,
	// which the tracker counts (see UnansweredSurveys).
	WarningUnansweredSurveys = "unanswered_surveys"
)

// Thresholds of the warnings.
const (
	// LowHealthScore is the combined score below which an account is in
	// the bottom band: on generated data with planted risk, the accounts
	// below 40 churned at about twice the base rate.
	LowHealthScore = 40
	// DecliningTrend is the trend component below which usage is declining:
	// daily activity in the last 30 days under 60 % of the 60 days before.
	DecliningTrend = 60
	// UnansweredSurveysDays is how far back unanswered_surveys looks, and
	// UnansweredSurveysMin how many surveys must have gone unanswered in
	// that time, with none answered: one unanswered survey is a busy week,
	// several in a row with no answer is a customer who stopped talking.
	UnansweredSurveysDays = 180
	UnansweredSurveysMin  = 2
)

// SurveyReplies are the surveys Moments sent an account's contacts in the
// last UnansweredSurveysDays: how many were answered, and how many closed
// (their link expired) without an answer, the latest sent at
// LastUnanswered.
type SurveyReplies struct {
	Answered       int
	Unanswered     int
	LastUnanswered time.Time
}

// UnansweredSurveys returns the unanswered_surveys warning when at least
// UnansweredSurveysMin surveys sent in the last UnansweredSurveysDays
// closed unanswered and none was answered: neither a send (s.Answered)
// nor any survey answer the account's events carry in that time (answers
// collected by other tools count too).
func UnansweredSurveys(s SurveyReplies, agg *Aggregate, now time.Time) (Warning, bool) {
	if s.Unanswered < UnansweredSurveysMin || s.Answered > 0 {
		return Warning{}, false
	}
	since := now.Add(-UnansweredSurveysDays * 24 * time.Hour).Unix()
	if agg != nil {
		for _, r := range agg.Responses {
			if r.At >= since && r.At <= now.Unix() {
				return Warning{}, false
			}
		}
	}
	return Warning{WarningUnansweredSurveys, fmt.Sprintf(
		"%d surveys sent in the last %d days went unanswered (the latest sent %s), and none was answered",
		s.Unanswered, UnansweredSurveysDays, s.LastUnanswered.Format(time.DateOnly))}, true
}

// Warning is one reason, read from health alone, to look at an account.
type Warning struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// Warnings returns the warnings a health result raises: low_health (the
// combined score below LowHealthScore), declining_usage (the trend below
// DecliningTrend) and sponsor_left (the sponsor left or changed within
// SponsorChangeDays).
func Warnings(r Result) []Warning {
	var out []Warning
	raised(r, func(code string, text func() string) { out = append(out, Warning{code, text()}) })
	return out
}

// WarningCodesOf returns the codes of the warnings r raises (Warnings),
// without writing their texts: the backtest asks this of every account.
func WarningCodesOf(r Result) []string {
	var out []string
	raised(r, func(code string, _ func() string) { out = append(out, code) })
	return out
}

// raised calls fn with each warning r raises, in Warnings' order, and
// what writes its text.
func raised(r Result, fn func(code string, text func() string)) {
	if r.Combined.Known && r.Combined.Score < LowHealthScore {
		fn(WarningLowHealth, func() string {
			return fmt.Sprintf("combined health %s, below %d", r.Combined, LowHealthScore)
		})
	}
	if c, ok := r.Component(ComponentTrend); ok && c.Value.Known && c.Value.Score < DecliningTrend {
		// The trend's value is the ratio itself (× 100), so the text does
		// not need the explanation, which quiet scoring leaves out.
		fn(WarningDecliningUsage, func() string {
			return fmt.Sprintf("usage is declining: daily activity in the last window is %.0f%% of the two windows before", c.Value.Score)
		})
	}
	if c, ok := r.Component(ComponentRelationship); ok {
		for _, m := range c.Events {
			if m.Event == sponsorChangeEvent {
				fn(WarningSponsorLeft, func() string { return "a sponsor or champion left or changed on " + m.At.Format(time.DateOnly) })
				break
			}
		}
	}
}

// Reweigh returns the combined score r would have under model's weights:
// the same component values, weighed as Score weighs them. Calibration uses
// it to judge proposed weights without recomputing any component.
func Reweigh(r Result, model journey.HealthModel) Value {
	m := Defaults(model)
	bw, ew := m.Behavioural.Weights, m.Emotional.Weights
	weights := map[string]float64{
		ComponentRecency: bw.Recency, ComponentFrequency: bw.Frequency, ComponentBreadth: bw.Breadth,
		ComponentDepth: bw.Depth, ComponentProgress: bw.Progress, ComponentIntensity: bw.Intensity,
		ComponentTrend: bw.Trend, ComponentRelationship: bw.Relationship, ComponentSupportLoad: bw.SupportLoad,
		ComponentNPS: ew.NPS, ComponentCSAT: ew.CSAT, ComponentCES: ew.CES, ComponentSupport: ew.Support,
	}
	var beh, emo []Component
	for _, c := range r.Components {
		c.Weight = weights[c.Name]
		if c.Group == GroupEmotional {
			emo = append(emo, c)
		} else {
			beh = append(beh, c)
		}
	}
	b, e := weigh(beh), weigh(emo)
	c := min(max(m.Combined, 0), 1)
	switch {
	case b.Known && e.Known:
		return Known(c*b.Score + (1-c)*e.Score)
	case b.Known:
		return b
	}
	return e
}
