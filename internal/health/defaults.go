package health

import "github.com/moments-cs/moments/internal/journey"

// Defaults returns the model with every unset field filled with its default,
// as (*journey.Map).WithDefaults fills a whole map: health needs it for a
// bare HealthModel, and calls it on every model it is given. It is
// idempotent, and it never changes the model it is given (the role weights
// map is copied before it is extended).
//
// Weights are filled as a group: a map that sets any behavioural (or
// emotional) weight keeps all of its weights as written, so that a weight
// of 0 switches a component off instead of being read as "unset". Role
// weights are merged: roles the map does not name get their default weight.
func Defaults(m journey.HealthModel) journey.HealthModel {
	b := &m.Behavioural
	if b.Weights == (journey.BehaviouralWeights{}) {
		b.Weights = journey.DefaultBehaviouralWeights
	}
	if b.WindowDays == 0 {
		b.WindowDays = journey.DefaultWindowDays
	}
	if b.RecencyFullDays == 0 {
		b.RecencyFullDays = journey.DefaultRecencyFullDays
	}
	if b.RecencyZeroDays == 0 {
		b.RecencyZeroDays = journey.DefaultRecencyZeroDays
	}
	if b.SeatsTrait == "" {
		b.SeatsTrait = journey.DefaultSeatsTrait
	}

	e := &m.Emotional
	if e.Weights == (journey.EmotionalWeights{}) {
		e.Weights = journey.DefaultEmotionalWeights
	}
	if e.HalfLifeDays == 0 {
		e.HalfLifeDays = journey.DefaultHalfLifeDays
	}
	missing := false
	for role := range journey.DefaultRoleWeights {
		if _, ok := e.RoleWeights[role]; !ok {
			missing = true
			break
		}
	}
	// Copy only when a role is missing: Apply calls Defaults for every
	// event, and an already complete model should cost no allocation.
	if missing {
		merged := make(map[string]float64, len(e.RoleWeights)+len(journey.DefaultRoleWeights))
		for role, w := range journey.DefaultRoleWeights {
			merged[role] = w
		}
		for role, w := range e.RoleWeights {
			merged[role] = w
		}
		e.RoleWeights = merged
	}

	q := &m.Quadrant
	if q.Behavioural == 0 {
		q.Behavioural = journey.DefaultQuadrantThreshold
	}
	if q.Emotional == 0 {
		q.Emotional = journey.DefaultQuadrantThreshold
	}

	u := &m.UsageDrop
	if u.WindowDays == 0 {
		u.WindowDays = journey.DefaultUsageDropDays
	}
	if u.Ratio == 0 {
		u.Ratio = journey.DefaultUsageDropRatio
	}

	if m.Combined == 0 {
		m.Combined = journey.DefaultCombined
	}
	return m
}
