package health

import (
	"github.com/moments-cs/moments/internal/journey"

	"github.com/moments-cs/moments/internal/vocab"
)

// Quadrant places an account by behaviour (how it uses the product) and
// emotion (how it feels about it). The two are kept apart because they call
// for different plays: a customer who uses the product but is unhappy needs
// service recovery, one who is happy but does not use it needs enablement.
type Quadrant string

// The quadrants. Unknown means the emotion is unknown (no survey answers
// and no support tickets), so the account is judged on behaviour only.
const (
	QuadrantChampion   Quadrant = vocab.QuadrantChampion
	QuadrantCaptive    Quadrant = vocab.QuadrantCaptive
	QuadrantDormantFan Quadrant = vocab.QuadrantDormantFan
	QuadrantAtRisk     Quadrant = vocab.QuadrantAtRisk
	QuadrantUnknown    Quadrant = vocab.QuadrantUnknown
)

// Label returns the quadrant as a CS team says it ("dormant fan").
func (q Quadrant) Label() string {
	switch q {
	case QuadrantChampion:
		return "champion"
	case QuadrantCaptive:
		return "captive"
	case QuadrantDormantFan:
		return "dormant fan"
	case QuadrantAtRisk:
		return "at risk"
	}
	return "behaviour only"
}

// Classify places scores in a quadrant. A score exactly at its threshold
// counts as high. Zero thresholds take their defaults.
func Classify(behavioural, emotional Value, q journey.QuadrantModel) Quadrant {
	if !behavioural.Known || !emotional.Known {
		return QuadrantUnknown
	}
	bt, et := q.Behavioural, q.Emotional
	if bt == 0 {
		bt = journey.DefaultQuadrantThreshold
	}
	if et == 0 {
		et = journey.DefaultQuadrantThreshold
	}
	highB := behavioural.Score >= bt
	highE := emotional.Score >= et
	switch {
	case highB && highE:
		return QuadrantChampion
	case highB:
		return QuadrantCaptive
	case highE:
		return QuadrantDormantFan
	default:
		return QuadrantAtRisk
	}
}

// rank orders quadrants for Worse: captive and dormant fan are equally far
// from champion, each low on one axis.
func (q Quadrant) rank() int {
	switch q {
	case QuadrantChampion:
		return 3
	case QuadrantCaptive, QuadrantDormantFan:
		return 2
	case QuadrantAtRisk:
		return 1
	}
	return 0
}

// Worse reports whether moving from one quadrant to another is a drop, for
// the quadrant_drop trigger: champion is above captive and dormant fan,
// which are above at risk. A move between captive and dormant fan is not a
// drop, and neither is a move from or to unknown, since an unknown emotion
// says nothing about the direction.
func Worse(from, to Quadrant) bool {
	f, t := from.rank(), to.rank()
	if f == 0 || t == 0 {
		return false
	}
	return t < f
}

// defaultPlays are recommended when the map names no play for a quadrant.
var defaultPlays = map[Quadrant]string{
	QuadrantChampion:   "Ask for advocacy: a reference, a case study or an expansion conversation.",
	QuadrantCaptive:    "They use the product but are unhappy: listen, fix what hurts and recover the relationship before renewal.",
	QuadrantDormantFan: "They like you but do not use the product: re-onboard them, show the key features and agree on a success plan.",
	QuadrantAtRisk:     "Rescue: call the sponsor, agree on a recovery plan and escalate inside your team.",
	QuadrantUnknown:    "Behaviour only: send an NPS or CSAT survey to learn how they feel.",
}

// Play returns the recommended play for a quadrant: the map's own (a moment
// id or free text) when it names one, else a built-in suggestion.
func Play(q Quadrant, m journey.QuadrantModel) string {
	if p := m.Plays[string(q)]; p != "" {
		return p
	}
	return defaultPlays[q]
}
