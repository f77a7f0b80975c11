// Package vocab holds the names Moments itself reads or writes: the event
// names it reserves, the health quadrants, the contact roles it weighs, the
// derived signals, the survey kinds, the task states and the lifecycle
// stages it checks. They live here, in a package that imports nothing of
// ours, so the linter, the engines, the store and the demo all spell them
// the same way.
//
// Names a customer chooses (their own events, traits and teams) do not
// belong here; only names whose meaning Moments's code depends on.
package vocab

// Reserved event names: events with a meaning of their own to Moments.
// Every other track, page or screen event counts as product activity.
const (
	// EventSurveyResponded carries a survey answer: the properties kind
	// (nps, csat or ces) and score, and optionally email.
	EventSurveyResponded = "Survey Responded"
	// EventTicketOpened, EventTicketEscalated and EventTicketReopened are
	// support desk events; they lower the emotional score.
	EventTicketOpened    = "Ticket Opened"
	EventTicketEscalated = "Ticket Escalated"
	EventTicketReopened  = "Ticket Reopened"
	// EventTicketSolved closes a support ticket; it carries no score.
	EventTicketSolved = "Ticket Solved"
	// EventMilestoneReached records that an account reached a success path
	// milestone (property milestone_id), so a full recompute from stored
	// events finds it again.
	EventMilestoneReached = "Milestone Reached"
	// EventExecutiveMeetingHeld records a meeting with an executive of the
	// account (the event's user): health's relationship component counts
	// it as contact with the sponsor. It is product activity too.
	EventExecutiveMeetingHeld = "Executive Meeting Held"
)

// Survey kinds, the kind property of a Survey Responded event: NPS 0–10,
// CSAT 1–5, CES 1–7.
const (
	SurveyNPS  = "nps"
	SurveyCSAT = "csat"
	SurveyCES  = "ces"
)

// SurveyKinds lists the survey kinds in the order help text names them.
var SurveyKinds = []string{SurveyNPS, SurveyCSAT, SurveyCES}

// Health quadrants: high or low behaviour × emotion. QuadrantUnknown means
// the emotion is unknown, so the account is judged on behaviour only.
const (
	QuadrantChampion   = "champion"
	QuadrantCaptive    = "captive"
	QuadrantDormantFan = "dormant_fan"
	QuadrantAtRisk     = "at_risk"
	QuadrantUnknown    = "unknown"
)

// Quadrants lists the four quadrants a map may name (unknown is not one a
// play can be attached to), from healthiest to least healthy.
var Quadrants = []string{QuadrantChampion, QuadrantCaptive, QuadrantDormantFan, QuadrantAtRisk}

// Contact roles: the role trait of a contact. Sponsors and champions are
// the key roles whose change raises sponsor_change; survey answers are
// weighed by role.
const (
	RoleSponsor  = "sponsor"
	RoleChampion = "champion"
	RoleAdmin    = "admin"
	RoleUser     = "user"
)

// KeyRoles are the contact roles whose change is a sponsor_change.
var KeyRoles = []string{RoleSponsor, RoleChampion}

// Built-in derived signals a customer_event trigger can listen to.
const (
	SignalUsageDrop     = "usage_drop"
	SignalSponsorChange = "sponsor_change"
	SignalLowNPS        = "low_nps"
	SignalQuadrantDrop  = "quadrant_drop"
)

// Signals lists the built-in signals.
var Signals = []string{SignalUsageDrop, SignalSponsorChange, SignalLowNPS, SignalQuadrantDrop}

// Task states. Open, done and snoozed are stored; overdue and escalated
// are derived when a task is shown (overdue past its due date, escalated
// when its escalation level is above zero).
const (
	TaskOpen      = "open"
	TaskOverdue   = "overdue"
	TaskEscalated = "escalated"
	TaskDone      = "done"
	TaskSnoozed   = "snoozed"
)

// TaskStates lists the task states a filter may ask for.
var TaskStates = []string{TaskOpen, TaskOverdue, TaskEscalated, TaskDone, TaskSnoozed}

// Lifecycle stages Moments checks in the account trait lifecycle_stage.
// Other stages are the customer's own; churned is the one Moments treats
// specially (a churned account is left out of health reports).
const (
	StageOnboarding = "onboarding"
	StageAdoption   = "adoption"
	StageRenewal    = "renewal"
	StageChurned    = "churned"
)
