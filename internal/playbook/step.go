package playbook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/notify"
	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/store"
)

// StepRunner carries out one kind of playbook step. The engine calls Run
// for each activation of a step: once, or twice for a step that waits
// (StepContext.Wake says why it woke). Run must be safe to repeat after a
// crash: database effects belong in Outcome.Writes, which commit with the
// step's outcome exactly once; effects outside the database (email,
// webhooks) must carry an identity stable across attempts.
type StepRunner interface {
	Run(ctx context.Context, sc *StepContext) (Outcome, error)
}

// StepRunnerFunc adapts a function to StepRunner.
type StepRunnerFunc func(ctx context.Context, sc *StepContext) (Outcome, error)

// Run calls f.
func (f StepRunnerFunc) Run(ctx context.Context, sc *StepContext) (Outcome, error) { return f(ctx, sc) }

var runners = struct {
	sync.RWMutex
	m map[string]StepRunner
}{m: map[string]StepRunner{}}

// RegisterStep makes the engine run steps of kind with r. Built-in kinds
// register themselves; a new kind (such as survey) registers its runner
// here and its validator with journey.RegisterStepKind, without touching
// the engine. Registering a kind again replaces its runner.
func RegisterStep(kind string, r StepRunner) {
	runners.Lock()
	defer runners.Unlock()
	runners.m[kind] = r
}

// StepKinds lists the kinds the engine can run, sorted.
func StepKinds() []string {
	runners.RLock()
	defer runners.RUnlock()
	return slices.Sorted(maps.Keys(runners.m))
}

func runnerFor(kind string) (StepRunner, bool) {
	runners.RLock()
	defer runners.RUnlock()
	r, ok := runners.m[kind]
	return r, ok
}

func init() {
	RegisterStep(journey.StepTask, StepRunnerFunc(runTask))
	RegisterStep(journey.StepEmail, StepRunnerFunc(runEmail))
	RegisterStep(journey.StepWebhook, StepRunnerFunc(runWebhook))
	RegisterStep(journey.StepWait, StepRunnerFunc(runWait))
	RegisterStep(journey.StepBranch, StepRunnerFunc(runBranch))
	RegisterStep(journey.StepEscalate, StepRunnerFunc(runEscalate))
}

// Outcome is what a step activation did.
type Outcome struct {
	// Status is done (the default), skipped, or waiting.
	Status string
	// Summary says what happened, for the run's history.
	Summary string
	// Next overrides where the run goes: a step id or "end". Empty means
	// the step's next, or the following step.
	Next string
	// WaitUntil, with Status waiting, is when the step wakes (zero: only
	// an event wakes it); WaitEvent is the event name that wakes it early.
	WaitUntil time.Time
	WaitEvent string
	// Writes are the step's database effects; they commit in the same
	// transaction as the outcome, so they happen exactly once.
	Writes func(ctx context.Context, tx *sql.Tx) error
}

// permanentError is a failure that retrying will not fix: the step is
// marked failed at once (it can still be retried from the API once the
// cause is fixed).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying will not fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Permanentf is Permanent(fmt.Errorf(...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// StepContext is what a runner sees of its step, its run and the engine.
type StepContext struct {
	Run    store.Run
	Row    store.RunStep
	Step   journey.Step
	Index  int
	Key    string
	Map    *journey.Map
	Moment *journey.Moment
	// Attempt counts attempts of this activation, from 1.
	Attempt int
	// Wake is why a waiting step runs again: "elapsed", "timeout",
	// "event"; empty on the first activation ("retry" after a retry from
	// the API).
	Wake string
	e    *Engine

	account *store.Account
	contact *store.Contact
}

// Now is the engine's clock.
func (sc *StepContext) Now() time.Time { return sc.e.now() }

// Store is the database.
func (sc *StepContext) Store() *store.Store { return sc.e.st }

// Mailer is the SMTP mailer, nil when email is not configured.
func (sc *StepContext) Mailer() *notify.Mailer { return sc.e.mailer }

// Sender posts webhooks.
func (sc *StepContext) Sender() *notify.Sender { return sc.e.sender }

// WebhookSecret signs webhooks; empty when none is configured.
func (sc *StepContext) WebhookSecret() []byte { return []byte(sc.e.cfg.WebhookSecret) }

// Account returns the run's account.
func (sc *StepContext) Account(ctx context.Context) (store.Account, error) {
	if sc.account == nil {
		a, err := sc.e.st.Account(ctx, sc.Run.AccountID)
		if errors.Is(err, store.ErrNotFound) {
			a = store.Account{ID: sc.Run.AccountID}
		} else if err != nil {
			return a, err
		}
		sc.account = &a
	}
	return *sc.account, nil
}

// Contact returns the run's contact; ok is false when the run has none.
func (sc *StepContext) Contact(ctx context.Context) (store.Contact, bool, error) {
	if sc.Run.ContactID == "" {
		return store.Contact{}, false, nil
	}
	if sc.contact == nil {
		c, err := sc.e.st.Contact(ctx, sc.Run.ContactID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Contact{}, false, nil
		} else if err != nil {
			return c, false, err
		}
		sc.contact = &c
	}
	return *sc.contact, true, nil
}

// AccountVars is the account as conditions and templates see it: its
// traits plus id, name, plan, segment, owner, lifecycle_stage, arr and
// renewal_date.
func AccountVars(a store.Account) map[string]any {
	m := map[string]any{}
	maps.Copy(m, a.Traits)
	m["id"] = a.ID
	set := func(k string, v any, zero bool) {
		if _, ok := m[k]; !ok && !zero {
			m[k] = v
		}
	}
	set("name", a.Name, a.Name == "")
	set("plan", a.Plan, a.Plan == "")
	set("segment", a.Segment, a.Segment == "")
	set("owner", a.Owner, a.Owner == "")
	set("lifecycle_stage", a.LifecycleStage, a.LifecycleStage == "")
	set("arr", a.ARR, a.ARR == 0)
	set("renewal_date", a.RenewalDate, a.RenewalDate == "")
	return m
}

// ContactVars is the contact as conditions and templates see it.
func ContactVars(c store.Contact) map[string]any {
	m := map[string]any{}
	maps.Copy(m, c.Traits)
	m["id"] = c.ID
	if c.Email != "" {
		m["email"] = c.Email
	}
	if c.Role != "" {
		m["role"] = c.Role
	}
	return m
}

// Vars are the variables of a condition evaluated for this step: the
// account, the contact, health, and the event that woke the step or, if
// none, the one that started the run.
func (sc *StepContext) Vars(ctx context.Context) (rules.Vars, error) {
	v := rules.Vars{Now: sc.Now()}
	a, err := sc.Account(ctx)
	if err != nil {
		return v, err
	}
	v.Account = AccountVars(a)
	if c, ok, err := sc.Contact(ctx); err != nil {
		return v, err
	} else if ok {
		v.Contact = ContactVars(c)
	}
	if sc.e.health != nil {
		if v.Health, err = sc.e.health(ctx, sc.Run.AccountID); err != nil {
			return v, err
		}
	}
	eventID := sc.Run.EventID
	if sc.Row.WakeEventID != 0 {
		eventID = sc.Row.WakeEventID
	}
	if eventID != 0 {
		ev, err := sc.e.st.Event(ctx, eventID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return v, err
		}
		if err == nil {
			v.Event = eventVars(ev)
		}
	}
	return v, nil
}

func eventVars(ev store.Event) map[string]any {
	m := map[string]any{"id": ev.ID, "name": ev.Name, "type": ev.Type, "message_id": ev.MessageID,
		"user_id": ev.UserID, "account_id": ev.AccountID, "timestamp": ev.Timestamp}
	var props, ctx map[string]any
	if json.Unmarshal(ev.Properties, &props) == nil {
		m["properties"] = props
	}
	if json.Unmarshal(ev.Context, &ctx) == nil {
		m["context"] = ctx
	}
	return m
}

// Condition evaluates a CEL condition for this step. A condition that
// reads a missing key does not hold.
func (sc *StepContext) Condition(ctx context.Context, expr string) (bool, error) {
	p, err := rules.Compile(expr)
	if err != nil {
		return false, Permanentf("condition %q does not compile: %v", expr, err)
	}
	vars, err := sc.Vars(ctx)
	if err != nil {
		return false, err
	}
	ok, err := p.Eval(ctx, vars)
	if errors.Is(err, rules.ErrMissingKey) {
		return false, nil
	}
	if err != nil {
		return false, Permanentf("condition %q: %v", expr, err)
	}
	return ok, nil
}

// stepKey names a step in the run's history and the API: its id, or its
// position in the playbook from 1.
func stepKey(s journey.Step, index int) string {
	if s.ID != "" {
		return s.ID
	}
	return strconv.Itoa(index + 1)
}

// indexOf returns the index of the step a jump names, len(playbook) for
// "end" or past the last step.
func indexOf(playbook []journey.Step, target string, from int) (int, error) {
	if target == "" {
		return from + 1, nil
	}
	if target == journey.StepEnd {
		return len(playbook), nil
	}
	for i, s := range playbook {
		if s.ID == target {
			if i <= from {
				return 0, Permanentf("step %q jumps back to %q; jumps only go forward", stepKey(playbook[from], from), target)
			}
			return i, nil
		}
	}
	return 0, Permanentf("step %q jumps to %q, which is not a step of this playbook", stepKey(playbook[from], from), target)
}
