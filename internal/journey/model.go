// Package journey holds the journey map: the versioned definition of a
// company's stages, teams, moments of truth, success paths, health model and
// templates. It parses maps from YAML with positions, lints them, diffs two
// versions and exports them back to YAML. It does no I/O of its own beyond
// reading the bytes it is given.
package journey

// Map is one journey map. A map is the automation itself: the trigger engine,
// the playbooks, health and the reports all read the live version.
type Map struct {
	// Version is the schema version of the file format; 1 today.
	Version      int           `yaml:"version" json:"version"`
	Name         string        `yaml:"name" json:"name"`
	Description  string        `yaml:"description,omitempty" json:"description,omitempty"`
	Stages       []Stage       `yaml:"stages" json:"stages"`
	Teams        []Team        `yaml:"teams" json:"teams"`
	Moments      []Moment      `yaml:"moments" json:"moments"`
	SuccessPaths []SuccessPath `yaml:"success_paths,omitempty" json:"success_paths,omitempty"`
	Health       HealthModel   `yaml:"health,omitempty" json:"health,omitempty"`
	Emails       []Email       `yaml:"emails,omitempty" json:"emails,omitempty"`
	Surveys      []Survey      `yaml:"surveys,omitempty" json:"surveys,omitempty"`
	// SurveyRules is the fatigue budget and timing of survey steps; left
	// out, the defaults apply (DefaultSurveyRules).
	SurveyRules SurveyRules `yaml:"survey_rules,omitempty" json:"survey_rules,omitempty"`
}

// Stage is a step of the customer's decision process, in map order.
type Stage struct {
	ID          string `yaml:"id" json:"id"`
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// Team is a group of people that owns or supports moments.
type Team struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// Lead is who service recovery escalates to when the map names no other
	// escalation owner (an email address or a person's name).
	Lead string `yaml:"lead,omitempty" json:"lead,omitempty"`
}

// Moment is a moment of truth: a point of contact within a stage.
type Moment struct {
	ID          string      `yaml:"id" json:"id"`
	Name        string      `yaml:"name" json:"name"`
	Description string      `yaml:"description,omitempty" json:"description,omitempty"`
	Stage       string      `yaml:"stage" json:"stage"`
	Owner       string      `yaml:"owner" json:"owner"`
	Supporters  []string    `yaml:"supporters,omitempty,flow" json:"supporters,omitempty"`
	Importance  Importance  `yaml:"importance,flow" json:"importance"`
	Ideal       []IdealStep `yaml:"ideal,omitempty" json:"ideal,omitempty"`
	// SLA is the time within which the whole moment should be delivered,
	// as a duration such as "2d", "36h" or "5bd" (business days).
	SLA string `yaml:"sla,omitempty" json:"sla,omitempty"`
	// EscalationOwner is the team id, role or address that service recovery
	// notifies; empty means the owner team's lead.
	EscalationOwner string  `yaml:"escalation_owner,omitempty" json:"escalation_owner,omitempty"`
	Metrics         Metrics `yaml:"metrics,omitempty" json:"metrics,omitempty"`
	Trigger         Trigger `yaml:"trigger" json:"trigger"`
	Playbook        []Step  `yaml:"playbook,omitempty" json:"playbook,omitempty"`
}

// Importance scores a moment on four axes, each 0–5. The seed documents:
// not all customer touchpoints are equal.
type Importance struct {
	Revenue      int `yaml:"revenue" json:"revenue"`
	Relationship int `yaml:"relationship" json:"relationship"`
	Rescue       int `yaml:"rescue" json:"rescue"`
	Retention    int `yaml:"retention" json:"retention"`
}

// Score is the sum of the four axes (0–20), used to rank moments.
func (i Importance) Score() int { return i.Revenue + i.Relationship + i.Rescue + i.Retention }

// IdealStep is one step of the ideal process agreed for a moment.
type IdealStep struct {
	Step string `yaml:"step" json:"step"`
	// Owner is the team id that does the step, or "customer" for a step
	// the customer takes.
	Owner string `yaml:"owner" json:"owner"`
	// Within is how long after the moment starts the step should be done.
	Within string `yaml:"within,omitempty" json:"within,omitempty"`
	// Event is the event whose first arrival on the account at or after
	// the occurrence began shows the step was done.
	Event string `yaml:"event,omitempty" json:"event,omitempty"`
	// Task is the id of a step of the moment's own playbook that shows the
	// step was done: a task step once its task is completed, an email,
	// survey or webhook step once it was sent.
	Task string `yaml:"task,omitempty" json:"task,omitempty"`
}

// Observable reports whether the map says what shows that the step was
// done (an event or a playbook task); moment analytics measure only those.
func (s IdealStep) Observable() bool { return s.Event != "" || s.Task != "" }

// Metrics are the metrics that matter for a moment: quantity, quality,
// cost and time.
type Metrics struct {
	// Quantity says what counts as one delivery of the moment.
	Quantity string `yaml:"quantity,omitempty" json:"quantity,omitempty"`
	// Quality names the survey (by id) that measures the moment's quality.
	Quality QualityMetric `yaml:"quality,omitempty" json:"quality,omitempty"`
	// Cost is the effort of one delivery in minutes.
	Cost CostMetric `yaml:"cost,omitempty" json:"cost,omitempty"`
	// Time names the two events that bound the moment's duration.
	Time TimeMetric `yaml:"time,omitempty" json:"time,omitempty"`
}

// QualityMetric names the survey whose answers measure a moment's quality.
type QualityMetric struct {
	Survey string `yaml:"survey,omitempty" json:"survey,omitempty"`
}

// CostMetric is the effort of one delivery of a moment.
type CostMetric struct {
	Minutes int `yaml:"minutes,omitempty" json:"minutes,omitempty"`
}

// TimeMetric names the events that start and end the clock of a moment.
type TimeMetric struct {
	From string `yaml:"from,omitempty" json:"from,omitempty"`
	To   string `yaml:"to,omitempty" json:"to,omitempty"`
}

// Trigger categories.
const (
	CategoryLifecycle     = "lifecycle"
	CategoryCustomerEvent = "customer_event"
	CategoryScheduled     = "scheduled"
	CategoryCSM           = "csm"
	CategoryVendor        = "vendor"
)

// Trigger says what detects a moment.
type Trigger struct {
	Category string `yaml:"category" json:"category"`
	// Events are the event names the trigger listens to (track/page names);
	// the trigger index uses them so only listening moments are evaluated.
	Events []string `yaml:"events,omitempty,flow" json:"events,omitempty"`
	// Signal is a built-in derived signal: usage_drop, sponsor_change,
	// low_nps, quadrant_drop.
	Signal string `yaml:"signal,omitempty" json:"signal,omitempty"`
	// Trait and Enter/Leave describe a lifecycle change: the account's trait
	// (default "lifecycle_stage") entering or leaving a value.
	Trait string `yaml:"trait,omitempty" json:"trait,omitempty"`
	Enter string `yaml:"enter,omitempty" json:"enter,omitempty"`
	Leave string `yaml:"leave,omitempty" json:"leave,omitempty"`
	// When is a CEL condition over event, account, contact, health and now.
	When string `yaml:"when,omitempty" json:"when,omitempty"`
	// Schedule is for the scheduled category.
	Schedule *Schedule `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	// Segment is for the vendor category: a CEL condition over account
	// choosing the accounts a broadcast (a release, a webinar) reaches;
	// empty means every account.
	Segment string `yaml:"segment,omitempty" json:"segment,omitempty"`
}

// Schedule fires a scheduled trigger relative to a date trait
// ("renewal_date" with offset "-90d") or on a calendar rule
// ("monthly", "quarterly" or a five-field cron expression) per account.
type Schedule struct {
	RelativeTo string `yaml:"relative_to,omitempty" json:"relative_to,omitempty"`
	Offset     string `yaml:"offset,omitempty" json:"offset,omitempty"`
	Every      string `yaml:"every,omitempty" json:"every,omitempty"`
}

// Step is one playbook step. Kind selects its behaviour; the fields a kind
// does not use must be empty. Steps run in order; then, else, on_timeout and
// next jump forward to a step by id, or to "end" to finish the run.
type Step struct {
	ID   string `yaml:"id,omitempty" json:"id,omitempty"`
	Kind string `yaml:"kind" json:"kind"`
	// Next is the step to go to after this one (a later step's id, or
	// "end"); empty means the following step.
	Next string `yaml:"next,omitempty" json:"next,omitempty"`
	// task
	Title       string `yaml:"title,omitempty" json:"title,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Assignee    string `yaml:"assignee,omitempty" json:"assignee,omitempty"`
	Due         string `yaml:"due,omitempty" json:"due,omitempty"`
	// email and survey
	Template string `yaml:"template,omitempty" json:"template,omitempty"`
	To       string `yaml:"to,omitempty" json:"to,omitempty"`
	// webhook
	URL    string `yaml:"url,omitempty" json:"url,omitempty"`
	Format string `yaml:"format,omitempty" json:"format,omitempty"`
	// wait
	Duration  string `yaml:"duration,omitempty" json:"duration,omitempty"`
	Until     string `yaml:"until,omitempty" json:"until,omitempty"`
	Timeout   string `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	OnTimeout string `yaml:"on_timeout,omitempty" json:"on_timeout,omitempty"`
	// branch
	When string `yaml:"when,omitempty" json:"when,omitempty"`
	Then string `yaml:"then,omitempty" json:"then,omitempty"`
	Else string `yaml:"else,omitempty" json:"else,omitempty"`
	// escalate
	Severity string `yaml:"severity,omitempty" json:"severity,omitempty"`
	Notify   string `yaml:"notify,omitempty" json:"notify,omitempty"`
}

// SuccessPath is a happy path of milestones. A map has at most five.
type SuccessPath struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// When is a CEL condition over account choosing which accounts follow
	// the path; the first matching path in map order wins.
	When       string      `yaml:"when,omitempty" json:"when,omitempty"`
	Milestones []Milestone `yaml:"milestones" json:"milestones"`
}

// Milestone is reached when an event of one of Events arrives, or when When
// holds for the account.
type Milestone struct {
	ID         string   `yaml:"id" json:"id"`
	Name       string   `yaml:"name" json:"name"`
	Events     []string `yaml:"events,omitempty,flow" json:"events,omitempty"`
	When       string   `yaml:"when,omitempty" json:"when,omitempty"`
	TargetDays int      `yaml:"target_days" json:"target_days"`
	// Value marks the milestone whose reaching is the customer's first value
	// (time to value); Implemented marks implementation completion.
	Value       bool `yaml:"value,omitempty" json:"value,omitempty"`
	Implemented bool `yaml:"implemented,omitempty" json:"implemented,omitempty"`
}

// HealthModel is the behavioural and emotional health model.
type HealthModel struct {
	Behavioural BehaviouralModel `yaml:"behavioural,omitempty" json:"behavioural,omitempty"`
	Emotional   EmotionalModel   `yaml:"emotional,omitempty" json:"emotional,omitempty"`
	Quadrant    QuadrantModel    `yaml:"quadrant,omitempty" json:"quadrant,omitempty"`
	UsageDrop   UsageDropModel   `yaml:"usage_drop,omitempty" json:"usage_drop,omitempty"`
	// Combined is the weight of the behavioural score in the combined score
	// (0–1); the emotional score gets the rest. Default 0.5.
	Combined float64 `yaml:"combined,omitempty" json:"combined,omitempty"`
	// Drivers tunes the drivers report.
	Drivers DriversModel `yaml:"drivers,omitempty" json:"drivers,omitempty"`
}

// DriversModel tunes the drivers report.
type DriversModel struct {
	// ExcludeTraits names account traits the drivers report never tests:
	// traits that restate the outcome in other words (a churn reason, a
	// segment assigned after the fact), or a test data set's answer key.
	ExcludeTraits []string `yaml:"exclude_traits,omitempty,flow" json:"exclude_traits,omitempty"`
}

// BehaviouralModel weighs recency, frequency, breadth, depth and progress.
type BehaviouralModel struct {
	Weights     BehaviouralWeights `yaml:"weights,omitempty" json:"weights,omitempty"`
	WindowDays  int                `yaml:"window_days,omitempty" json:"window_days,omitempty"`
	KeyFeatures []string           `yaml:"key_features,omitempty,flow" json:"key_features,omitempty"`
	// Recency scores 100 up to FullDays since the last activity and falls
	// linearly to 0 at ZeroDays.
	RecencyFullDays int `yaml:"recency_full_days,omitempty" json:"recency_full_days,omitempty"`
	RecencyZeroDays int `yaml:"recency_zero_days,omitempty" json:"recency_zero_days,omitempty"`
	// SeatsTrait names the account trait holding licensed seats (default "seats").
	SeatsTrait string `yaml:"seats_trait,omitempty" json:"seats_trait,omitempty"`
}

// BehaviouralWeights weigh the parts of the behavioural score. When all are
// zero (the block is left out) the defaults apply; otherwise a weight left
// out counts as zero.
type BehaviouralWeights struct {
	Recency   float64 `yaml:"recency" json:"recency"`
	Frequency float64 `yaml:"frequency" json:"frequency"`
	Breadth   float64 `yaml:"breadth" json:"breadth"`
	Depth     float64 `yaml:"depth" json:"depth"`
	Progress  float64 `yaml:"progress" json:"progress"`
	// Intensity, Trend, Relationship and SupportLoad weigh the components
	// that keep their information across the range (see docs/health.md).
	Intensity    float64 `yaml:"intensity,omitempty" json:"intensity,omitempty"`
	Trend        float64 `yaml:"trend,omitempty" json:"trend,omitempty"`
	Relationship float64 `yaml:"relationship,omitempty" json:"relationship,omitempty"`
	SupportLoad  float64 `yaml:"support_load,omitempty" json:"support_load,omitempty"`
}

// EmotionalModel weighs NPS, CSAT, CES and support sentiment.
type EmotionalModel struct {
	Weights      EmotionalWeights   `yaml:"weights,omitempty" json:"weights,omitempty"`
	HalfLifeDays int                `yaml:"half_life_days,omitempty" json:"half_life_days,omitempty"`
	RoleWeights  map[string]float64 `yaml:"role_weights,omitempty" json:"role_weights,omitempty"`
}

// EmotionalWeights weigh the parts of the emotional score, with the same
// rule for defaults as BehaviouralWeights.
type EmotionalWeights struct {
	NPS     float64 `yaml:"nps" json:"nps"`
	CSAT    float64 `yaml:"csat" json:"csat"`
	CES     float64 `yaml:"ces" json:"ces"`
	Support float64 `yaml:"support" json:"support"`
}

// QuadrantModel sets the thresholds (0–100) that split behaviour and emotion
// into high and low, and the recommended play per quadrant (moment ids or
// free text).
type QuadrantModel struct {
	Behavioural float64           `yaml:"behavioural,omitempty" json:"behavioural,omitempty"`
	Emotional   float64           `yaml:"emotional,omitempty" json:"emotional,omitempty"`
	Plays       map[string]string `yaml:"plays,omitempty" json:"plays,omitempty"`
}

// UsageDropModel is the built-in usage-drop signal: activity in the last
// WindowDays below Ratio times the previous WindowDays.
type UsageDropModel struct {
	WindowDays int     `yaml:"window_days,omitempty" json:"window_days,omitempty"`
	Ratio      float64 `yaml:"ratio,omitempty" json:"ratio,omitempty"`
}

// Email is an email template rendered with account and contact data
// (Go text/template syntax).
type Email struct {
	ID      string `yaml:"id" json:"id"`
	Subject string `yaml:"subject" json:"subject"`
	Body    string `yaml:"body" json:"body"`
}

// Survey is a survey template: kind nps (0–10), csat (1–5) or ces (1–7).
type Survey struct {
	ID       string `yaml:"id" json:"id"`
	Kind     string `yaml:"kind" json:"kind"`
	Question string `yaml:"question" json:"question"`
	// FollowUp is the open question under the scale ("What is the main
	// reason for your score?"); empty uses the kind's default.
	FollowUp string `yaml:"follow_up,omitempty" json:"follow_up,omitempty"`
	// Translations are the survey's texts in other languages, chosen by
	// the contact's language trait.
	Translations []SurveyTranslation `yaml:"translations,omitempty" json:"translations,omitempty"`
}

// SurveyTranslation is a survey's question and follow-up in one language.
type SurveyTranslation struct {
	// Language is a language tag such as "de" or "pt-BR".
	Language string `yaml:"language" json:"language"`
	Question string `yaml:"question" json:"question"`
	FollowUp string `yaml:"follow_up,omitempty" json:"follow_up,omitempty"`
}

// SurveyRules is the survey fatigue budget: how often one person and one
// account's people may be asked, how long a link lives and when the one
// reminder goes. Durations use the map's duration form ("30d", "72h").
// Left out, each setting takes its default (DefaultSurveyRules).
type SurveyRules struct {
	// ContactEvery is the least time between two surveys to one contact,
	// across all moments (default 30d).
	ContactEvery string `yaml:"contact_every,omitempty" json:"contact_every,omitempty"`
	// AccountLimit is how many surveys an account's people receive at most
	// within AccountEvery (default 3 in 30d).
	AccountLimit int    `yaml:"account_limit,omitempty" json:"account_limit,omitempty"`
	AccountEvery string `yaml:"account_every,omitempty" json:"account_every,omitempty"`
	// LinkExpires is how long a survey link can be answered (default 30d).
	LinkExpires string `yaml:"link_expires,omitempty" json:"link_expires,omitempty"`
	// ReminderAfter is when the one reminder goes to those who have not
	// answered (default 3d); "never" sends none.
	ReminderAfter string `yaml:"reminder_after,omitempty" json:"reminder_after,omitempty"`
}
