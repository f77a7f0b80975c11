package survey

import (
	"fmt"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

// Rules are the map's survey_rules, parsed, with defaults filled.
type Rules struct {
	ContactEvery journey.Duration
	AccountLimit int
	AccountEvery journey.Duration
	LinkExpires  journey.Duration
	// ReminderAfter is nil when no reminder goes.
	ReminderAfter *journey.Duration
}

// RulesOf parses a map's survey_rules (lint has checked them; an error
// here means a map that skipped lint).
func RulesOf(r journey.SurveyRules) (Rules, error) {
	r = r.WithDefaults()
	var out Rules
	var err error
	parse := func(name, v string) journey.Duration {
		if err != nil {
			return journey.Duration{}
		}
		var d journey.Duration
		if d, err = journey.ParseDuration(v); err == nil && (d.Negative() || d.IsZero()) {
			err = fmt.Errorf("survey_rules.%s %q must be longer than zero", name, v)
		} else if err != nil {
			err = fmt.Errorf("survey_rules.%s: %w", name, err)
		}
		return d
	}
	out.ContactEvery = parse("contact_every", r.ContactEvery)
	out.AccountEvery = parse("account_every", r.AccountEvery)
	out.LinkExpires = parse("link_expires", r.LinkExpires)
	if r.ReminderAfter != journey.NoReminder {
		d := parse("reminder_after", r.ReminderAfter)
		out.ReminderAfter = &d
	}
	out.AccountLimit = r.AccountLimit
	return out, err
}

// since returns the start of a window of length d ending at now.
func since(d journey.Duration, now time.Time) time.Time { return now.Add(-d.Approx()) }

// candidate is the send the budget is asked about.
type candidate struct {
	Kind        string
	ContactName string
	AccountName string
}

// decide applies the fatigue budget to one send, given what the contact
// and the account's people received within the rules' windows:
//
//   - no survey during an open escalation on the account (a quiet period);
//   - at most one survey per contact per ContactEvery, across moments —
//     except that a relationship NPS outranks transactional CSAT and CES:
//     when the contact's only recent surveys are transactional ones still
//     unanswered, the NPS goes and replaces them (their links then say the
//     survey was replaced);
//   - at most AccountLimit surveys to the account's people per
//     AccountEvery.
//
// The reason of a skip names the person and the numbers, for the run's
// history.
func (r Rules) decide(c candidate, h store.SurveyHistory, now time.Time) store.SurveyDecision {
	if h.OpenEscalation {
		return store.SurveyDecision{Skip: fmt.Sprintf("quiet period: %s has an open escalation; no survey until it is resolved", c.AccountName)}
	}
	var d store.SurveyDecision
	withdrawn := map[string]bool{}
	if len(h.Contact) > 0 {
		replaceable := c.Kind == KindNPS
		for _, x := range h.Contact {
			if x.Kind == KindNPS || x.Score != nil || x.Status != store.SurveySent {
				replaceable = false
			}
		}
		if !replaceable {
			last := h.Contact[0]
			return store.SurveyDecision{Skip: fmt.Sprintf("fatigue: %s was surveyed %s (%s); at most one survey per person every %s",
				c.ContactName, ago(last.CreatedAt, now), last.SurveyID, r.ContactEvery)}
		}
		for _, x := range h.Contact {
			d.Withdraw = append(d.Withdraw, x.ID)
			withdrawn[x.ID] = true
		}
	}
	n := 0
	for _, x := range h.Account {
		if !withdrawn[x.ID] {
			n++
		}
	}
	if n >= r.AccountLimit {
		return store.SurveyDecision{Skip: fmt.Sprintf("fatigue: %s's people were surveyed %d times in the last %s; the limit is %d",
			c.AccountName, n, r.AccountEvery, r.AccountLimit)}
	}
	return d
}

// ago says how long before now t was, in days.
func ago(t, now time.Time) string {
	days := int(now.Sub(t).Hours() / 24)
	switch {
	case days <= 0:
		return "today"
	case days == 1:
		return "1 day ago"
	}
	return fmt.Sprintf("%d days ago", days)
}
