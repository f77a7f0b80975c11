package playbook

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/notify"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
)

// ---- task ----

// runTask creates the task, exactly once: the insert commits with the
// step's outcome, and tasks are unique per (run, step).
func runTask(ctx context.Context, sc *StepContext) (Outcome, error) {
	now := sc.Now()
	team, assignee, err := sc.assignee(ctx, sc.Step.Assignee)
	if err != nil {
		return Outcome{}, err
	}
	var due *time.Time
	switch {
	case sc.Step.Due != "":
		d, err := journey.ParseDuration(sc.Step.Due)
		if err != nil {
			return Outcome{}, Permanentf("due %q: %v", sc.Step.Due, err)
		}
		t := d.AddTo(now)
		due = &t
	case sc.Moment.SLA != "":
		// Without a due date of its own, the task is due when the moment's
		// SLA runs out, counted from the start of the run.
		d, err := journey.ParseDuration(sc.Moment.SLA)
		if err != nil {
			return Outcome{}, Permanentf("the moment's sla %q: %v", sc.Moment.SLA, err)
		}
		t := d.AddTo(sc.Run.CreatedAt)
		due = &t
	}
	t := store.Task{ID: uuid.NewString(), RunID: sc.Run.ID, StepIndex: sc.Index, AccountID: sc.Run.AccountID,
		MomentID: sc.Run.MomentID, Title: sc.Step.Title, Description: sc.Step.Description, Team: team,
		Assignee: assignee, DueAt: due, CreatedAt: now}
	summary := fmt.Sprintf("task %q for %s", t.Title, assignee)
	if due != nil {
		summary += ", due " + due.Format(time.RFC3339)
	}
	return Outcome{Summary: summary, Writes: func(ctx context.Context, tx *sql.Tx) error {
		_, err := sc.Store().InsertTaskTx(ctx, tx, t)
		return err
	}}, nil
}

// assignee resolves a task's assignee: owner (or empty) is the moment's
// owner team, csm the account's owner (the owner team when the account has
// none), a team id that team, anything else (an address) itself. team is
// what the map asked for, assignee who holds the task.
func (sc *StepContext) assignee(ctx context.Context, who string) (team, assignee string, err error) {
	switch who {
	case "", "owner":
		return sc.Moment.Owner, sc.Moment.Owner, nil
	case "csm":
		a, err := sc.Account(ctx)
		if err != nil {
			return "", "", err
		}
		if a.Owner == "" {
			return "csm", sc.Moment.Owner, nil
		}
		return "csm", a.Owner, nil
	}
	return who, who, nil
}

// ---- email ----

type recipient struct {
	Name, Email string
	Contact     map[string]any
}

// recipients resolves an email step's `to`.
func (sc *StepContext) recipients(ctx context.Context, to string) ([]recipient, error) {
	switch to {
	case "", "contact":
		c, ok, err := sc.Contact(ctx)
		// Only a contact of the run's account is emailed.
		if err != nil || !ok || c.Email == "" || (sc.Run.AccountID != "" && c.AccountID != sc.Run.AccountID) {
			return nil, err
		}
		return []recipient{{Name: contactName(c), Email: c.Email, Contact: ContactVars(c)}}, nil
	case "csm":
		a, err := sc.Account(ctx)
		if err != nil || !isAddress(a.Owner) {
			return nil, err
		}
		return []recipient{{Email: a.Owner, Contact: map[string]any{"email": a.Owner}}}, nil
	}
	if isAddress(to) {
		return []recipient{{Email: to, Contact: map[string]any{"email": to}}}, nil
	}
	contacts, err := sc.Store().AccountContacts(ctx, sc.Run.AccountID)
	if err != nil {
		return nil, err
	}
	var out []recipient
	for _, c := range contacts {
		if c.Email != "" && (to == "all" || strings.EqualFold(c.Role, to)) {
			out = append(out, recipient{Name: contactName(c), Email: c.Email, Contact: ContactVars(c)})
		}
	}
	return out, nil
}

func contactName(c store.Contact) string {
	for _, k := range []string{"name", "first_name"} {
		if v, ok := c.Traits[k].(string); ok && v != "" {
			if k == "first_name" {
				if l, ok := c.Traits["last_name"].(string); ok && l != "" {
					return v + " " + l
				}
			}
			return v
		}
	}
	return ""
}

func isAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

// messageID is the stable Message-ID of one step's email to one recipient:
// the same on every attempt and after a restart.
func messageID(runID string, index int, email string) string {
	h := sha256.Sum256([]byte(strings.ToLower(email)))
	return fmt.Sprintf("run-%s.step-%d.%s", runID, index+1, hex.EncodeToString(h[:5]))
}

// errNoSMTP is the retryable failure of an email step without SMTP.
var errNoSMTP = errors.New("email is not configured, so nothing was sent: set the SMTP server (MOMENTS_SMTP_HOST, MOMENTS_SMTP_FROM, …) and restart Moments; the step is retried automatically, or retry it from the run")

// runEmail renders the template for each recipient and sends it once: a
// recipient already recorded as sent is skipped on a later attempt, and a
// send repeated after a crash (sent but not yet recorded) carries the same
// Message-ID.
func runEmail(ctx context.Context, sc *StepContext) (Outcome, error) {
	var tmpl *journey.Email
	for i := range sc.Map.Emails {
		if sc.Map.Emails[i].ID == sc.Step.Template {
			tmpl = &sc.Map.Emails[i]
		}
	}
	if tmpl == nil {
		return Outcome{}, Permanentf("email template %q is not in journey map version %d", sc.Step.Template, sc.Run.MapVersion)
	}
	to, err := sc.recipients(ctx, sc.Step.To)
	if err != nil {
		return Outcome{}, err
	}
	if len(to) == 0 {
		who := cmpOr(sc.Step.To, "contact")
		return Outcome{Status: store.StepSkipped, Summary: fmt.Sprintf("no email sent: the account has no %s with an email address", who)}, nil
	}
	if sc.Mailer() == nil {
		return Outcome{}, errNoSMTP
	}
	a, err := sc.Account(ctx)
	if err != nil {
		return Outcome{}, err
	}
	csm := map[string]any{"email": a.Owner, "name": a.Owner}
	var sent []string
	for _, r := range to {
		key := fmt.Sprintf("email:%s:%d:%s", sc.Run.ID, sc.Index, strings.ToLower(r.Email))
		if prev, err := sc.Store().SendByKey(ctx, key); err == nil && prev.Status == store.SendSent {
			sent = append(sent, r.Email)
			continue
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Outcome{}, err
		}
		if err := sc.checkEmailLimit(ctx); err != nil {
			return Outcome{}, err
		}
		data := journey.EmailData{Account: AccountVars(a), Contact: r.Contact, CSM: csm,
			Moment: map[string]any{"id": sc.Moment.ID, "name": sc.Moment.Name}}
		subject, body, err := renderEmail(tmpl, data)
		if err != nil {
			return Outcome{}, Permanent(err)
		}
		msg := notify.Email{To: notify.Address{Name: r.Name, Email: r.Email}, Subject: subject, Text: body,
			MessageID: messageID(sc.Run.ID, sc.Index, r.Email),
			Headers:   map[string]string{"X-Moments-Run": sc.Run.ID, "X-Moments-Moment": sc.Moment.ID}}
		if isAddress(a.Owner) {
			msg.ReplyTo = notify.Address{Email: a.Owner}
		}
		rec := store.Send{ID: uuid.NewString(), Key: key, RunID: sc.Run.ID, StepIndex: sc.Index, AccountID: sc.Run.AccountID,
			Kind: "email", Recipient: r.Email, Subject: subject, MessageID: "<" + msg.MessageID + ">", CreatedAt: sc.Now()}
		res, err := sc.Mailer().Send(ctx, msg)
		if err != nil {
			rec.Status, rec.Error = store.SendFailed, err.Error()
			if rerr := sc.Store().RecordSend(ctx, rec); rerr != nil {
				return Outcome{}, errors.Join(err, rerr)
			}
			var ee *notify.EmailError
			if errors.As(err, &ee) && !ee.Temporary {
				return Outcome{}, Permanent(err)
			}
			return Outcome{}, err
		}
		at := sc.Now()
		rec.Status, rec.Detail, rec.MessageID, rec.SentAt = store.SendSent, res.ServerReply, res.MessageID, &at
		if err := sc.Store().RecordSend(ctx, rec); err != nil {
			return Outcome{}, err
		}
		sent = append(sent, r.Email)
	}
	return Outcome{Summary: fmt.Sprintf("emailed %q to %s", tmpl.ID, strings.Join(sent, ", "))}, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// renderEmail renders a map's email template with the functions the linter
// checks them with (journey.EmailFuncs).
func renderEmail(t *journey.Email, data journey.EmailData) (subject, body string, err error) {
	render := func(name, text string, limit int) (string, error) {
		tp, err := journey.ParseEmailTemplate(name, text)
		if err != nil {
			return "", fmt.Errorf("email %q %s does not parse: %w", t.ID, name, err)
		}
		var b strings.Builder
		if err := tp.Execute(&b, data); err != nil {
			return "", fmt.Errorf("email %q %s cannot be rendered: %w", t.ID, name, err)
		}
		if b.Len() > limit {
			return "", fmt.Errorf("email %q %s is longer than %d bytes once rendered", t.ID, name, limit)
		}
		// A missing trait of a map prints "<no value>"; no customer should see it.
		return strings.ReplaceAll(b.String(), "<no value>", ""), nil
	}
	if subject, err = render("subject", t.Subject, notify.MaxSubjectBytes); err != nil {
		return "", "", err
	}
	if body, err = render("body", t.Body, notify.MaxBodyBytes); err != nil {
		return "", "", err
	}
	return strings.Join(strings.Fields(subject), " "), body, nil
}

// ---- webhook ----

// WebhookPayload is the JSON body of a webhook step (format json).
type WebhookPayload struct {
	Type       string         `json:"type"`
	RunID      string         `json:"run_id"`
	Step       string         `json:"step"`
	Moment     map[string]any `json:"moment"`
	Account    map[string]any `json:"account"`
	Contact    map[string]any `json:"contact,omitempty"`
	Trigger    string         `json:"trigger"`
	Occurrence string         `json:"occurrence"`
	SentAt     time.Time      `json:"sent_at"`
}

// runWebhook posts the step's webhook with the idempotency key
// "run-<run id>-step-<n>", the same on every attempt and after a restart,
// so a receiver can drop repeats. Delivery is at least once.
func runWebhook(ctx context.Context, sc *StepContext) (Outcome, error) {
	key := fmt.Sprintf("webhook:%s:%d", sc.Run.ID, sc.Index)
	if prev, err := sc.Store().SendByKey(ctx, key); err == nil && prev.Status == store.SendSent {
		return Outcome{Summary: "webhook already delivered to " + prev.Recipient}, nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Outcome{}, err
	}
	a, err := sc.Account(ctx)
	if err != nil {
		return Outcome{}, err
	}
	w := notify.Webhook{URL: sc.Step.URL, Secret: sc.WebhookSecret(), Format: sc.Step.Format}
	idem := fmt.Sprintf("run-%s-step-%d", sc.Run.ID, sc.Index+1)
	var payload any
	if sc.Step.Format == notify.FormatSlack {
		name := a.Name
		if name == "" {
			name = a.ID
		}
		fields := map[string]string{"Account": name, "Moment": sc.Moment.Name, "Trigger": sc.Run.Category}
		if a.Owner != "" {
			fields["CSM"] = a.Owner
		}
		payload = notify.SlackPayload(sc.Moment.Name+": "+name, cmpOr(sc.Step.Description, sc.Moment.Description), fields, "")
	} else {
		p := WebhookPayload{Type: "moment.playbook_step", RunID: sc.Run.ID, Step: sc.Key,
			Moment:  map[string]any{"id": sc.Moment.ID, "name": sc.Moment.Name, "stage": sc.Moment.Stage},
			Account: AccountVars(a), Trigger: sc.Run.Category, Occurrence: sc.Run.Occurrence, SentAt: sc.Now()}
		if c, ok, err := sc.Contact(ctx); err != nil {
			return Outcome{}, err
		} else if ok {
			p.Contact = ContactVars(c)
		}
		payload = p
	}
	d, err := sc.Sender().Send(ctx, w, idem, payload)
	rec := store.Send{ID: uuid.NewString(), Key: key, RunID: sc.Run.ID, StepIndex: sc.Index, AccountID: sc.Run.AccountID,
		Kind: "webhook", Recipient: d.Host, MessageID: idem, CreatedAt: sc.Now(),
		Detail: fmt.Sprintf("HTTP %d after %d attempt(s)", d.StatusCode, d.Attempts)}
	if err != nil {
		rec.Status, rec.Error = store.SendFailed, err.Error()
		if rerr := sc.Store().RecordSend(ctx, rec); rerr != nil {
			return Outcome{}, errors.Join(err, rerr)
		}
		var we *notify.WebhookError
		if errors.As(err, &we) && we.Temporary {
			return Outcome{}, err
		}
		return Outcome{}, Permanent(err)
	}
	at := sc.Now()
	rec.Status, rec.SentAt = store.SendSent, &at
	if err := sc.Store().RecordSend(ctx, rec); err != nil {
		return Outcome{}, err
	}
	return Outcome{Summary: fmt.Sprintf("webhook delivered to %s (HTTP %d)", d.Host, d.StatusCode)}, nil
}

// ---- wait ----

// runWait pauses the run for a duration, or until an event named in until
// arrives for the account (at most timeout, then on_timeout).
func runWait(ctx context.Context, sc *StepContext) (Outcome, error) {
	s := sc.Step
	switch sc.Wake {
	case "elapsed":
		return Outcome{Summary: "waited " + s.Duration}, nil
	case "event":
		return Outcome{Summary: fmt.Sprintf("%q arrived (event %d)", s.Until, sc.Row.WakeEventID)}, nil
	case "timeout":
		return Outcome{Summary: fmt.Sprintf("%q did not arrive within %s", s.Until, s.Timeout), Next: s.OnTimeout}, nil
	}
	now := sc.Now()
	if s.Until == "" {
		d, err := journey.ParseDuration(s.Duration)
		if err != nil {
			return Outcome{}, Permanentf("duration %q: %v", s.Duration, err)
		}
		return Outcome{Status: store.StepWaiting, WaitUntil: d.AddTo(now), Summary: "waiting " + s.Duration}, nil
	}
	// The event may have arrived between the step becoming due and now.
	if id, err := sc.Store().LatestEventSinceTx(ctx, sc.Store().DB(), sc.Run.AccountID, s.Until, sc.Row.CreatedAt); err != nil {
		return Outcome{}, err
	} else if id != 0 {
		return Outcome{Summary: fmt.Sprintf("%q had already arrived (event %d)", s.Until, id)}, nil
	}
	out := Outcome{Status: store.StepWaiting, WaitEvent: s.Until, Summary: fmt.Sprintf("waiting for %q", s.Until)}
	if s.Timeout != "" {
		d, err := journey.ParseDuration(s.Timeout)
		if err != nil {
			return Outcome{}, Permanentf("timeout %q: %v", s.Timeout, err)
		}
		out.WaitUntil = d.AddTo(now)
		out.Summary += " for at most " + s.Timeout
	}
	return out, nil
}

// ---- branch ----

func runBranch(ctx context.Context, sc *StepContext) (Outcome, error) {
	ok, err := sc.Condition(ctx, sc.Step.When)
	if err != nil {
		return Outcome{}, err
	}
	if ok {
		return Outcome{Summary: "condition held: going to " + cmpOr(sc.Step.Then, "the following step"), Next: sc.Step.Then}, nil
	}
	return Outcome{Summary: "condition did not hold: going to " + cmpOr(sc.Step.Else, "the following step"), Next: sc.Step.Else}, nil
}

// ---- escalate ----

// runEscalate is service recovery. With a when condition (which the engine
// checked before calling), it escalates at once; without, it watches the
// run's latest task before it and escalates if the task is still not done
// at its due date.
func runEscalate(ctx context.Context, sc *StepContext) (Outcome, error) {
	now := sc.Now()
	t, err := sc.Store().LastTaskOfRunTx(ctx, sc.Store().DB(), sc.Run.ID, sc.Index)
	hasTask := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Outcome{}, err
	}
	if sc.Step.When == "" {
		switch {
		case !hasTask:
			return Outcome{Summary: "no task before this step to watch; nothing to escalate"}, nil
		case t.Status == vocab.TaskDone:
			return Outcome{Summary: fmt.Sprintf("task %q was done in time; no escalation", t.Title)}, nil
		case t.DueAt == nil:
			return Outcome{Summary: fmt.Sprintf("task %q has no due date; nothing to escalate", t.Title)}, nil
		case t.SnoozedUntil != nil && t.SnoozedUntil.After(now):
			return Outcome{Status: store.StepWaiting, WaitUntil: *t.SnoozedUntil,
				Summary: fmt.Sprintf("task %q is snoozed; checking again when the snooze ends", t.Title)}, nil
		case t.DueAt.After(now):
			return Outcome{Status: store.StepWaiting, WaitUntil: *t.DueAt,
				Summary: fmt.Sprintf("watching task %q until it is due", t.Title)}, nil
		}
	}
	severity := cmpOr(sc.Step.Severity, "high")
	notifyTo := cmpOr(sc.Step.Notify, sc.Moment.EscalationOwner)
	level := 1
	reason := "the playbook's escalate step: " + cmpOr(sc.Step.Title, sc.Moment.Name)
	if sc.Step.When != "" {
		reason += " (" + sc.Step.When + ")"
	}
	esc := store.Escalation{ID: uuid.NewString(), Key: fmt.Sprintf("step:%s:%d", sc.Run.ID, sc.Index), RunID: sc.Run.ID,
		AccountID: sc.Run.AccountID, MomentID: sc.Run.MomentID, Severity: severity, Reason: reason, Notify: notifyTo,
		CreatedAt: now}
	summary := fmt.Sprintf("escalated (%s) to %s", severity, cmpOr(notifyTo, "the owner team's lead"))
	if hasTask && t.Status != vocab.TaskDone {
		esc.TaskID = t.ID
		level = t.EscalationLevel + 1
		summary = fmt.Sprintf("task %q escalated to level %d (%s); notifying %s", t.Title, level, severity,
			cmpOr(notifyTo, "the owner team's lead"))
		if sc.Step.When == "" {
			esc.Reason = fmt.Sprintf("task %q was not done by its due date %s", t.Title, t.DueAt.Format(time.RFC3339))
		}
	}
	esc.Level = level
	return Outcome{Summary: summary, Writes: func(ctx context.Context, tx *sql.Tx) error {
		_, err := sc.Store().InsertEscalationTx(ctx, tx, esc)
		return err
	}}, nil
}

// severityRank orders severities from low to critical.
func severityRank(s string) int { return slices.Index(journey.Severities, s) }

// checkEmailLimit refuses another email for the run's account once
// EmailsPerAccountPerDay were sent in the last 24 hours.
func (sc *StepContext) checkEmailLimit(ctx context.Context) error {
	limit := sc.e.cfg.EmailsPerAccountPerDay
	n, err := sc.Store().CountAccountSends(ctx, sc.Run.AccountID, "email", store.SendSent, sc.Now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	if n >= limit {
		noun := "emails"
		if limit == 1 {
			noun = "email"
		}
		return Permanentf("not sent: the account reached the limit of %d %s per account per day (EmailsPerAccountPerDay); "+
			"retry the step tomorrow, or raise the limit if this account really needs more", limit, noun)
	}
	return nil
}
