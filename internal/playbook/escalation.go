package playbook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/notify"
	"github.com/moments-cs/moments/internal/store"
)

// Automatic escalation of overdue tasks: an open task past its due date is
// raised to level 1 (severity medium); still open once the moment's SLA
// has passed again after the due date, to level 2 (severity high). Each
// level happens once per task (the escalation's key is unique).
const maxAutoLevel = 2

func (e *Engine) escalateOverdue(ctx context.Context, now time.Time) error {
	tasks, err := e.st.OverdueTasks(ctx, now, maxAutoLevel, 500)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if err := e.escalateTask(ctx, t, now); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) escalateTask(ctx context.Context, t store.Task, now time.Time) error {
	run, err := e.st.RunTx(ctx, e.db, t.RunID)
	if err != nil {
		return err
	}
	m, err := e.journey.Version(ctx, run.MapVersion)
	if err != nil {
		return err
	}
	moment := findMoment(m, t.MomentID)
	level, severity := 1, "medium"
	reason := fmt.Sprintf("task %q was not done by its due date %s", t.Title, t.DueAt.Format(time.RFC3339))
	if t.EscalationLevel >= 1 {
		// Level 2 waits for the SLA to pass once more after the due date.
		if moment == nil || moment.SLA == "" {
			return nil
		}
		d, err := journey.ParseDuration(moment.SLA)
		if err != nil || d.AddTo(*t.DueAt).After(now) {
			return nil
		}
		level, severity = 2, "high"
		reason = fmt.Sprintf("task %q is still not done, %s past its due date (the moment's SLA)", t.Title, moment.SLA)
	}
	if severityRank(t.Severity) > severityRank(severity) {
		severity = t.Severity
	}
	notifyTo := ""
	if moment != nil {
		notifyTo = moment.EscalationOwner
	}
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := e.st.InsertEscalationTx(ctx, tx, store.Escalation{ID: uuid.NewString(), Key: fmt.Sprintf("sla:%s:%d", t.ID, level),
		TaskID: t.ID, RunID: t.RunID, AccountID: t.AccountID, MomentID: t.MomentID, Level: level, Severity: severity,
		Reason: reason, Notify: notifyTo, CreatedAt: now}); err != nil {
		return err
	}
	return tx.Commit()
}

func findMoment(m *journey.Map, id string) *journey.Moment {
	for i := range m.Moments {
		if m.Moments[i].ID == id {
			return &m.Moments[i]
		}
	}
	return nil
}

// notifyEscalations tells the escalation owner of each pending escalation,
// by email when email is configured and the owner resolves to an address.
// Escalations are leased, so two server processes do not notify the same
// one; the email's Message-ID is derived from the escalation, so a repeat
// after a crash is recognisable.
func (e *Engine) notifyEscalations(ctx context.Context) error {
	now := e.now()
	// The lease is on the real clock: it guards against another process,
	// not against the test clock.
	escs, err := e.st.ClaimEscalations(ctx, now, now.Add(5*time.Minute), 100)
	if err != nil {
		return err
	}
	for _, esc := range escs {
		label, addr, err := e.escalationOwner(ctx, esc)
		if err != nil {
			return err
		}
		if addr == "" || e.mailer == nil {
			why := "shown in Moments"
			if addr != "" {
				why += "; email is not configured"
			}
			if err := e.st.FinishEscalation(ctx, esc.ID, store.EscalationNotified, label+" ("+why+")", "", now); err != nil {
				return err
			}
			continue
		}
		sendErr := e.sendEscalationEmail(ctx, esc, label, addr)
		status, msg := store.EscalationNotified, ""
		if sendErr != nil {
			status, msg = store.EscalationPending, sendErr.Error()
			var ee *notify.EmailError
			if errors.As(sendErr, &ee) && !ee.Temporary {
				status = store.EscalationFailed
			}
			e.log.Warn("escalation notice not sent", "escalation", esc.ID, "to", addr, "err", sendErr)
		}
		if err := e.st.FinishEscalation(ctx, esc.ID, status, label+" <"+addr+">", msg, e.now()); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) sendEscalationEmail(ctx context.Context, esc store.Escalation, label, addr string) error {
	key := "escalation:" + esc.ID + ":" + strings.ToLower(addr)
	if prev, err := e.st.SendByKey(ctx, key); err == nil && prev.Status == store.SendSent {
		return nil
	}
	a, err := e.st.Account(ctx, esc.AccountID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	name := cmpOr(a.Name, esc.AccountID)
	subject := fmt.Sprintf("[%s] Escalation for %s: %s", strings.ToUpper(esc.Severity), name, esc.MomentID)
	body := fmt.Sprintf("Service recovery needed for %s (moment %s).\n\nWhy: %s\nSeverity: %s (level %d)\n",
		name, esc.MomentID, esc.Reason, esc.Severity, esc.Level)
	if esc.TaskID != "" {
		body += "Task: " + esc.TaskID + "\n"
	}
	if esc.RunID != "" {
		body += "Run: " + esc.RunID + "\n"
	}
	mid := "escalation-" + esc.ID
	ctx, cancel := context.WithTimeout(ctx, notify.DefaultSMTPTimeout)
	defer cancel()
	rec := store.Send{ID: uuid.NewString(), Key: key, RunID: esc.RunID, StepIndex: -1, AccountID: esc.AccountID, Kind: "email",
		Recipient: addr, Subject: subject, MessageID: "<" + mid + ">", CreatedAt: e.now()}
	res, err := e.mailer.Send(ctx, notify.Email{To: notify.Address{Name: label, Email: addr}, Subject: subject, Text: body,
		MessageID: mid, Headers: map[string]string{"X-Moments-Escalation": esc.ID}})
	if err != nil {
		rec.Status, rec.Error = store.SendFailed, err.Error()
		return errors.Join(err, e.st.RecordSend(ctx, rec))
	}
	at := e.now()
	rec.Status, rec.Detail, rec.MessageID, rec.SentAt = store.SendSent, res.ServerReply, res.MessageID, &at
	return e.st.RecordSend(ctx, rec)
}

// escalationOwner resolves who an escalation notifies: the escalate
// step's notify, else the moment's escalation_owner, else the owner team's
// lead. A team id means that team's lead; owner the owner team's lead; csm
// the account's owner; anything else is taken as written. addr is set when
// the result is an email address.
func (e *Engine) escalationOwner(ctx context.Context, esc store.Escalation) (label, addr string, err error) {
	run, err := e.st.RunTx(ctx, e.db, esc.RunID)
	if err != nil {
		return "", "", err
	}
	m, err := e.journey.Version(ctx, run.MapVersion)
	if err != nil {
		return "", "", err
	}
	moment := findMoment(m, esc.MomentID)
	target := esc.Notify
	if target == "" && moment != nil {
		target = moment.EscalationOwner
	}
	if target == "" || target == "owner" {
		if moment == nil {
			return "the moment's owner", "", nil
		}
		target = moment.Owner
	}
	if target == "csm" {
		a, err := e.st.Account(ctx, esc.AccountID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", "", err
		}
		if a.Owner == "" {
			return "the account's CSM (none is set)", "", nil
		}
		target = a.Owner
	}
	for _, t := range m.Teams {
		if t.ID == target {
			label = t.Name + " lead"
			if t.Lead == "" {
				return t.Name + " (no lead is set)", "", nil
			}
			if isAddress(t.Lead) {
				return label, t.Lead, nil
			}
			return t.Lead, "", nil
		}
	}
	if isAddress(target) {
		return target, target, nil
	}
	return target, "", nil
}
