package journey

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/moments-cs/moments/internal/vocab"
)

// Built-in playbook step kinds.
const (
	StepTask     = "task"
	StepEmail    = "email"
	StepWebhook  = "webhook"
	StepWait     = "wait"
	StepBranch   = "branch"
	StepEscalate = "escalate"
	// StepSurvey is designed but not yet run by this version; it lints as
	// "not available yet" until a package registers it.
	StepSurvey = "survey"
)

// StepValidator checks one playbook step of its kind and returns its
// problems as messages for a CS operations lead. A message that starts with
// one of the step's keys ("due must be a duration") is reported at that
// key's place in the file; any other at the step. Checks that need the rest
// of the map — templates, step ids, teams, durations, conditions — are the
// linter's, so a validator looks only at the step.
type StepValidator func(Step) []string

var stepKinds = struct {
	sync.RWMutex
	m map[string]StepValidator
}{m: map[string]StepValidator{}}

// plannedStepKinds are kinds the design names that this version cannot run
// yet, with what to tell a map's author.
var plannedStepKinds = map[string]string{
	StepSurvey: "survey steps are not available yet in this version of Moments; remove the step, or send the survey link in an email step for now",
}

// RegisterStepKind adds a playbook step kind, such as "survey", with the
// validator the linter runs on each step of that kind. The package that
// runs the kind registers it from an init function. Registering a name again
// replaces its validator. A nil validator accepts every step.
func RegisterStepKind(name string, validate func(Step) []string) {
	if validate == nil {
		validate = func(Step) []string { return nil }
	}
	stepKinds.Lock()
	defer stepKinds.Unlock()
	stepKinds.m[name] = validate
}

// StepKinds returns the registered step kinds, sorted.
func StepKinds() []string {
	stepKinds.RLock()
	defer stepKinds.RUnlock()
	kinds := make([]string, 0, len(stepKinds.m))
	for k := range stepKinds.m {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

func stepValidator(kind string) (StepValidator, bool) {
	stepKinds.RLock()
	defer stepKinds.RUnlock()
	v, ok := stepKinds.m[kind]
	return v, ok
}

func init() {
	RegisterStepKind(StepTask, validateTask)
	RegisterStepKind(StepEmail, validateEmail)
	RegisterStepKind(StepWebhook, validateWebhook)
	RegisterStepKind(StepWait, validateWait)
	RegisterStepKind(StepBranch, validateBranch)
	RegisterStepKind(StepEscalate, validateEscalate)
}

// commonStepKeys may appear on a step of any kind: when guards the step
// (the step is skipped unless it holds), next jumps after it, description
// documents it.
var commonStepKeys = []string{"id", "kind", "next", "when", "description"}

// StepEnd is the jump target that finishes a run.
const StepEnd = "end"

var stepKeys = fieldsOf(reflect.TypeFor[Step]())

// UnusedStepFields returns a message for every key set on s that its kind
// does not use: neither in used nor one of id, kind, next, when and
// description.
// Validators of new kinds call it so that a misplaced key never passes
// silently.
func UnusedStepFields(s Step, used ...string) []string {
	v := reflect.ValueOf(s)
	var msgs []string
	for _, key := range stepKeys.keys {
		if slices.Contains(commonStepKeys, key) || slices.Contains(used, key) {
			continue
		}
		if !v.Field(stepKeys.index[key]).IsZero() {
			msgs = append(msgs, fmt.Sprintf("%s is not used by %s steps; remove it", key, s.Kind))
		}
	}
	return msgs
}

func validateTask(s Step) []string {
	msgs := UnusedStepFields(s, "title", "assignee", "due")
	if strings.TrimSpace(s.Title) == "" {
		msgs = append(msgs, "title is required for a task step: say what the person should do")
	}
	return msgs
}

// EmailRecipients are the values an email step's "to" accepts besides an
// email address: the contact of the triggering event, the account's
// contacts of a role, all its contacts, or the account's CSM.
var EmailRecipients = []string{"contact", vocab.RoleSponsor, vocab.RoleChampion, vocab.RoleAdmin, vocab.RoleUser, "all", "csm"}

func validateEmail(s Step) []string {
	msgs := UnusedStepFields(s, "template", "to")
	if s.Template == "" {
		msgs = append(msgs, "template is required for an email step: the id of one of the map's emails")
	}
	if s.To != "" && !slices.Contains(EmailRecipients, s.To) && !isEmailAddress(s.To) {
		msgs = append(msgs, fmt.Sprintf("to %q is not a recipient%s", s.To,
			hint(s.To, EmailRecipients, "use one of "+strings.Join(EmailRecipients, ", ")+", or an email address")))
	}
	return msgs
}

// WebhookFormats are the bodies a webhook step can send: Moments' JSON
// event, or a Slack-compatible message.
var WebhookFormats = []string{"json", "slack"}

func validateWebhook(s Step) []string {
	msgs := UnusedStepFields(s, "url", "format")
	if s.URL == "" {
		msgs = append(msgs, "url is required for a webhook step: the https:// address to call")
	} else if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		msgs = append(msgs, fmt.Sprintf("url %q must be a full http:// or https:// address", s.URL))
	}
	if s.Format != "" && !slices.Contains(WebhookFormats, s.Format) {
		msgs = append(msgs, fmt.Sprintf("format %q is not known%s", s.Format, hint(s.Format, WebhookFormats, "use json or slack")))
	}
	return msgs
}

func validateWait(s Step) []string {
	msgs := UnusedStepFields(s, "duration", "until", "timeout", "on_timeout")
	switch {
	case s.Duration == "" && s.Until == "":
		msgs = append(msgs, "duration or until is required for a wait step: how long to wait, or the event to wait for")
	case s.Duration != "" && s.Until != "":
		msgs = append(msgs, "duration and until cannot both be set; to wait for an event at most some time, use until with timeout")
	}
	if s.Timeout != "" && s.Until == "" {
		msgs = append(msgs, "timeout is only used with until (waiting for an event)")
	}
	if s.OnTimeout != "" && s.Timeout == "" {
		msgs = append(msgs, "on_timeout needs a timeout: how long to wait for the event before jumping")
	}
	return msgs
}

func validateBranch(s Step) []string {
	msgs := UnusedStepFields(s, "then", "else")
	if s.When == "" {
		msgs = append(msgs, "when is required for a branch step: the condition that chooses then or else")
	}
	if s.Then == "" && s.Else == "" {
		msgs = append(msgs, "then is required for a branch step: the id of the step to go to when the condition holds")
	}
	return msgs
}

// Severities are the levels of an escalate step, from least to most urgent.
var Severities = []string{"low", "medium", "high", "critical"}

func validateEscalate(s Step) []string {
	msgs := UnusedStepFields(s, "severity", "notify", "title")
	if s.Severity != "" && !slices.Contains(Severities, s.Severity) {
		msgs = append(msgs, fmt.Sprintf("severity %q is not known%s", s.Severity,
			hint(s.Severity, Severities, "use low, medium, high or critical")))
	}
	return msgs
}

func isEmailAddress(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t,<>") && strings.Contains(s[at:], ".")
}
