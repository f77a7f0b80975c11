package trigger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/store"
)

// Errors of the manual and vendor starts.
var (
	ErrUnknownMoment  = errors.New("moment is not in the live journey map")
	ErrUnknownAccount = errors.New("account does not exist")
	// ErrConditionNotMet means a csm moment's `when` does not hold for the
	// account, so it was not started.
	ErrConditionNotMet = errors.New("the moment's condition does not hold for this account")
)

// InputError is a request that cannot be accepted; Field names the bad field.
type InputError struct {
	Field   string
	Message string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

// rulesRefresh is how often personal rules are re-read (they may be added
// on another server process).
const rulesRefresh = 2 * time.Second

// ManualStart is a person starting a moment for one account.
type ManualStart struct {
	Note      string
	StartedBy string
	// IdempotencyKey makes a retried request harmless: the same key never
	// starts a second run of the moment for the account.
	IdempotencyKey string
}

// Started says what a start did.
type Started struct {
	RunID      string `json:"run_id"`
	Started    bool   `json:"started"`
	AccountID  string `json:"account"`
	MomentID   string `json:"moment"`
	Occurrence string `json:"occurrence"`
	MapVersion int    `json:"map_version"`
	Note       string `json:"note,omitempty"`
}

// StartMoment starts a moment for one account by hand (the csm category).
// Any moment of the live map can be started this way; a csm moment's `when`
// must hold.
func (e *Engine) StartMoment(ctx context.Context, accountID, momentID string, o ManualStart) (Started, error) {
	c, err := e.current(ctx)
	if err != nil {
		return Started{}, err
	}
	if c == nil {
		return Started{}, journey.ErrNoMap
	}
	l, ok := c.moments[momentID]
	if !ok {
		return Started{}, ErrUnknownMoment
	}
	a, err := e.st.Account(ctx, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return Started{}, ErrUnknownAccount
	}
	if err != nil {
		return Started{}, err
	}
	if l.category == journey.CategoryCSM && l.when != nil {
		now := e.now()
		hv, err := e.healthVars(ctx, e.st.Reader(), accountID, now)
		if err != nil {
			return Started{}, err
		}
		if !e.eval(ctx, l.when, rules.Vars{Account: accountVars(a), Health: hv, Now: now}, momentID) {
			return Started{}, ErrConditionNotMet
		}
	}
	key := strings.TrimSpace(o.IdempotencyKey)
	if key == "" {
		key = uuid.NewString()
	}
	r := playbook.RunRequest{AccountID: accountID, MomentID: momentID, Occurrence: "csm:" + key,
		MapVersion: c.version, Trigger: journey.CategoryCSM, StartedBy: o.StartedBy}
	st, err := e.launcherOf()
	if err != nil {
		return Started{}, err
	}
	id, started, err := st.Launch(ctx, r)
	if err != nil {
		return Started{}, err
	}
	if started {
		e.fired.Add(1)
	}
	return Started{RunID: id, Started: started, AccountID: accountID, MomentID: momentID, Occurrence: r.Occurrence,
		MapVersion: c.version, Note: o.Note}, nil
}

// RuleInput is a personal rule a CSM attaches to one account: start a
// moment on events (with an optional condition), when a condition first
// holds, or on a schedule.
type RuleInput struct {
	Moment    string            `json:"moment"`
	Events    []string          `json:"events"`
	When      string            `json:"when"`
	Schedule  *journey.Schedule `json:"schedule"`
	Note      string            `json:"note"`
	CreatedBy string            `json:"-"`
}

// AddRule validates and stores a personal rule for one account.
func (e *Engine) AddRule(ctx context.Context, accountID string, in RuleInput) (store.AccountRule, error) {
	c, err := e.current(ctx)
	if err != nil {
		return store.AccountRule{}, err
	}
	if c == nil {
		return store.AccountRule{}, journey.ErrNoMap
	}
	if _, err := e.st.Account(ctx, accountID); errors.Is(err, store.ErrNotFound) {
		return store.AccountRule{}, ErrUnknownAccount
	} else if err != nil {
		return store.AccountRule{}, err
	}
	switch {
	case in.Moment == "":
		return store.AccountRule{}, &InputError{"moment", "moment is required: the id of the moment the rule starts"}
	case c.moments[in.Moment] == nil:
		return store.AccountRule{}, &InputError{"moment", fmt.Sprintf("moment %q is not in the live journey map", in.Moment)}
	}
	hasSchedule := in.Schedule != nil && *in.Schedule != (journey.Schedule{})
	if len(in.Events) == 0 && in.When == "" && !hasSchedule {
		return store.AccountRule{}, &InputError{"when", "a rule needs a condition (when), events, or a schedule"}
	}
	if len(in.Events) > 0 && hasSchedule {
		return store.AccountRule{}, &InputError{"schedule", "a rule starts on events or on a schedule, not both"}
	}
	for i, ev := range in.Events {
		if strings.TrimSpace(ev) == "" {
			return store.AccountRule{}, &InputError{fmt.Sprintf("events[%d]", i), "event name is empty"}
		}
	}
	if in.When != "" {
		if _, err := rules.Compile(in.When); err != nil {
			return store.AccountRule{}, &InputError{"when", "the condition does not compile: " + err.Error()}
		}
	}
	r := store.AccountRule{ID: uuid.NewString(), AccountID: accountID, MomentID: in.Moment, Events: in.Events,
		When: in.When, Note: in.Note, CreatedBy: in.CreatedBy, CreatedAt: e.now()}
	if hasSchedule {
		if _, err := parseSchedule(*in.Schedule); err != nil {
			return store.AccountRule{}, &InputError{"schedule", err.Error()}
		}
		r.RelativeTo, r.Offset, r.Every = in.Schedule.RelativeTo, in.Schedule.Offset, in.Schedule.Every
	}
	if err := e.st.CreateAccountRule(ctx, r); err != nil {
		return store.AccountRule{}, err
	}
	e.rulesMu.Lock()
	e.rulesAt = time.Time{} // reload on next use
	e.rulesMu.Unlock()
	return r, nil
}

// Rules lists an account's personal rules.
func (e *Engine) Rules(ctx context.Context, accountID string) ([]store.AccountRule, error) {
	return e.st.AccountRules(ctx, accountID)
}

// DeleteRule removes a personal rule.
func (e *Engine) DeleteRule(ctx context.Context, accountID, id string) error {
	if err := e.st.DeleteAccountRule(ctx, accountID, id); err != nil {
		return err
	}
	e.rulesMu.Lock()
	e.rulesAt = time.Time{}
	e.rulesMu.Unlock()
	return nil
}

// accountRules returns the compiled personal rules by account, re-read when
// another process changed them.
func (e *Engine) accountRules(ctx context.Context) (map[string][]*listener, error) {
	e.rulesMu.Lock()
	defer e.rulesMu.Unlock()
	now := time.Now()
	if e.rules != nil && now.Sub(e.rulesAt) < rulesRefresh {
		return e.rules, nil
	}
	v, err := e.st.AccountRulesVersion(ctx)
	if err != nil {
		return nil, err
	}
	e.rulesAt = now
	if e.rules != nil && v == e.rulesVersion {
		return e.rules, nil
	}
	all, err := e.st.AccountRules(ctx, "")
	if err != nil {
		return nil, err
	}
	out := map[string][]*listener{}
	for i := range all {
		r := &all[i]
		var s *journey.Schedule
		if r.RelativeTo != "" || r.Every != "" {
			s = &journey.Schedule{RelativeTo: r.RelativeTo, Offset: r.Offset, Every: r.Every}
		}
		l, err := compileListener(&journey.Moment{ID: r.MomentID}, r.When, s)
		if err != nil {
			e.log.Warn("personal rule skipped", "rule", r.ID, "account", r.AccountID, "err", err)
			continue
		}
		l.category, l.rule = journey.CategoryCSM, r
		out[r.AccountID] = append(out[r.AccountID], l)
	}
	e.rules, e.rulesVersion = out, v
	return out, nil
}

// scheduledRules lists the personal rules with a schedule.
func (e *Engine) scheduledRules(ctx context.Context) ([]*listener, error) {
	byAccount, err := e.accountRules(ctx)
	if err != nil {
		return nil, err
	}
	var out []*listener
	for _, ls := range byAccount {
		for _, l := range ls {
			if l.sched != nil {
				out = append(out, l)
			}
		}
	}
	slices.SortFunc(out, func(a, b *listener) int { return strings.Compare(a.rule.ID, b.rule.ID) })
	return out, nil
}
