package trigger

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/playbook"
	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
)

// watchedRefresh is how often the set of watched traits is re-read, so a
// trait another process started watching is kept here too.
const watchedRefresh = 10 * time.Second

func keyRole(role string) string {
	r := strings.ToLower(strings.TrimSpace(role))
	if slices.Contains(vocab.KeyRoles, r) {
		return r
	}
	return ""
}

// OnIngest is the ingest hook (store.IngestHook): it runs in the stage
// runner's transaction with committed events stored for the first time,
// so a run it starts commits with the runner's progress past its event
// (exactly once), and a retried event (deduplicated at ingestion) never
// reaches it. Conditions that cannot be evaluated
// count as false; only database errors fail the ingestion.
func (e *Engine) OnIngest(ctx context.Context, tx *sql.Tx, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	c, err := e.current(ctx)
	if err != nil {
		return err
	}
	b := &batch{e: e, c: c, tx: tx, events: events, now: e.now(), evars: map[int]map[string]any{}}
	if err := b.traits(ctx); err != nil {
		return err
	}
	if err := b.keyRoles(ctx); err != nil {
		return err
	}
	if c != nil {
		if err := b.named(ctx); err != nil {
			return err
		}
		if err := b.quadrants(ctx); err != nil {
			return err
		}
	}
	if err := b.personal(ctx); err != nil {
		return err
	}
	return b.launch(ctx)
}

// ManyLauncher is a Launcher that also starts several runs together
// (*playbook.Engine is one): the hook then starts the runs of a batch
// in one go, once it has found them all, instead of one by one.
type ManyLauncher interface {
	LaunchManyTx(ctx context.Context, tx *sql.Tx, rs []playbook.RunRequest) ([]string, error)
}

// launch starts the runs the batch's moments asked for (fire), when the
// launcher starts them together.
func (b *batch) launch(ctx context.Context) error {
	if len(b.launches) == 0 {
		return nil
	}
	st, err := b.e.launcherOf()
	many, ok := st.(ManyLauncher)
	if err != nil || !ok { // the launcher was replaced meanwhile
		for _, r := range b.launches {
			if _, _, err := b.e.start(ctx, b.tx, r); err != nil {
				return err
			}
		}
		return nil
	}
	ids, err := many.LaunchManyTx(ctx, b.tx, b.launches)
	if err != nil {
		return fmt.Errorf("start %d moments: %w", len(b.launches), err)
	}
	b.e.fired.Add(int64(len(ids)))
	b.e.log.Debug("moments started", "runs", len(ids), "asked", len(b.launches))
	return nil
}

// Listens lists the event names that start moments, in the live map or in
// a personal rule (store.ListenedNames): the ingest stages take such
// events ahead of other traffic.
func (e *Engine) Listens(ctx context.Context) ([]string, error) {
	c, err := e.current(ctx)
	if err != nil || c == nil {
		return nil, err
	}
	var out []string
	for name := range c.byEvent {
		out = append(out, name)
	}
	if len(c.bySignal[vocab.SignalLowNPS]) > 0 {
		out = append(out, vocab.EventSurveyResponded)
	}
	byAccount, err := e.accountRules(ctx)
	if err != nil {
		return nil, err
	}
	for _, ls := range byAccount {
		for _, l := range ls {
			out = append(out, l.rule.Events...)
		}
	}
	return out, nil
}

// batch is the trigger work of one ingestion transaction; it reads each
// account, contact and health once.
type batch struct {
	e      *Engine
	c      *compiled
	tx     *sql.Tx
	events []store.Event
	now    time.Time

	evars    map[int]map[string]any
	accounts map[string]store.Account
	contacts map[string]store.Contact
	// health caches each account's stored health; nil value: none yet.
	health map[string]*store.AccountHealth
	// launches are the runs to start once the batch is looked through
	// (launch).
	launches []playbook.RunRequest
}

func (b *batch) eventVars(i int) map[string]any {
	v, ok := b.evars[i]
	if !ok {
		v = eventVars(&b.events[i])
		b.evars[i] = v
	}
	return v
}

// account returns an account as this transaction sees it, read once per
// batch and only when a listener needs it.
func (b *batch) account(ctx context.Context, id string) (store.Account, bool, error) {
	if b.accounts == nil {
		b.accounts = map[string]store.Account{}
	}
	if a, ok := b.accounts[id]; ok {
		return a, a.ID != "", nil
	}
	m, err := b.e.st.AccountsByIDTx(ctx, b.tx, []string{id})
	if err != nil {
		return store.Account{}, false, err
	}
	b.accounts[id] = m[id]
	return m[id], m[id].ID != "", nil
}

// contact returns a contact, read once per batch.
func (b *batch) contact(ctx context.Context, id string) (store.Contact, bool, error) {
	if b.contacts == nil {
		b.contacts = map[string]store.Contact{}
	}
	if c, ok := b.contacts[id]; ok {
		return c, c.ID != "", nil
	}
	m, err := b.e.st.ContactsByIDTx(ctx, b.tx, []string{id})
	if err != nil {
		return store.Contact{}, false, err
	}
	b.contacts[id] = m[id]
	return m[id], m[id].ID != "", nil
}

// prefetch reads, in one statement each, the accounts and contacts of the
// batch's events that listen says may start a moment (and are recent enough
// to), which fire would otherwise read one by one: on PostgreSQL a round
// trip each.
func (b *batch) prefetch(ctx context.Context, listen func(*store.Event) bool) error {
	if b.accounts == nil {
		b.accounts = map[string]store.Account{}
	}
	if b.contacts == nil {
		b.contacts = map[string]store.Contact{}
	}
	var accounts, contacts []string
	seen := map[string]bool{}
	for i := range b.events {
		ev := &b.events[i]
		if ev.Name == "" || ev.AccountID == "" || !listen(ev) || (b.e.maxAge > 0 && b.now.Sub(ev.Timestamp) > b.e.maxAge) {
			continue
		}
		if _, ok := b.accounts[ev.AccountID]; !ok && !seen["a"+ev.AccountID] {
			seen["a"+ev.AccountID] = true
			accounts = append(accounts, ev.AccountID)
		}
		if _, ok := b.contacts[ev.UserID]; ev.UserID != "" && !ok && !seen["c"+ev.UserID] {
			seen["c"+ev.UserID] = true
			contacts = append(contacts, ev.UserID)
		}
	}
	if len(accounts) > 0 {
		m, err := b.e.st.AccountsByIDTx(ctx, b.tx, accounts)
		if err != nil {
			return err
		}
		for _, id := range accounts {
			b.accounts[id] = m[id] // the zero Account: none
		}
	}
	if len(contacts) > 0 {
		m, err := b.e.st.ContactsByIDTx(ctx, b.tx, contacts)
		if err != nil {
			return err
		}
		for _, id := range contacts {
			b.contacts[id] = m[id]
		}
	}
	return nil
}

// healthOf returns an account's health as this transaction sees it (after
// the health hook), read once per batch.
func (b *batch) healthOf(ctx context.Context, account string) (*store.AccountHealth, error) {
	if b.health == nil {
		b.health = map[string]*store.AccountHealth{}
	}
	if h, ok := b.health[account]; ok {
		return h, nil
	}
	h, ok, err := b.e.healthOf(ctx, b.tx, account)
	if err != nil {
		return nil, err
	}
	var hp *store.AccountHealth
	if ok {
		hp = &h
	}
	b.health[account] = hp
	return hp, nil
}

// vars builds the condition variables for an account, a contact and an event.
func (b *batch) vars(ctx context.Context, account, contact string, event int) (rules.Vars, error) {
	v := rules.Vars{Now: b.now, Account: map[string]any{"id": account}}
	h, err := b.healthOf(ctx, account)
	if err != nil {
		return v, err
	}
	if h != nil {
		v.Health = health.Vars(*h, b.now)
	}
	a, ok, err := b.account(ctx, account)
	if err != nil {
		return v, err
	}
	if ok {
		v.Account = accountVars(a)
	}
	if contact != "" {
		c, ok, err := b.contact(ctx, contact)
		if err != nil {
			return v, err
		}
		if ok {
			v.Contact = contactVars(c)
		}
	}
	if event >= 0 {
		v.Event = b.eventVars(event)
	}
	return v, nil
}

// fire evaluates a listener for an account and starts its run when the
// condition holds.
func (b *batch) fire(ctx context.Context, l *listener, account, contact string, event int, occurrence string) error {
	if account == "" {
		return nil
	}
	if event >= 0 && b.e.maxAge > 0 && b.now.Sub(b.events[event].Timestamp) > b.e.maxAge {
		return nil // history (Options.MaxEventAge): it informs health and reports, it starts no moment
	}
	vars, err := b.vars(ctx, account, contact, event)
	if err != nil {
		return err
	}
	if !b.e.eval(ctx, l.when, vars, l.moment.ID) {
		return nil
	}
	r := playbook.RunRequest{AccountID: account, MomentID: l.moment.ID, Occurrence: occurrence,
		MapVersion: b.c.version, Trigger: l.category, ContactID: contact}
	if l.rule != nil {
		r.Trigger, r.StartedBy = journey.CategoryCSM, l.rule.CreatedBy
	}
	if event >= 0 {
		r.EventID, r.OccurredAt = b.events[event].ID, b.events[event].Timestamp
	}
	if st, err := b.e.launcherOf(); err == nil {
		if _, many := st.(ManyLauncher); many {
			// Started with the batch's other runs (launch); a request the
			// engine would refuse is logged and skipped, as start does.
			if err := r.Validate(); err != nil {
				b.e.log.Warn("run not started: the playbook engine refused it", "account", r.AccountID, "moment", r.MomentID,
					"occurrence", r.Occurrence, "err", err)
				return nil
			}
			b.launches = append(b.launches, r)
			return nil
		}
	}
	_, _, err = b.e.start(ctx, b.tx, r)
	return err
}

// watchedTraits returns the watched traits (kind\x00trait), making sure the
// live map's lifecycle and date traits are among them.
func (b *batch) watchedTraits(ctx context.Context, groups []int) (map[string]bool, error) {
	e := b.e
	e.watchMu.Lock()
	defer e.watchMu.Unlock()
	if e.watched == nil || b.now.Sub(e.watchedAt) > watchedRefresh || b.now.Before(e.watchedAt) {
		w, err := e.st.WatchedTraitsTx(ctx, b.tx)
		if err != nil {
			return nil, err
		}
		e.watched, e.watchedAt = w, b.now
	}
	if b.c == nil {
		return e.watched, nil
	}
	var skip map[string]bool
	need := func(trait, kind string, value func(map[string]any) (string, bool)) error {
		if e.watched[kind+"\x00"+trait] {
			return nil
		}
		if skip == nil {
			// The accounts of this batch's group calls already hold the new
			// values; seeding them would hide the change being handled.
			skip = map[string]bool{}
			for _, i := range groups {
				skip[b.events[i].AccountID] = true
			}
		}
		if _, err := e.st.WatchTraitTx(ctx, b.tx, trait, kind, skip, value); err != nil {
			return err
		}
		e.watched[kind+"\x00"+trait] = true
		return nil
	}
	for _, t := range b.c.valueTraits {
		if err := need(t, store.WatchValue, func(m map[string]any) (string, bool) {
			v := traitText(m[t])
			return v, v != ""
		}); err != nil {
			return nil, err
		}
	}
	for _, t := range b.c.dateTraits {
		if err := need(t, store.WatchDate, func(m map[string]any) (string, bool) {
			v := traitDate(m[t])
			return v, v != ""
		}); err != nil {
			return nil, err
		}
	}
	return e.watched, nil
}

// traits keeps the watched traits of accounts from group calls and fires
// the lifecycle moments whose trait entered or left a value.
func (b *batch) traits(ctx context.Context) error {
	var groups []int
	for i := range b.events {
		if b.events[i].Type == "group" && b.events[i].AccountID != "" {
			groups = append(groups, i)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	watched, err := b.watchedTraits(ctx, groups)
	if err != nil {
		return err
	}
	var valueTraits, dateTraits []string
	for k := range watched {
		kind, trait, _ := strings.Cut(k, "\x00")
		if kind == store.WatchDate {
			dateTraits = append(dateTraits, trait)
		} else {
			valueTraits = append(valueTraits, trait)
		}
	}
	slices.Sort(valueTraits)
	slices.Sort(dateTraits)
	sent := make(map[int]map[string]any, len(groups))
	for _, i := range groups {
		m := map[string]any{}
		_ = json.Unmarshal(b.events[i].Properties, &m)
		sent[i] = m
	}
	for _, trait := range valueTraits {
		var accts []string
		for _, i := range groups {
			if _, ok := sent[i][trait]; ok {
				accts = append(accts, b.events[i].AccountID)
			}
		}
		if len(accts) == 0 {
			continue
		}
		last, err := b.e.st.TraitValuesTx(ctx, b.tx, trait, accts)
		if err != nil {
			return err
		}
		changed := map[string]bool{}
		var order []string
		for _, i := range groups {
			v, ok := sent[i][trait]
			if !ok {
				continue
			}
			acct := b.events[i].AccountID
			nv, ov := traitText(v), last[acct]
			if nv == ov {
				continue
			}
			last[acct] = nv
			if !changed[acct] {
				changed[acct] = true
				order = append(order, acct)
			}
			if b.c == nil {
				continue
			}
			for _, l := range b.c.byTrait[trait] {
				t := l.moment.Trigger
				if t.Leave != "" && ov == t.Leave {
					if err := b.fire(ctx, l, acct, b.events[i].UserID, i, "leave:"+ov+":"+strconv.FormatInt(b.events[i].ID, 10)); err != nil {
						return err
					}
				}
				if t.Enter != "" && nv == t.Enter {
					if err := b.fire(ctx, l, acct, b.events[i].UserID, i, "enter:"+nv+":"+strconv.FormatInt(b.events[i].ID, 10)); err != nil {
						return err
					}
				}
			}
		}
		if err := b.e.st.SetTraitValuesTx(ctx, b.tx, trait, order, last); err != nil {
			return err
		}
	}
	for _, trait := range dateTraits {
		dates := map[string]string{}
		var order []string
		for _, i := range groups {
			v, ok := sent[i][trait]
			if !ok {
				continue
			}
			acct := b.events[i].AccountID
			if _, seen := dates[acct]; !seen {
				order = append(order, acct)
			}
			dates[acct] = traitDate(v)
		}
		if err := b.e.st.SetDateTraitsTx(ctx, b.tx, trait, order, dates); err != nil {
			return err
		}
	}
	return nil
}

// keyRoles keeps who holds a key role (sponsor, champion) at which account
// and fires sponsor_change when a key contact changes role or leaves the
// account (or the company). Gaining a key role fires nothing: an account's
// key contacts arriving is its setup, and a replacement follows a departure
// that already fired.
func (b *batch) keyRoles(ctx context.Context) error {
	lastEvent := map[string]int{}
	var ids []string
	for i := range b.events {
		ev := &b.events[i]
		if ev.UserID == "" || (ev.Type != "identify" && ev.Type != "group") {
			continue
		}
		if _, ok := lastEvent[ev.UserID]; !ok {
			ids = append(ids, ev.UserID)
		}
		lastEvent[ev.UserID] = i
	}
	if len(ids) == 0 {
		return nil
	}
	old, err := b.e.st.KeyRolesTx(ctx, b.tx, ids)
	if err != nil {
		return err
	}
	// Only contacts that hold or may have gained a key role need reading.
	var check []string
	for _, id := range ids {
		if _, ok := old[id]; ok || bytes.Contains(bytes.ToLower(b.events[lastEvent[id]].Properties), []byte(`"role"`)) ||
			b.events[lastEvent[id]].Type == "group" {
			check = append(check, id)
		}
	}
	if len(check) == 0 {
		return nil
	}
	now, err := b.e.st.ContactsByIDTx(ctx, b.tx, check)
	if err != nil {
		return err
	}
	var listeners []*listener
	if b.c != nil {
		listeners = b.c.bySignal[vocab.SignalSponsorChange]
	}
	// The roles that changed are written together once the moments they
	// start are started (fire reads no key role).
	var changed []string
	roles := map[string]store.KeyRole{}
	for _, id := range check {
		c, ok := now[id]
		if !ok {
			continue
		}
		was := old[id]
		is := store.KeyRole{AccountID: c.AccountID, Role: keyRole(c.Role)}
		if is.Role == "" || is.AccountID == "" {
			is = store.KeyRole{}
		}
		if was == is {
			continue
		}
		changed, roles[id] = append(changed, id), is
		i := lastEvent[id]
		occ := "sponsor_change:" + id + ":" + strconv.FormatInt(b.events[i].ID, 10)
		if was.AccountID == "" {
			continue // a new key contact: nothing changed for any account
		}
		for _, l := range listeners {
			if err := b.fire(ctx, l, was.AccountID, id, i, occ); err != nil {
				return err
			}
		}
	}
	return b.e.st.SetKeyRolesTx(ctx, b.tx, changed, roles)
}

// named fires the moments listening to each event's name, and low_nps.
func (b *batch) named(ctx context.Context) error {
	lowNPS := b.c.bySignal[vocab.SignalLowNPS]
	if err := b.prefetch(ctx, func(ev *store.Event) bool {
		return len(b.c.byEvent[ev.Name]) > 0 || (ev.Name == vocab.EventSurveyResponded && len(lowNPS) > 0)
	}); err != nil {
		return err
	}
	for i := range b.events {
		ev := &b.events[i]
		if ev.Name == "" || ev.AccountID == "" {
			continue
		}
		ls := b.c.byEvent[ev.Name]
		if ev.Name == vocab.EventSurveyResponded && len(lowNPS) > 0 && isLowNPS(ev.Properties) {
			ls = append(slices.Clip(ls), lowNPS...)
		}
		occ := "evt:" + strconv.FormatInt(ev.ID, 10)
		for _, l := range ls {
			if err := b.fire(ctx, l, ev.AccountID, ev.UserID, i, occ); err != nil {
				return err
			}
		}
	}
	return nil
}

// isLowNPS reports an NPS answer of 0–6 (a detractor).
func isLowNPS(props json.RawMessage) bool {
	var p struct {
		Kind  string `json:"kind"`
		Score any    `json:"score"`
	}
	if json.Unmarshal(props, &p) != nil || !strings.EqualFold(p.Kind, "nps") {
		return false
	}
	var score float64
	switch s := p.Score.(type) {
	case float64:
		score = s
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return false
		}
		score = f
	default:
		return false
	}
	return score >= 0 && score <= 6
}

// quadrants fires quadrant_drop when this batch moved an account's health
// quadrant to a worse one (health.Worse): the health hook, registered
// before this one, records the move in the same transaction.
func (b *batch) quadrants(ctx context.Context) error {
	ls := b.c.bySignal[vocab.SignalQuadrantDrop]
	if len(ls) == 0 {
		return nil
	}
	last := map[string]int{}
	var order []string
	for i := range b.events {
		if a := b.events[i].AccountID; a != "" {
			if _, ok := last[a]; !ok {
				order = append(order, a)
			}
			last[a] = i
		}
	}
	moves, err := b.e.st.QuadrantMovesTx(ctx, b.tx, order)
	if err != nil {
		return err
	}
	for _, m := range moves {
		if !health.Worse(health.Quadrant(m.From), health.Quadrant(m.To)) {
			continue
		}
		i := last[m.AccountID]
		occ := "quadrant_drop:" + m.From + "-" + m.To + ":v" + strconv.FormatInt(m.Version, 10)
		for _, l := range ls {
			if err := b.fire(ctx, l, m.AccountID, b.events[i].UserID, i, occ); err != nil {
				return err
			}
		}
	}
	return nil
}

// personal evaluates the personal rules of the batch's accounts.
func (b *batch) personal(ctx context.Context) error {
	byAccount, err := b.e.accountRules(ctx)
	if err != nil || len(byAccount) == 0 {
		return err
	}
	if b.c == nil {
		return nil
	}
	for i := range b.events {
		ev := &b.events[i]
		for _, l := range byAccount[ev.AccountID] {
			r := l.rule
			if _, ok := b.c.moments[r.MomentID]; !ok || l.sched != nil {
				continue
			}
			switch {
			case len(r.Events) > 0:
				if slices.Contains(r.Events, ev.Name) {
					if err := b.fire(ctx, l, ev.AccountID, ev.UserID, i, "rule:"+r.ID+":evt:"+strconv.FormatInt(ev.ID, 10)); err != nil {
						return err
					}
				}
			default:
				// A condition-only rule starts its moment once, the first
				// time its condition holds.
				if _, done := b.e.firedRules.Load(r.ID); done {
					continue
				}
				vars, err := b.vars(ctx, ev.AccountID, ev.UserID, i)
				if err != nil {
					return err
				}
				if !b.e.eval(ctx, l.when, vars, r.MomentID) {
					continue
				}
				id, started, err := b.e.start(ctx, b.tx, playbook.RunRequest{AccountID: ev.AccountID, MomentID: r.MomentID,
					Occurrence: "rule:" + r.ID, MapVersion: b.c.version, Trigger: journey.CategoryCSM,
					ContactID: ev.UserID, EventID: ev.ID, StartedBy: r.CreatedBy, OccurredAt: ev.Timestamp})
				if err != nil {
					return err
				}
				if id != "" && !started {
					// The run exists and is committed: stop evaluating the
					// rule. (A run started in this transaction is not
					// remembered, since the transaction may still fail.)
					b.e.firedRules.Store(r.ID, true)
				}
			}
		}
	}
	return nil
}
