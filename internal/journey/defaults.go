package journey

import (
	"maps"
	"reflect"

	"github.com/moments-cs/moments/internal/vocab"
)

// Defaults of the health model. A map that leaves a value out (or sets it
// to zero) gets these.
var (
	DefaultBehaviouralWeights = BehaviouralWeights{Recency: 10, Frequency: 5, Breadth: 10, Depth: 15, Progress: 10, Intensity: 25, Trend: 15, Relationship: 10, SupportLoad: 10}
	DefaultEmotionalWeights   = EmotionalWeights{NPS: 50, CSAT: 25, CES: 10, Support: 15}
	// DefaultRoleWeights weigh survey answers by the respondent's role;
	// a role the map lists replaces its default, the others keep theirs.
	DefaultRoleWeights = map[string]float64{vocab.RoleSponsor: 3, vocab.RoleChampion: 2, vocab.RoleAdmin: 1, vocab.RoleUser: 1}
)

// Other defaults.
const (
	DefaultWindowDays        = 30
	DefaultRecencyFullDays   = 2
	DefaultRecencyZeroDays   = 30
	DefaultSeatsTrait        = "seats"
	DefaultHalfLifeDays      = 90
	DefaultQuadrantThreshold = 60
	DefaultUsageDropDays     = 14
	DefaultUsageDropRatio    = 0.5
	DefaultCombined          = 0.5
	DefaultLifecycleTrait    = "lifecycle_stage"
	DefaultEmailTo           = "contact"
	DefaultWebhookFormat     = "json"
	DefaultSeverity          = "high"
	DefaultAssignee          = PersonOwner
)

// WithDefaults returns a copy of the map with every default filled in: the
// health model's weights, windows and thresholds, a lifecycle trigger's
// trait, and the optional values of playbook steps. The engines read this
// copy; the map itself (and what Marshal exports) keeps only what its
// author wrote.
func (m *Map) WithDefaults() *Map {
	c := m.Clone()
	if c == nil {
		return nil
	}
	h := &c.Health
	b := &h.Behavioural
	if b.Weights == (BehaviouralWeights{}) {
		b.Weights = DefaultBehaviouralWeights
	}
	b.WindowDays = orInt(b.WindowDays, DefaultWindowDays)
	b.RecencyFullDays = orInt(b.RecencyFullDays, DefaultRecencyFullDays)
	b.RecencyZeroDays = orInt(b.RecencyZeroDays, DefaultRecencyZeroDays)
	if b.SeatsTrait == "" {
		b.SeatsTrait = DefaultSeatsTrait
	}
	e := &h.Emotional
	if e.Weights == (EmotionalWeights{}) {
		e.Weights = DefaultEmotionalWeights
	}
	e.HalfLifeDays = orInt(e.HalfLifeDays, DefaultHalfLifeDays)
	roles := maps.Clone(DefaultRoleWeights)
	maps.Copy(roles, e.RoleWeights)
	e.RoleWeights = roles
	q := &h.Quadrant
	q.Behavioural = orFloat(q.Behavioural, DefaultQuadrantThreshold)
	q.Emotional = orFloat(q.Emotional, DefaultQuadrantThreshold)
	h.UsageDrop.WindowDays = orInt(h.UsageDrop.WindowDays, DefaultUsageDropDays)
	h.UsageDrop.Ratio = orFloat(h.UsageDrop.Ratio, DefaultUsageDropRatio)
	h.Combined = orFloat(h.Combined, DefaultCombined)

	for i := range c.Moments {
		mo := &c.Moments[i]
		t := &mo.Trigger
		if t.Category == CategoryLifecycle && t.Trait == "" && (t.Enter != "" || t.Leave != "") {
			t.Trait = DefaultLifecycleTrait
		}
		for j := range mo.Playbook {
			s := &mo.Playbook[j]
			switch s.Kind {
			case StepTask:
				if s.Assignee == "" {
					s.Assignee = DefaultAssignee
				}
			case StepEmail:
				if s.To == "" {
					s.To = DefaultEmailTo
				}
			case StepWebhook:
				if s.Format == "" {
					s.Format = DefaultWebhookFormat
				}
			case StepEscalate:
				if s.Severity == "" {
					s.Severity = DefaultSeverity
				}
				if s.Notify == "" {
					s.Notify = mo.EscalationOwner
				}
				if s.Notify == "" {
					s.Notify = PersonOwner
				}
			}
		}
	}
	return c
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orFloat(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// Clone returns a deep copy of the map: changing the copy never changes m.
func (m *Map) Clone() *Map {
	if m == nil {
		return nil
	}
	c := deepCopy(reflect.ValueOf(*m)).Interface().(Map)
	return &c
}

// deepCopy copies the kinds a Map is made of: structs, slices, maps,
// pointers and scalars.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			if c.Field(i).CanSet() {
				c.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return c
	case reflect.Slice:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(deepCopy(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			c.SetMapIndex(iter.Key(), deepCopy(iter.Value()))
		}
		return c
	case reflect.Pointer:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(deepCopy(v.Elem()))
		return c
	}
	return v
}

// Defaults of SurveyRules.
const (
	DefaultSurveyContactEvery  = "30d"
	DefaultSurveyAccountLimit  = 3
	DefaultSurveyAccountEvery  = "30d"
	DefaultSurveyLinkExpires   = "30d"
	DefaultSurveyReminderAfter = "3d"
	// NoReminder as reminder_after sends no reminder.
	NoReminder = "never"
)

// WithDefaults returns the rules with every setting left out filled with
// its default.
func (r SurveyRules) WithDefaults() SurveyRules {
	if r.ContactEvery == "" {
		r.ContactEvery = DefaultSurveyContactEvery
	}
	if r.AccountLimit == 0 {
		r.AccountLimit = DefaultSurveyAccountLimit
	}
	if r.AccountEvery == "" {
		r.AccountEvery = DefaultSurveyAccountEvery
	}
	if r.LinkExpires == "" {
		r.LinkExpires = DefaultSurveyLinkExpires
	}
	if r.ReminderAfter == "" {
		r.ReminderAfter = DefaultSurveyReminderAfter
	}
	return r
}
